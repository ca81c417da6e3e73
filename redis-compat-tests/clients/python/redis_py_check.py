#!/usr/bin/env python3
"""redis-py, used the way applications use it, against a Redis-protocol server.

    python3 redis_py_check.py HOST PORT

Connects with redis-py's default handshake (RESP3: HELLO 3, CLIENT SETINFO), then checks
strings, MULTI/EXEC (and WATCH) and a stream job queue with consumer groups: XGROUP CREATE
MKSTREAM, a producer, consumers on XREADGROUP (one blocked until the producer adds a job), XACK,
a job left unacknowledged and recovered by another consumer with XAUTOCLAIM, XPENDING and
XINFO. Every expected value is what redis-server 7.0 answers through redis-py: the script must
pass against a real redis-server too.

Exits 0 and prints "ok" when every check passed; exits 1 with the first mismatch otherwise.
Keys are prefixed with a per-run tag, so runs do not see each other's data.
"""

import os
import sys
import threading
import time
import traceback

import redis

LIB = f"redis-py {redis.__version__}"


class Mismatch(Exception):
    pass


def eq(what, got, want):
    if got != want:
        raise Mismatch(f"{what}: expected {want!r}, got {got!r}")


def check(what, cond, detail=""):
    if not cond:
        raise Mismatch(f"{what}{': ' + detail if detail else ''}")


def expect_error(what, fn, needle):
    try:
        got = fn()
    except redis.ResponseError as e:
        check(f"{what}: error text", needle in str(e), f"{needle!r} not in {str(e)!r}")
        return
    raise Mismatch(f"{what}: expected an error containing {needle!r}, got {got!r}")


