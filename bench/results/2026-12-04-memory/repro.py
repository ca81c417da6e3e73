# Memory measurements of bench/results/2026-12-04-memory.md.
# usage: python3 repro.py <sluice binary> <port> <pending entries> <cases: a, b, c>
import socket, subprocess, sys, time, os, shutil

BIN = sys.argv[1]
PORT = int(sys.argv[2])
N = int(sys.argv[3]) if len(sys.argv) > 3 else 2_000_000
WHICH = sys.argv[4] if len(sys.argv) > 4 else "abc"
D = f"/tmp/sluice-memory-{PORT}"
shutil.rmtree(D, ignore_errors=True); os.makedirs(D)
p = subprocess.Popen([BIN, "--port", str(PORT), "--dir", D, "--loglevel", "warning"])

def rss():
    for l in open(f"/proc/{p.pid}/status"):
        if l.startswith("VmRSS:"): return int(l.split()[1]) // 1024
def enc(*a):
    out = [b"*%d\r\n" % len(a)]
    for x in a:
        x = x if isinstance(x, bytes) else str(x).encode()
        out.append(b"$%d\r\n" % len(x)); out.append(x); out.append(b"\r\n")
    return b"".join(out)

class C:
    def __init__(s):
        for _ in range(100):
            try: s.s = socket.create_connection(("127.0.0.1", PORT)); break
            except OSError: time.sleep(0.1)
        s.f = s.s.makefile("rb", buffering=1 << 20)
    def read(s):
        l = s.f.readline()
        t = l[:1]
        if t in b"+-:": return l[1:-2]
        if t == b"$":
            n = int(l[1:-2])
            if n < 0: return None
            d = s.f.read(n + 2); return d[:-2]
        if t == b"*":
            n = int(l[1:-2]); return [s.read() for _ in range(max(n, 0))]
        raise Exception(l)
    def skip(s):
        # reads one reply without building it
        l = s.f.readline(); t = l[:1]
        if t == b"$":
            n = int(l[1:-2])
            if n >= 0: s.f.read(n + 2)
        elif t == b"*":
            for _ in range(max(int(l[1:-2]), 0)): s.skip()
    def cmd(s, *a):
        s.s.sendall(enc(*a)); return s.read()
    def info(s, sec="memory"):
        r = s.cmd("INFO", sec).decode()
        return dict(l.split(":", 1) for l in r.split("\r\n") if ":" in l)

c = C()
def mem(label, c=c):
    i = c.info()
    print(f"{label:40s} rss={rss():6d} MB  used_memory={int(i.get('used_memory',0))>>20} MB  peak={int(i.get('used_memory_peak',0))>>20} MB", flush=True)
def idle(label, secs=5):
    time.sleep(secs); mem(label + f" +{secs}s idle")

mem("start")
if "a" in WHICH:
    t = time.time()
    B = 10000
    for i in range(0, N, B):
        c.s.sendall(b"".join(enc("XADD", "s", "*", "f", "v%010d" % j) for j in range(i, i + B)))
        for _ in range(B): c.read()
    print(f"XADD {N}: {time.time()-t:.1f}s", flush=True)
    mem(f"after {N} XADD")
    c.cmd("XGROUP", "CREATE", "s", "g", "0")
    t = time.time()
    while True:
        c.s.sendall(enc("XREADGROUP", "GROUP", "g", "c", "COUNT", 50000, "STREAMS", "s", ">"))
        l = c.f.readline()
        if l.startswith(b"*-1") or l.startswith(b"_"): break
        # one stream
        c.f.readline(); c.skip()  # [name, entries]
        l2 = c.f.readline()
        n = int(l2[1:-2])
        for _ in range(n): c.skip()
        if n == 0: break
    print(f"XREADGROUP into PEL: {time.time()-t:.1f}s", flush=True)
    print("XPENDING", c.cmd("XPENDING", "s", "g")[0], flush=True)
    mem("after PEL")
    idle("after PEL")
    c.cmd("FLUSHALL")
    mem("after FLUSHALL")
    idle("after FLUSHALL")
    idle("after FLUSHALL", 10)
    print("MEMORY PURGE", c.cmd("MEMORY", "PURGE")); mem("after MEMORY PURGE")
if "b" in WHICH:
    big = b"x" * (512 << 20)
    c2 = C()
    c2.s.sendall(enc("ECHO", big)); c2.skip()
    mem("after 512MB ECHO (client open)")
    c2.f.close(); c2.s.close(); time.sleep(0.2)
    mem("after 512MB ECHO, client closed")
    idle("after ECHO")
    c.cmd("SET", "big", big); mem("after 512MB SET")
    c.cmd("DEL", "big"); mem("after DEL big")
    idle("after DEL big")
    del big
    print("MEMORY PURGE", c.cmd("MEMORY", "PURGE")); mem("after MEMORY PURGE")
if "c" in WHICH:
    # a stream whose XRANGE reply is ~30 MB: 300k entries with a 64-byte value
    B = 10000
    val = "v" * 64
    for i in range(0, 300_000, B):
        c.s.sendall(b"".join(enc("XADD", "r", "*", "f", val) for j in range(B)))
        for _ in range(B): c.read()
    mem("after 300k XADD r")
    c.s.sendall(enc("XRANGE", "r", "-", "+")); c.skip(); mem("after one XRANGE (~30 MB)")
    idle("after one XRANGE")
    c.s.sendall(b"".join(enc("XRANGE", "r", "-", "+") for _ in range(50)))
    for _ in range(50): c.skip()
    mem("after 50 pipelined XRANGE")
    idle("after pipelined XRANGE")
    print("MEMORY PURGE", c.cmd("MEMORY", "PURGE")); mem("after MEMORY PURGE")
p.terminate(); p.wait()
shutil.rmtree(D, ignore_errors=True)
