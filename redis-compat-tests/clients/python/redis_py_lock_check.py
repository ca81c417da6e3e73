#!/usr/bin/env python3
"""redis-py's Lock (redis.lock.Lock: SET NX PX plus three Lua scripts run with EVALSHA), in
every mode of its API, against a Redis-protocol server.

    python3 redis_py_lock_check.py HOST PORT

Checks, over RESP3 (redis-py's default) and RESP2: acquire (non-blocking, blocking,
blocking_timeout, a caller's token), locked/owned, release (and releasing a lock not held, or
lost to expiry), extend (adding time, replace_ttl, on a lock without a timeout, on a lock not
owned), reacquire, the context manager (and its blocking_timeout failure), a blocked acquire
that gets the lock once another thread releases it, a lock that expires by its timeout, the
scripts' NOSCRIPT fallback after SCRIPT FLUSH (register_script → EVALSHA → SCRIPT LOAD), and
register_script on its own. Every expected value is what redis-server 7.0.15 answers.

Exits 0 and prints "ok" when every check passed; exits 1 with the first mismatch otherwise.
"""

import os
import sys
import threading
import time
import traceback

import redis
from redis.exceptions import LockError, LockNotOwnedError

LIB = f"redis-py {redis.__version__}"


class Mismatch(Exception):
    pass


def eq(what, got, want):
    if got != want:
        raise Mismatch(f"{what}: expected {want!r}, got {got!r}")


def check(what, cond, detail=""):
    if not cond:
        raise Mismatch(f"{what}{': ' + detail if detail else ''}")


def raises(what, exc, fn):
    try:
        got = fn()
    except exc:
        return
    except Exception as e:  # noqa: BLE001 - report what came instead
        raise Mismatch(f"{what}: expected {exc.__name__}, got {type(e).__name__}: {e}")
    raise Mismatch(f"{what}: expected {exc.__name__}, got {got!r}")


