#!/usr/bin/env python3
"""pydisque, used the way applications use it, against a Disque-protocol server.

    python3 pydisque_check.py HOST PORT

PORT is a Disque port: a real disque-server's, or Sluice's `--disque-port` listener (where a
bare HELLO is Disque's). pydisque's `Client.connect()` sends Disque's bare HELLO and takes the
node ID from its reply; then, with pydisque's normal API, the script checks: add_job with its
options (retry, ttl, delay, maxlen, replicate, asynchronous) and the job IDs it returns, get_job
(count, nohang, timeout, withcounters, several queues, a consumer blocked until a producer adds
a job), ack_job, nack_job, fast_ack, working, del_job, enqueue, dequeue, show, qlen, qpeek,
qstat, qscan, jscan, pause, info, Disque's error replies, and the server-side timers: a job
requeued after its RETRY, a job released after its DELAY, a job deleted after its TTL.

Every expected value is what Disque 1.0-rc1 answers through pydisque: the script must pass
against a real disque-server too. Queue names carry a per-run prefix, so runs can share a
server. Waits are on events (a blocking GETJOB, QSTAT's count of blocked clients, polling SHOW
for the TTL), never fixed sleeps.

Exits 0 and prints "ok" when every check passed; exits 1 with the first mismatch otherwise.
"""

import logging
import os
import re
import sys
import threading
import time
import traceback

import pydisque
import redis
from pydisque.client import Client

# pydisque retries a command that got an error reply (three tries) and logs each error with a
# traceback through the root logger; the expected errors below would flood the output.
logging.disable(logging.CRITICAL)

try:
    from importlib.metadata import version as _dist_version

    _PYDISQUE_VERSION = _dist_version("pydisque")
except Exception:  # pragma: no cover
    _PYDISQUE_VERSION = getattr(pydisque, "__version__", "?")
LIB = f"pydisque {_PYDISQUE_VERSION}, redis-py {redis.__version__}"

# Disque 1.0-rc1's job ID: "D-", 8 hex digits of the node ID, "-", 24 characters of base64
# (144 random bits), "-", 4 hex digits: the TTL in minutes with its lowest bit set for
# at-least-once (RETRY > 0) jobs and cleared for at-most-once (RETRY 0) ones.
JOB_ID = re.compile(rb"^D-([0-9a-f]{8})-[A-Za-z0-9+/]{24}-([0-9a-f]{4})$")

SHOW_FIELDS = [
    b"id",
    b"queue",
    b"state",
    b"repl",
    b"ttl",
    b"ctime",
    b"delay",
    b"retry",
    b"nacks",
    b"additional-deliveries",
    b"nodes-delivered",
    b"nodes-confirmed",
    b"next-requeue-within",
    b"next-awake-within",
    b"body",
]


class Mismatch(Exception):
    pass


def eq(what, got, want):
    if got != want:
        raise Mismatch(f"{what}: expected {want!r}, got {got!r}")


def check(what, cond, detail=""):
    if not cond:
        raise Mismatch(f"{what}{': ' + detail if detail else ''}")


def expect_error(what, fn, text):
    """`fn` must fail with exactly Disque's error `text` (without the leading '-')."""
    try:
        got = fn()
    except redis.ResponseError as e:
        eq(f"{what}: error", str(e), text)
        return
    raise Mismatch(f"{what}: expected the error {text!r}, got {got!r}")