def wait_until(what, pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Mismatch(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def client(host, port, name):
    # Everything at its default except decode_responses (str instead of bytes) and a name, so
    # CLIENT LIST can tell the connections apart. The default protocol of redis-py 8 is RESP3.
    return redis.Redis(
        host=host, port=port, decode_responses=True, client_name=name, socket_timeout=20
    )


def check_handshake(r):
    eq("PING", r.ping(), True)
    conn = r.connection_pool.get_connection()
    try:
        eq("protocol redis-py negotiated", conn.protocol, 3)
        hello = conn.handshake_metadata
        check("HELLO 3 reply is a map", isinstance(hello, dict), repr(hello))
        eq("HELLO proto", hello.get("proto"), 3)
        check("HELLO has server and version", "server" in hello and "version" in hello, repr(hello))
    finally:
        r.connection_pool.release(conn)
    eq("CLIENT GETNAME (set during the handshake)", r.client_getname(), "py-main")
    info = r.info("server")
    check("INFO server has redis_version", "redis_version" in info, repr(sorted(info)))
    eq("ECHO", r.echo("hello"), "hello")


def check_strings(r, p):
    k, n = f"{p}:str", f"{p}:n"
    eq("SET", r.set(k, "v1"), True)
    eq("GET", r.get(k), "v1")
    eq("SET NX on an existing key", r.set(k, "v2", nx=True), None)
    eq("SET XX EX", r.set(k, "v2", xx=True, ex=100), True)
    ttl = r.ttl(k)
    check("TTL after SET EX 100", 0 < ttl <= 100, repr(ttl))
    eq("GET after SET XX", r.get(k), "v2")
    eq("INCR", r.incr(n), 1)
    eq("INCRBY", r.incrby(n, 41), 42)
    eq("MGET", r.mget([k, n, f"{p}:missing"]), ["v2", "42", None])
    eq("binary-safe value", r.set(f"{p}:bin", "a\r\nb\x00c"), True)
    eq("binary-safe GET", r.get(f"{p}:bin"), "a\r\nb\x00c")
    eq("DEL", r.delete(k, n, f"{p}:bin"), 3)
    eq("EXISTS after DEL", r.exists(k), 0)
    eq("GET of a missing key", r.get(k), None)


def check_transactions(r, other, p):
    ka, kc, ks = f"{p}:tx:a", f"{p}:tx:c", f"{p}:tx:s"
    pipe = r.pipeline(transaction=True)
    pipe.set(ka, "a").incr(kc).incrby(kc, 10).get(ka).xadd(ks, {"f": "v"}, id="1-1").xlen(ks)
    eq("MULTI/EXEC replies", pipe.execute(), [True, 1, 11, "a", "1-1", 1])

    # A command that fails inside EXEC fails alone; the others run.
    kb = f"{p}:tx:b"
    pipe = r.pipeline(transaction=True)
    pipe.set(kb, "x").incr(kb).get(kb)
    res = pipe.execute(raise_on_error=False)
    eq("EXEC with a failing command: reply count", len(res), 3)
    eq("EXEC with a failing command: SET", res[0], True)
    check(
        "EXEC with a failing command: INCR is an error",
        isinstance(res[1], redis.ResponseError) and "not an integer" in str(res[1]),
        repr(res[1]),
    )
    eq("EXEC with a failing command: GET", res[2], "x")

    # WATCH: optimistic locking through redis-py's transaction() helper. Another client writes
    # the watched key during the first attempt, so EXEC aborts and the helper retries.
    kw = f"{p}:tx:w"
    r.set(kw, "1")
    attempts = []

    def bump(pipe):
        attempts.append(1)
        cur = int(pipe.get(kw))
        if len(attempts) == 1:
            other.set(kw, "100")
        pipe.multi()
        pipe.set(kw, str(cur + 1))

    res = r.transaction(bump, kw)
    eq("WATCH: attempts (first EXEC aborted)", len(attempts), 2)
    eq("WATCH: EXEC replies of the retry", res, [True])
    eq("WATCH: value", r.get(kw), "101")
    r.delete(ka, kb, kc, ks, kw)


def check_stream_queue(host, port, r, p):
    s, g, n_jobs = f"{p}:jobs", "workers", 10
    producer = r
    alice = client(host, port, "py-alice")
    bob = client(host, port, "py-bob")
    carol = client(host, port, "py-carol")
    dave = client(host, port, "py-dave")

    eq("XGROUP CREATE MKSTREAM", r.xgroup_create(s, g, id="0", mkstream=True), True)
    eq("XLEN of the stream MKSTREAM made", r.xlen(s), 0)
    expect_error("XGROUP CREATE of an existing group", lambda: r.xgroup_create(s, g), "BUSYGROUP")

    def job(i):
        return {"job": str(i), "payload": f"work-{i}"}

    ids = [producer.xadd(s, job(i)) for i in range(n_jobs)]
    check("XADD * IDs increase", ids == sorted(ids, key=lambda x: tuple(map(int, x.split("-")))))
    check("XADD * IDs are distinct", len(set(ids)) == n_jobs, repr(ids))
    eq("XLEN after the producer", r.xlen(s), n_jobs)

    def read(c, consumer, count=None, block=None, start=">"):
        return c.xreadgroup(g, consumer, {s: start}, count=count, block=block)

    def entries(i, j):
        return [[s, [(ids[k], job(k)) for k in range(i, j)]]]

    eq("alice XREADGROUP COUNT 4 >", read(alice, "alice", 4), entries(0, 4))
    eq("bob XREADGROUP COUNT 4 >", read(bob, "bob", 4), entries(4, 8))
    eq("alice XREADGROUP COUNT 4 > (the rest)", read(alice, "alice", 4), entries(8, 10))
    eq("XREADGROUP > with nothing new", read(bob, "bob", 4), [])
    eq("XREADGROUP BLOCK 100 > times out", read(bob, "bob", 4, block=100), [])

    # carol blocks for new jobs; the producer adds one once she is blocked.
    result = {}

    def blocked_read():
        try:
            result["reply"] = read(carol, "carol", 10, block=15000)
        except Exception as e:  # reported by the main thread
            result["error"] = e

    t = threading.Thread(target=blocked_read)
    t.start()

    def carol_blocked():
        return any(
            c.get("name") == "py-carol" and c.get("cmd") == "xreadgroup"
            for c in r.client_list()
        )

    wait_until("carol's XREADGROUP BLOCK to be blocked (CLIENT LIST cmd=xreadgroup)", carol_blocked)
    check("carol returned before the producer added a job", "reply" not in result, repr(result))
    ids.append(producer.xadd(s, job(10)))
    t.join(20)
    check("carol's blocked XREADGROUP returned", not t.is_alive())
    if "error" in result:
        raise Mismatch(f"carol's blocked XREADGROUP failed: {result['error']!r}")
    eq("carol XREADGROUP BLOCK woken by XADD", result["reply"], entries(10, 11))

    # Acknowledge everything but job 3, which alice "crashes" on.
    eq("alice XACK", alice.xack(s, g, *(ids[i] for i in (0, 1, 2, 8, 9))), 5)
    eq("bob XACK", bob.xack(s, g, *ids[4:8]), 4)
    eq("carol XACK", carol.xack(s, g, ids[10]), 1)
    eq("XACK of an acknowledged ID", bob.xack(s, g, ids[4]), 0)

    eq(
        "XPENDING summary",
        r.xpending(s, g),
        {"pending": 1, "min": ids[3], "max": ids[3], "consumers": [{"name": "alice", "pending": 1}]},
    )
    pend = r.xpending_range(s, g, "-", "+", 100)
    eq("XPENDING - + 100: entries", len(pend), 1)
    eq("XPENDING: ID", pend[0]["message_id"], ids[3])
    eq("XPENDING: consumer", pend[0]["consumer"], "alice")
    eq("XPENDING: delivery count", pend[0]["times_delivered"], 1)
    eq("XPENDING for bob", r.xpending_range(s, g, "-", "+", 100, consumername="bob"), [])

    # alice re-reads her own pending history (ID 0), as a worker does after a restart.
    eq("alice XREADGROUP 0 (her pending entries)", read(alice, "alice", start="0"), entries(3, 4))
    eq(
        "XPENDING delivery count after re-reading",
        r.xpending_range(s, g, "-", "+", 100)[0]["times_delivered"],
        2,
    )

    # dave recovers jobs idle for long enough.
    eq(
        "XAUTOCLAIM with a long min-idle-time claims nothing",
        dave.xautoclaim(s, g, "dave", min_idle_time=3_600_000, start_id="0-0", count=10),
        ["0-0", [], []],
    )
    wait_until(
        "job 3 to be idle for 50 ms",
        lambda: r.xpending_range(s, g, "-", "+", 100)[0]["time_since_delivered"] >= 50,
    )
    eq(
        "XAUTOCLAIM min-idle-time 50",
        dave.xautoclaim(s, g, "dave", min_idle_time=50, start_id="0-0", count=10),
        ["0-0", [(ids[3], job(3))], []],
    )
    pend = r.xpending_range(s, g, "-", "+", 100)
    eq("XPENDING after XAUTOCLAIM: owner", [(e["message_id"], e["consumer"]) for e in pend], [(ids[3], "dave")])
    eq("XPENDING after XAUTOCLAIM: delivery count", pend[0]["times_delivered"], 3)
    eq("alice's pending history after the claim", read(alice, "alice", start="0"), [[s, []]])
    eq("dave XACK", dave.xack(s, g, ids[3]), 1)
    eq(
        "XPENDING summary when all is acknowledged",
        r.xpending(s, g),
        {"pending": 0, "min": None, "max": None, "consumers": []},
    )

    eq(
        "XINFO GROUPS",
        r.xinfo_groups(s),
        [
            {
                "name": g,
                "consumers": 4,
                "pending": 0,
                "last-delivered-id": ids[10],
                "entries-read": 11,
                "lag": 0,
            }
        ],
    )
    consumers = r.xinfo_consumers(s, g)
    eq(
        "XINFO CONSUMERS names and pending counts",
        [(c["name"], c["pending"]) for c in consumers],
        [("alice", 0), ("bob", 0), ("carol", 0), ("dave", 0)],
    )
    check("XINFO CONSUMERS has idle", all(isinstance(c.get("idle"), int) for c in consumers), repr(consumers))
    info = r.xinfo_stream(s)
    eq("XINFO STREAM length", info["length"], 11)
    eq("XINFO STREAM groups", info["groups"], 1)
    eq("XINFO STREAM last-generated-id", info["last-generated-id"], ids[10])
    eq("XINFO STREAM first-entry", info["first-entry"], (ids[0], job(0)))
    eq("XINFO STREAM last-entry", info["last-entry"], (ids[10], job(10)))

    eq("DEL the stream", r.delete(s), 1)
    for c in (alice, bob, carol, dave):
        c.close()


def main():
    if len(sys.argv) != 3:
        print(f"usage: {sys.argv[0]} HOST PORT", file=sys.stderr)
        return 2
    host, port = sys.argv[1], int(sys.argv[2])
    prefix = f"clients:py:{os.getpid()}:{time.time_ns()}"
    step = "connect"
    try:
        r = client(host, port, "py-main")
        other = client(host, port, "py-other")
        step = "handshake"
        check_handshake(r)
        step = "strings"
        check_strings(r, prefix)
        step = "transactions"
        check_transactions(r, other, prefix)
        step = "stream job queue"
        check_stream_queue(host, port, r, prefix)
        r.close()
        other.close()
    except Mismatch as e:
        print(f"FAIL [{LIB}] {step}: {e}", file=sys.stderr)
        return 1
    except Exception as e:
        traceback.print_exc()
        print(f"FAIL [{LIB}] {step}: unexpected {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"ok [{LIB}] handshake, strings, transactions, stream job queue against {host}:{port}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