def wait_until(what, pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Mismatch(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def check_lock(r, prefix):
    name = f"{prefix}:lock"
    # acquire / locked / owned / release
    lock = r.lock(name, timeout=10)
    eq("acquire", lock.acquire(blocking=False), True)
    eq("locked", lock.locked(), True)
    eq("owned", lock.owned(), True)
    token = r.get(name)
    check("token stored", token is not None and len(token) == 32, repr(token))
    ttl = r.pttl(name)
    check("timeout set", 9000 < ttl <= 10000, str(ttl))
    other = r.lock(name, timeout=10)
    eq("second acquire, non-blocking", other.acquire(blocking=False), False)
    eq("second not owned", other.owned(), False)
    eq("second sees locked", other.locked(), True)
    raises("release by non-owner", LockError, other.release)
    eq("blocking_timeout acquire", other.acquire(blocking_timeout=0.2), False)
    lock.release()
    eq("released", r.exists(name), 0)
    eq("locked after release", lock.locked(), False)
    raises("release twice", LockError, lock.release)

    # extend: add time, replace the TTL, without a timeout, not owned
    lock = r.lock(name, timeout=10)
    lock.acquire()
    eq("extend", lock.extend(5), True)
    ttl = r.pttl(name)
    check("extended ttl", 14000 < ttl <= 15000, str(ttl))
    eq("extend replace_ttl", lock.extend(3, replace_ttl=True), True)
    ttl = r.pttl(name)
    check("replaced ttl", 2000 < ttl <= 3000, str(ttl))
    eq("reacquire", lock.reacquire(), True)
    ttl = r.pttl(name)
    check("reacquired ttl", 9000 < ttl <= 10000, str(ttl))
    r.set(name, "stolen")
    raises("extend not owned", LockNotOwnedError, lambda: lock.extend(5))
    raises("reacquire not owned", LockNotOwnedError, lock.reacquire)
    raises("release not owned", LockNotOwnedError, lock.release)
    r.delete(name)
    notimeout = r.lock(name)
    notimeout.acquire()
    eq("no timeout: no ttl", r.pttl(name), -1)
    raises("extend without timeout", LockError, lambda: notimeout.extend(5))
    raises("reacquire without timeout", LockError, notimeout.reacquire)
    notimeout.release()

    # a caller's token
    lock = r.lock(name, timeout=10)
    eq("acquire with token", lock.acquire(token="my-token"), True)
    eq("stored token", r.get(name), b"my-token")
    lock.release()

    # context manager
    with r.lock(name, timeout=10) as held:
        eq("with: owned", held.owned(), True)
        with_other = r.lock(name, timeout=10, blocking_timeout=0.1)
        raises("with: second lock times out", LockError, with_other.__enter__)
    eq("with: released", r.exists(name), 0)

    # a blocked acquire gets the lock when the holder releases it
    holder = r.lock(name, timeout=10)
    holder.acquire()
    got = {}

    def waiter():
        lk = r.lock(name, timeout=10, sleep=0.01, thread_local=False)
        got["ok"] = lk.acquire(blocking=True, blocking_timeout=10)
        got["lock"] = lk

    t = threading.Thread(target=waiter)
    t.start()
    holder.release()
    t.join(20)
    eq("blocked acquire", got.get("ok"), True)
    eq("blocked acquirer owns it", got["lock"].owned(), True)
    got["lock"].release()

    # a lock that expires: its release then fails as not owned
    short = r.lock(name, timeout=0.05)
    short.acquire()
    wait_until("lock expiry", lambda: r.exists(name) == 0)
    eq("expired: owned", short.owned(), False)
    raises("expired: release", LockNotOwnedError, short.release)
    quiet = r.lock(name, timeout=0.05, raise_on_release_error=False)
    quiet.acquire()
    wait_until("lock expiry", lambda: r.exists(name) == 0)
    with quiet:
        pass
    eq("raise_on_release_error=False: released", r.exists(name), 0)

    # the scripts again after SCRIPT FLUSH: EVALSHA gets NOSCRIPT, redis-py loads them again
    r.script_flush()
    lock = r.lock(name, timeout=10)
    lock.acquire()
    eq("extend after SCRIPT FLUSH", lock.extend(1), True)
    lock.release()
    eq("released after SCRIPT FLUSH", r.exists(name), 0)


def check_scripts(r, prefix):
    incr = r.register_script("return redis.call('incrby', KEYS[1], ARGV[1])")
    eq("register_script call", incr(keys=[f"{prefix}:n"], args=[5]), 5)
    eq("register_script again", incr(keys=[f"{prefix}:n"], args=[2]), 7)
    eq("script_exists", r.script_exists(incr.sha), [True])
    eq("eval", r.eval("return {KEYS[1], ARGV[1], 3}", 1, "k", "a"), [b"k", b"a", 3])
    try:
        r.eval("return redis.call('incr', KEYS[1])", 1, f"{prefix}:s")
        r.set(f"{prefix}:s", "x")
        r.eval("return redis.call('incr', KEYS[1])", 1, f"{prefix}:s")
        raise Mismatch("eval error: expected ResponseError")
    except redis.ResponseError as e:
        check("eval error text", "value is not an integer or out of range" in str(e), str(e))
    r.delete(f"{prefix}:n", f"{prefix}:s")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    host, port = sys.argv[1], int(sys.argv[2])
    prefix = f"clients:pylock:{os.getpid()}:{time.time_ns()}"
    step = "connect"
    try:
        for proto in (3, 2):
            step = f"RESP{proto} connect"
            r = redis.Redis(host=host, port=port, protocol=proto, socket_timeout=30)
            r.ping()
            step = f"RESP{proto} lock"
            check_lock(r, f"{prefix}:{proto}")
            step = f"RESP{proto} scripts"
            check_scripts(r, f"{prefix}:{proto}")
            r.close()
    except Mismatch as e:
        print(f"FAIL [{LIB}] {step}: {e}", file=sys.stderr)
        return 1
    except Exception as e:
        traceback.print_exc()
        print(f"FAIL [{LIB}] {step}: unexpected {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"ok [{LIB}] Lock (acquire, blocking, release, extend, reacquire, timeouts, context manager, NOSCRIPT fallback) and scripts, RESP3 and RESP2, against {host}:{port}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
