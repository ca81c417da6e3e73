import sys, time
sys.argv = [sys.argv[0], sys.argv[1], "7464", "0", "-"]
exec(open(__import__("os").path.join(__import__("os").path.dirname(__file__), "repro.py")).read().split("mem(\"start\")")[0])
def st():
    r = c.cmd("MEMORY", "STATS"); d = dict(zip(r[::2], r[1::2]))
    return {k.decode(): d[k] for k in d if k in (b"sluice.keydir.bytes", b"total.allocated", b"sluice.memtables.bytes", b"keys.count")}
N = int(sys.argv[2]) if len(sys.argv) > 2 else 1000000
mem("start")
B = 10000
for i in range(0, 1_000_000, B):
    c.s.sendall(b"".join(enc("SET", "key:%d" % j, "v") for j in range(i, i + B)))
    for _ in range(B): c.read()
mem("after 1M SET"); print(st())
c.cmd("FLUSHALL"); mem("after FLUSHALL"); print(st())
time.sleep(3); mem("+3s")
c.cmd("MEMORY", "PURGE"); mem("after PURGE")
p.terminate(); p.wait()