def wait_until(what, pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Mismatch(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def check_ttl(what, show, full):
    """SHOW's ttl is the job's remaining time to live in seconds: `full`, or a little less when
    a second went by since ADDJOB."""
    got = show.get(b"ttl")
    check(what, isinstance(got, int) and full - 10 <= got <= full, f"{got!r}, added with {full}")


def connect(host, port):
    c = Client([f"{host}:{port}"])
    c.connect()
    return c


def b(s):
    return s.encode() if isinstance(s, str) else s


def check_job_id(what, jid, node_id, ttl_minutes, at_least_once):
    check(f"{what}: a job ID is bytes", isinstance(jid, bytes), repr(jid))
    m = JOB_ID.match(jid)
    check(f"{what}: job ID format", m is not None, repr(jid))
    eq(f"{what}: job ID's node prefix", m.group(1), node_id[:8])
    tail = int(m.group(2), 16)
    eq(f"{what}: job ID's TTL nibble (odd: at-least-once)", tail & 1, 1 if at_least_once else 0)
    eq(f"{what}: job ID's TTL in minutes", tail >> 1, ttl_minutes >> 1)


def check_connect(c, port):
    node = c.connected_node
    check("connect: a node", node is not None)
    node_id = node.node_id
    check("HELLO node ID: 40 lowercase hex digits", re.fullmatch(rb"[0-9a-f]{40}", node_id or b"")
          is not None, repr(node_id))
    eq("hello()", c.hello(), [1, node_id, [node_id, b"", str(port).encode(), b"1"]])
    return node_id


def check_add_show(c, node_id, p):
    q = p + "add"
    a = c.add_job(q, "job a")  # defaults: TTL 1 day, RETRY TTL/10 clamped to 300 s
    check_job_id("add_job defaults", a, node_id, 1440, True)
    r0 = c.add_job(q, "job b", retry=0)
    check_job_id("add_job retry=0", r0, node_id, 1440, False)
    t = c.add_job(q, b"job c \x00\r\n\xff", retry=7, ttl=3600, replicate=1)
    check_job_id("add_job retry=7 ttl=3600", t, node_id, 60, True)
    s = c.add_job(q, "job d", ttl=100, asynchronous=True)
    check_job_id("add_job ttl=100 asynchronous", s, node_id, 1, True)
    eq("qlen", c.qlen(q), 4)

    show = c.show(t, return_dict=True)
    eq("show fields", list(show.keys()), SHOW_FIELDS)
    now_ns = time.time_ns()
    check("show ctime: nanoseconds, now", abs(show[b"ctime"] - now_ns) < 60 * 10**9, repr(show))
    nrw = show[b"next-requeue-within"]
    check("show next-requeue-within (ms, within RETRY)", isinstance(nrw, int)
          and 0 < nrw <= 8000, repr(nrw))
    check("show next-awake-within", isinstance(show[b"next-awake-within"], int), repr(show))
    check_ttl("show ttl", show, 3600)
    for k in (b"ctime", b"next-requeue-within", b"next-awake-within", b"ttl"):
        del show[k]
    eq("show (RETRY 7, TTL 3600)", show, {
        b"id": t, b"queue": b(q), b"state": b"queued", b"repl": 1, b"delay": 0,
        b"retry": 7, b"nacks": 0, b"additional-deliveries": 0, b"nodes-delivered": [node_id],
        b"nodes-confirmed": [], b"body": b"job c \x00\r\n\xff",
    })
    sa = c.show(a, return_dict=True)
    check_ttl("show defaults: ttl", sa, 86400)
    eq("show defaults: retry", sa[b"retry"], 300)
    eq("show retry=0: next-requeue-within", c.show(r0, return_dict=True)[b"next-requeue-within"],
       None)
    ss = c.show(s, return_dict=True)
    check_ttl("show ttl=100: ttl", ss, 100)
    eq("show ttl=100: retry", ss[b"retry"], 10)
    eq("show (list form) starts", c.show(a)[:4], [b"id", a, b"queue", b(q)])

    eq("qpeek 2", c.qpeek(q, 2), [[b(q), a, b"job a"], [b(q), r0, b"job b"]])
    eq("qpeek -1 (newest)", c.qpeek(q, -1), [[b(q), s, b"job d"]])
    eq("qpeek 0", c.qpeek(q, 0), [])
    qs = c.qstat(q, return_dict=True)
    check("qstat age, idle: integers", isinstance(qs.get(b"age"), int)
          and isinstance(qs.get(b"idle"), int), repr(qs))
    del qs[b"age"], qs[b"idle"]
    eq("qstat", qs, {b"name": b(q), b"len": 4, b"blocked": 0, b"import-from": [],
                     b"import-rate": 0, b"jobs-in": 4, b"jobs-out": 0, b"pause": b"none"})
    eq("qstat of an unknown queue", c.qstat(p + "nosuchqueue"), None)
    eq("qlen of an unknown queue", c.qlen(p + "nosuchqueue"), 0)
    eq("qpeek of an unknown queue", c.qpeek(p + "nosuchqueue", 5), [])

    # Errors, with Disque's texts.
    expect_error("add_job replicate=2 on one node", lambda: c.add_job(q, "x", replicate=2),
                 "NOREPL Not enough reachable nodes for the requested replication level")
    expect_error("add_job maxlen=4 to a queue of 4", lambda: c.add_job(q, "x", maxlen=4),
                 "MAXLEN Queue is already longer than the specified MAXLEN count")
    expect_error("add_job delay > ttl", lambda: c.add_job(q, "x", ttl=2, delay=5),
                 # redis-py drops the "ERR " prefix of an error reply.
                 "The specified DELAY is greater than TTL. Job refused since would never be "
                 "delivered")
    mx = c.add_job(q, "job e", maxlen=5)
    eq("qlen after add_job maxlen=5", c.qlen(q), 5)
    expect_error("ack_job of a malformed ID", lambda: c.ack_job("not-a-job-id"),
                 "BADID Invalid Job ID format.")
    expect_error("show of a malformed ID", lambda: c.show("D-1234"),
                 "BADID Invalid Job ID format.")
    eq("del_job", c.del_job(mx), 1)
    eq("del_job again", c.del_job(mx), 0)
    eq("show of a deleted job", c.show(mx), None)
    expect_error("working on a deleted job", lambda: c.working(mx),
                 "NOJOB Job not known in the context of this node.")
    eq("del_job of the rest", c.del_job(a, r0, t, s), 4)
    eq("qlen after del_job", c.qlen(q), 0)


def check_get_ack_nack(c, p):
    q = p + "work"
    ids = [c.add_job(q, f"w{i}", retry=30) for i in range(4)]
    eq("get_job nohang count=2 withcounters", c.get_job([q], nohang=True, count=2,
                                                        withcounters=True),
       [(b(q), ids[0], b"w0", 0, 0), (b(q), ids[1], b"w1", 0, 0)])
    eq("qlen after get_job", c.qlen(q), 2)
    eq("show state of a delivered job", c.show(ids[0], return_dict=True)[b"state"], b"active")
    eq("working", c.working(ids[0]), 30)
    eq("get_job (default count 1)", c.get_job([q]), [(b(q), ids[2], b"w2")])

    eq("nack_job", c.nack_job(ids[1]), None)
    eq("qlen after nack_job", c.qlen(q), 2)
    got = c.get_job([q], count=10, nohang=True, withcounters=True)
    # A NACKed job goes back to its place in the queue (queues are ordered by creation time).
    eq("get_job after nack_job", got, [(b(q), ids[1], b"w1", 1, 0), (b(q), ids[3], b"w3", 0, 0)])
    eq("show nacks", c.show(ids[1], return_dict=True)[b"nacks"], 1)

    eq("ack_job", c.ack_job(ids[0], ids[1]), None)
    eq("show of an acknowledged job", c.show(ids[0]), None)
    eq("ack_job again (unknown IDs are fine)", c.ack_job(ids[0]), None)
    eq("fast_ack", c.fast_ack(ids[2], ids[3]), None)
    eq("show after fast_ack", [c.show(i) for i in ids[2:]], [None, None])
    eq("get_job nohang on an empty queue", c.get_job([q], nohang=True), [])
    t0 = time.monotonic()
    eq("get_job timeout=100 on an empty queue", c.get_job([q], timeout=100), [])
    check("get_job timeout=100 waited", time.monotonic() - t0 >= 0.09)

    # Several queues: the first non-empty ones, in the order given.
    q1, q2, q3 = p + "from1", p + "from2", p + "from3"
    j2 = c.add_job(q2, "in q2")
    j3 = c.add_job(q3, "in q3")
    eq("get_job from several queues", c.get_job([q1, q2, q3], count=5, nohang=True),
       [(b(q2), j2, b"in q2"), (b(q3), j3, b"in q3")])
    c.ack_job(j2, j3)

    # dequeue / enqueue
    d = c.add_job(q, "dq", retry=30)
    eq("dequeue", c.dequeue(d), 1)
    eq("dequeue again", c.dequeue(d), 0)
    eq("qlen after dequeue", c.qlen(q), 0)
    eq("state after dequeue", c.show(d, return_dict=True)[b"state"], b"active")
    eq("enqueue", c.enqueue(d), 1)
    eq("enqueue again", c.enqueue(d), 0)
    eq("qlen after enqueue", c.qlen(q), 1)
    eq("state after enqueue", c.show(d, return_dict=True)[b"state"], b"queued")
    eq("del_job", c.del_job(d), 1)


def check_pause(c, p):
    q = p + "paused"
    eq("pause in", c.pause(q, kw_in=True), b"in")
    eq("pause state", c.pause(q, kw_state=True), b"in")
    expect_error("add_job to a queue paused in input", lambda: c.add_job(q, "x"),
                 "PAUSED Queue paused in input, try later")
    eq("pause out (replaces in)", c.pause(q, kw_out=True), b"out")
    j = c.add_job(q, "x")
    eq("qlen of a queue paused in output", c.qlen(q), 1)
    eq("get_job nohang from a queue paused in output", c.get_job([q], nohang=True), [])
    eq("qstat pause", c.qstat(q, return_dict=True)[b"pause"], b"out")
    eq("pause all", c.pause(q, kw_all=True), b"all")
    eq("pause none", c.pause(q, kw_none=True), b"none")
    eq("get_job after pause none", c.get_job([q], nohang=True), [(b(q), j, b"x")])
    c.ack_job(j)


def check_scans(c, p):
    qa, qb = p + "scan:a", p + "scan:b"
    a = [c.add_job(qa, f"a{i}") for i in range(3)]
    bb = [c.add_job(qb, "b0")]

    def mine(queues):
        return sorted(x for x in queues if x.startswith(b(p + "scan:")))

    # A full iteration, a page at a time (the cursor is opaque; it ends at 0).
    seen, cursor, rounds = [], 0, 0
    while True:
        reply = c.qscan(cursor=cursor, count=1)
        check("qscan reply: [cursor, [queues]]", isinstance(reply, list) and len(reply) == 2
              and isinstance(reply[1], list), repr(reply))
        seen += reply[1]
        cursor = int(reply[0])
        rounds += 1
        check("qscan ends", rounds < 10000)
        if cursor == 0:
            break
    eq("qscan pages", mine(seen), [b(qa), b(qb)])
    eq("qscan busyloop minlen=2", mine(c.qscan(busyloop=True, minlen=2)[1]), [b(qa)])
    eq("qscan busyloop maxlen=1", mine(c.qscan(busyloop=True, maxlen=1)[1]), [b(qb)])
    eq("qscan busyloop reply", c.qscan(busyloop=True, minlen=2)[0], b"0")

    seen, cursor, rounds = [], 0, 0
    while True:
        reply = c.jscan(cursor=cursor, count=1, queue=qa)
        seen += reply[1]
        cursor = int(reply[0])
        rounds += 1
        check("jscan ends", rounds < 10000)
        if cursor == 0:
            break
    eq("jscan queue= pages", sorted(seen), sorted(a))
    eq("jscan queue= busyloop", sorted(c.jscan(busyloop=True, queue=qb)[1]), bb)
    got = c.get_job([qa])
    eq("get_job", got, [(b(qa), a[0], b"a0")])
    eq("jscan state=active", c.jscan(busyloop=True, queue=qa, state=["active"])[1], [a[0]])
    eq("jscan state=queued", sorted(c.jscan(busyloop=True, queue=qa, state=["queued"])[1]),
       sorted(a[1:]))
    eq("jscan state=queued state=active",
       sorted(c.jscan(busyloop=True, queue=qa, state=["queued", "active"])[1]), sorted(a))
    full = c.jscan(busyloop=True, queue=qb, reply="all")
    eq("jscan reply=all: one job", len(full[1]), 1)
    as_dict = dict(zip(full[1][0][0::2], full[1][0][1::2]))
    show = c.show(bb[0], return_dict=True)
    check_ttl("jscan reply=all ttl", as_dict, 86400)
    for k in (b"next-requeue-within", b"next-awake-within", b"ttl"):
        as_dict.pop(k, None)
        show.pop(k, None)
    eq("jscan reply=all is SHOW's reply", as_dict, show)
    eq("jscan reply=id", c.jscan(busyloop=True, queue=qb, reply="id")[1], bb)
    c.ack_job(*a, *bb)


def blocked_on(c, q):
    # qstat(q, return_dict=True) raises TypeError while the queue does not exist (QSTAT
    # answers nil then, and pydisque groups the reply without looking): take the list.
    reply = c.qstat(q)
    return None if reply is None else dict(zip(reply[0::2], reply[1::2])).get(b"blocked")


def check_blocking(host, port, c, p):
    q = p + "blocking"
    consumer = connect(host, port)
    result = {}

    def consume():
        try:
            result["jobs"] = consumer.get_job([q], timeout=20000)
        except Exception as e:  # reported by the main thread
            result["error"] = e

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    # QSTAT counts the clients blocked on a queue: add the job once the consumer is waiting.
    wait_until("the consumer blocked in GETJOB (QSTAT blocked 1)",
               lambda: blocked_on(c, q) == 1)
    j = c.add_job(q, "wake up")
    t.join(25)
    check("the blocked consumer returned", not t.is_alive())
    if "error" in result:
        raise result["error"]
    eq("the blocked consumer's get_job", result["jobs"], [(b(q), j, b"wake up")])
    eq("qstat blocked after", c.qstat(q, return_dict=True)[b"blocked"], 0)
    c.ack_job(j)


def check_timers(c, p):
    """RETRY requeues and DELAY releases, waited for with blocking GETJOBs; TTL deletes."""
    qr, qd, qt = p + "retry", p + "delay", p + "ttl"
    # The TTL job goes first: it expires while the others run.
    t = c.add_job(qt, "short-lived", ttl=1)
    check_job_id("add_job ttl=1", t, c.connected_node.node_id, 0, True)

    r = c.add_job(qr, "requeue me", retry=1)
    eq("get_job", c.get_job([qr]), [(b(qr), r, b"requeue me")])
    eq("qlen while delivered", c.qlen(qr), 0)
    got = c.get_job([qr], timeout=10000, withcounters=True)
    eq("get_job of the job requeued after RETRY 1", got, [(b(qr), r, b"requeue me", 0, 1)])
    eq("show additional-deliveries", c.show(r, return_dict=True)[b"additional-deliveries"], 1)
    c.ack_job(r)

    started = time.monotonic()
    d = c.add_job(qd, "later", delay=1)
    eq("qlen while delayed", c.qlen(qd), 0)
    eq("show delay", c.show(d, return_dict=True)[b"delay"], 1)
    eq("get_job nohang while delayed", c.get_job([qd], nohang=True), [])
    eq("get_job of the job released after DELAY 1", c.get_job([qd], timeout=10000),
       [(b(qd), d, b"later")])
    waited = time.monotonic() - started
    check("the DELAY held the job back", waited >= 0.4, f"released after {waited:.3f}s")
    c.ack_job(d)

    wait_until("the TTL 1 job to be deleted", lambda: c.show(t) is None)
    eq("qlen after the TTL", c.qlen(qt), 0)


def check_info(c):
    info = c.info()
    check("info(): a dict", isinstance(info, dict), repr(type(info)))
    for k in ("registered_jobs", "registered_queues"):
        check(f"info {k}", isinstance(info.get(k), int), repr(info.get(k)))


def main():
    if len(sys.argv) != 3:
        print(f"usage: {sys.argv[0]} HOST PORT", file=sys.stderr)
        return 2
    host, port = sys.argv[1], int(sys.argv[2])
    prefix = f"clients:pydisque:{os.getpid()}:{time.time_ns()}:"
    step = "connect"
    try:
        c = connect(host, port)
        node_id = check_connect(c, port)
        step = "add_job, show, qpeek, qstat, errors"
        check_add_show(c, node_id, prefix)
        step = "get_job, ack_job, nack_job, fast_ack, enqueue, dequeue"
        check_get_ack_nack(c, prefix)
        step = "pause"
        check_pause(c, prefix)
        step = "qscan, jscan"
        check_scans(c, prefix)
        step = "blocking get_job"
        check_blocking(host, port, c, prefix)
        step = "timers (retry, delay, ttl)"
        check_timers(c, prefix)
        step = "info"
        check_info(c)
    except Mismatch as e:
        print(f"FAIL [{LIB}] {step}: {e}", file=sys.stderr)
        return 1
    except Exception as e:
        traceback.print_exc()
        print(f"FAIL [{LIB}] {step}: unexpected {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"ok [{LIB}] connect (HELLO), add/get/ack/nack/fast_ack/working/del/enqueue/dequeue, "
          f"show/qlen/qpeek/qstat/qscan/jscan, pause, blocking get_job, retry/delay/ttl timers "
          f"against {host}:{port}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
