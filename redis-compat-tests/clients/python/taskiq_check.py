#!/usr/bin/env python3
"""taskiq with taskiq-redis's stream broker, result backend and schedule source, against a
Redis-protocol server: a real producer → worker → result flow.

    python3 taskiq_check.py HOST PORT

What taskiq-redis sends, and so what this checks:

* RedisStreamBroker: XGROUP CREATE ... $ MKSTREAM at startup (BUSYGROUP ignored), XADD (with
  MAXLEN ~) per kicked task, XREADGROUP GROUP ... COUNT BLOCK > in the worker's loop, XACK per
  message; after every read that returned messages it takes its "autoclaim" lock (redis-py's
  Lock, created on a pipeline) around XAUTOCLAIM: SCRIPT EXISTS / SCRIPT LOAD of redis-py's
  release script, then MULTI, SET <lock> <token> NX PX, XAUTOCLAIM, EVALSHA <release> 1
  <lock> <token>, EXEC.
* RedisAsyncResultBackend: SET ... EX for results, EXISTS (is_ready), GETDEL (keep_results off).
* RedisScheduleSource: SET, SCAN MATCH + MGET, DEL; taskiq's scheduler loop reading it.

The flow: tasks kicked before the worker starts, one of them taken by a consumer that dies
without acknowledging it; the worker (taskiq's own receiver, run in-process) runs them all,
including the abandoned one, which it recovers with XAUTOCLAIM under the lock once the task has
been idle IDLE_MS and a new task arrives; return values and a task's exception come back
through the result backend; nothing is left pending. The lock: held by another worker (its
token and TTL survive, since the release script returns 0 for a foreign token), then free (the
worker takes and releases it: the key is gone, INFO commandstats counted the EVALSHA). Then
taskiq's scheduler loop kicks a due one-shot schedule (the worker runs it, the schedule is
deleted) and leaves a later one alone; and the schedule source's API on its own. All of it with
redis-py's default connection (HELLO 3, replies shaped as under RESP2, which is what
taskiq-redis parses: with `protocol=3` given explicitly redis-py returns XREADGROUP as a dict
and taskiq-redis 1.2.4's read loop gets no tasks, against redis-server too), then with RESP2.
Every expected value is what redis-server 7.0.15 answers.

Not used (they need data types Sluice does not have): ListQueueBroker (LPUSH/BRPOP),
PubSubBroker (PUBLISH/SUBSCRIBE), ListRedisScheduleSource (RPUSH/LRANGE/LREM, and the
RedisScheduleSource used here is the one taskiq-redis marks deprecated in its favour).

Exits 0 and prints "ok" when every check passed; exits 1 with the first mismatch otherwise.
"""

import asyncio
import contextlib
import hashlib
import logging
import os
import sys
import time
import traceback
import warnings
from datetime import datetime, timedelta, timezone
from importlib.metadata import version

import redis
from redis.lock import Lock
from taskiq import TaskiqScheduler
from taskiq.api import run_receiver_task
from taskiq.cli.scheduler.run import SchedulerLoop
from taskiq.task import AsyncTaskiqTask
from taskiq_redis import RedisAsyncResultBackend, RedisScheduleSource, RedisStreamBroker

LIB = f"taskiq {version('taskiq')}, taskiq-redis {version('taskiq-redis')}, redis-py {redis.__version__}"
# XAUTOCLAIM's min-idle-time: an abandoned task is recovered once it has been pending this long.
IDLE_MS = 300
RELEASE_SHA = hashlib.sha1(Lock.LUA_RELEASE_SCRIPT.encode()).hexdigest()


class Mismatch(Exception):
    pass


def eq(what, got, want):
    if got != want:
        raise Mismatch(f"{what}: expected {want!r}, got {got!r}")


def check(what, cond, detail=""):
    if not cond:
        raise Mismatch(f"{what}{': ' + detail if detail else ''}")


async def wait_until(what, pred, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Mismatch(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


def cmd_calls(r, name):
    """Calls of `name` counted by INFO commandstats (0 if it has not run)."""
    stats = r.info("commandstats")
    return int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))


def idle_ms(r, stream, group, consumer):
    """Milliseconds since `consumer`'s oldest pending entry was delivered (-1: none)."""
    p = r.xpending_range(stream, group, min="-", max="+", count=1, consumername=consumer)
    return p[0]["time_since_delivered"] if p else -1


def pending_count(r, stream, group):
    return r.xpending(stream, group)["pending"]


async def flow(host, port, prefix, state, proto):
    # redis-py's default (no protocol given) sends HELLO 3 and shapes replies as under RESP2,
    # which is what taskiq-redis parses: with protocol=3 given explicitly, XREADGROUP comes back
    # as a dict and taskiq's read loop cannot use it (against redis-server too).
    if proto is None:
        url = f"redis://{host}:{port}"
        r = redis.Redis(host=host, port=port, socket_timeout=30)
    else:
        url = f"redis://{host}:{port}?protocol={proto}"
        r = redis.Redis(host=host, port=port, protocol=proto, socket_timeout=30)
    stream = f"{prefix}:tasks"
    group = "workers"
    lock_key = f"autoclaim:{group}:{stream}"
    backend = RedisAsyncResultBackend(
        url, keep_results=False, result_ex_time=600, prefix_str=f"{prefix}:result"
    )
    broker = RedisStreamBroker(
        url,
        queue_name=stream,
        consumer_group_name=group,
        consumer_name="worker-1",
        xread_block=100,
        maxlen=1000,
        idle_timeout=IDLE_MS,
        unacknowledged_lock_timeout=30,
    ).with_result_backend(backend)

    @broker.task(task_name=f"{prefix}:add")
    async def add(a: int, b: int) -> int:
        return a + b

    @broker.task(task_name=f"{prefix}:fail")
    async def fail(msg: str) -> None:
        raise ValueError(msg)

    state["step"] = "broker startup"
    await broker.startup()
    groups = r.xinfo_groups(stream)
    eq("groups after startup", [g["name"] for g in groups], [group.encode()])
    eq("stream length after startup", r.xlen(stream), 0)
    # A second startup: XGROUP CREATE answers BUSYGROUP, which taskiq ignores.
    await broker._declare_consumer_group()

    state["step"] = "kick"
    orphan = await add.kiq(100, 1)
    sums = [await add.kiq(i, i * 10) for i in range(5)]
    failing = await fail.kiq("boom")
    eq("stream length after kicks", r.xlen(stream), 7)
    entry = r.xrange(stream, count=1)[0]
    check("a task message is a stream entry with a data field", b"data" in entry[1], repr(entry))

    state["step"] = "abandoned task"
    # A consumer takes the first task and dies without acknowledging it.
    got = r.xreadgroup(group, "dead", {stream: ">"}, count=1)
    # RESP3: {stream: [[id, fields]]}; RESP2: [[stream, [[id, fields]]]].
    entries = list(got.values())[0] if isinstance(got, dict) else got[0][1]
    eq("dead consumer's read", len(entries), 1)
    eq("pending before the worker", pending_count(r, stream, group), 1)
    # Another worker holds the autoclaim lock.
    r.set(lock_key, "other-worker", px=60000)
    evalsha_before = cmd_calls(r, "evalsha")
    xautoclaim_before = cmd_calls(r, "xautoclaim")

    state["step"] = "worker"
    broker.is_worker_process = True
    worker = asyncio.create_task(run_receiver_task(broker, max_async_tasks=10))
    try:
        state["step"] = "results"
        for i, t in enumerate(sums):
            res = await t.wait_result(timeout=15, check_interval=0.02)
            check(f"add({i}) succeeded", not res.is_err, repr(res.error))
            eq(f"add({i}) result", res.return_value, i + i * 10)
            eq(f"add({i}) result key after GETDEL", r.exists(f"{prefix}:result:{t.task_id}"), 0)
        res = await failing.wait_result(timeout=15, check_interval=0.02)
        check("fail() is an error", res.is_err)
        check("fail()'s exception", isinstance(res.error, ValueError) and str(res.error) == "boom",
              repr(res.error))

        state["step"] = "recovered task, lock held by another worker"
        # taskiq looks for abandoned tasks (XAUTOCLAIM) only after a read that returned
        # messages: once the abandoned task has been idle IDLE_MS, a new task triggers it.
        await wait_until(
            f"the abandoned task idle {IDLE_MS} ms",
            lambda: idle_ms(r, stream, group, "dead") >= IDLE_MS,
        )
        t = await add.kiq(7, 8)
        res = await t.wait_result(timeout=15, check_interval=0.02)
        eq("add(7, 8)", res.return_value, 15)
        res = await orphan.wait_result(timeout=15, check_interval=0.02)
        eq("abandoned task's result", res.return_value, 101)
        await wait_until("nothing pending", lambda: pending_count(r, stream, group) == 0)
        consumers = {c["name"]: c["pending"] for c in r.xinfo_consumers(stream, group)}
        eq("consumers", consumers, {b"dead": 0, b"worker-1": 0})
        check("XAUTOCLAIM ran", cmd_calls(r, "xautoclaim") > xautoclaim_before)
        check("the release script ran (EVALSHA)", cmd_calls(r, "evalsha") > evalsha_before)
        eq("release script loaded", r.script_exists(RELEASE_SHA), [True])
        # The release script returns 0 for a token that is not the caller's: the other
        # worker's lock is untouched.
        eq("other worker's lock", r.get(lock_key), b"other-worker")
        ttl = r.pttl(lock_key)
        check("other worker's lock keeps its TTL", 0 < ttl <= 60000, f"PTTL {ttl}")

        state["step"] = "lock free"
        r.delete(lock_key)
        calls = cmd_calls(r, "evalsha")
        t = await add.kiq(20, 22)
        res = await t.wait_result(timeout=15, check_interval=0.02)
        eq("add(20, 22)", res.return_value, 42)
        await wait_until("an autoclaim round", lambda: cmd_calls(r, "evalsha") > calls)
        # SET NX PX took it and EVALSHA released it, inside one MULTI/EXEC.
        eq("autoclaim lock after release", r.exists(lock_key), 0)
        await wait_until("nothing pending", lambda: pending_count(r, stream, group) == 0)
        eq("stream length (entries stay after XACK)", r.xlen(stream), 9)

        state["step"] = "scheduler"
        # taskiq's scheduler loop reads the schedule source and kicks what is due; a one-shot
        # schedule is deleted once sent.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            source = RedisScheduleSource(url, prefix=f"{prefix}:schedule", buffer_size=2)
        await source.startup()
        now = datetime.now(timezone.utc)
        tid = f"{prefix}:scheduled"
        due = await add.kicker().with_task_id(tid).schedule_by_time(
            source, now - timedelta(seconds=1), 3, 4
        )
        later = await add.schedule_by_time(source, now + timedelta(hours=1), 0, 1)
        scheduler = TaskiqScheduler(broker, [source])
        loop = asyncio.create_task(
            SchedulerLoop(scheduler).run(update_interval=timedelta(seconds=1))
        )
        try:
            res = await AsyncTaskiqTask(tid, backend).wait_result(timeout=15, check_interval=0.02)
            eq("scheduled add(3, 4)", res.return_value, 7)
            await wait_until(
                "the one-shot schedule deleted once sent",
                lambda: r.exists(f"{prefix}:schedule:{due.schedule_id}") == 0,
            )
        finally:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await loop
        eq("schedules left", [s.schedule_id for s in await source.get_schedules()],
           [later.schedule_id])
        await source.delete_schedule(later.schedule_id)
        await source.shutdown()
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await worker

    state["step"] = "result backend"
    t = await add.kiq(1, 2)  # no worker: no result yet
    eq("is_ready without a worker", await t.is_ready(), False)
    r.delete(stream)
    await broker.shutdown()

    state["step"] = "schedule source API"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        source = RedisScheduleSource(url, prefix=f"{prefix}:schedule", buffer_size=2)
    await source.startup()
    when = datetime.now(timezone.utc) + timedelta(hours=1)
    created = [await add.schedule_by_time(source, when, i, 1) for i in range(3)]
    schedules = await source.get_schedules()
    eq("schedule ids", sorted(s.schedule_id for s in schedules),
       sorted(c.schedule_id for c in created))
    eq("scheduled args", sorted(s.args[0] for s in schedules), [0, 1, 2])
    check("scheduled task name", all(s.task_name == f"{prefix}:add" for s in schedules))
    await source.delete_schedule(created[0].schedule_id)
    eq("schedules after delete", len(await source.get_schedules()), 2)
    for c in created[1:]:
        await source.delete_schedule(c.schedule_id)
    eq("schedules after deleting all", await source.get_schedules(), [])
    await source.shutdown()
    r.close()


def proto_name(proto):
    return "default protocol (HELLO 3)" if proto is None else f"RESP{proto}"


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    host, port = sys.argv[1], int(sys.argv[2])
    # taskiq logs a task's exception (the failing task is on purpose).
    logging.disable(logging.CRITICAL)
    prefix = f"clients:taskiq:{os.getpid()}:{time.time_ns()}"
    state = {"step": "connect"}
    proto = None
    try:
        # redis-py 8's default (HELLO 3), then RESP2.
        for proto in (None, 2):
            state["step"] = "connect"
            asyncio.run(
                asyncio.wait_for(flow(host, port, f"{prefix}:{proto}", state, proto), timeout=120)
            )
    except Mismatch as e:
        print(f"FAIL [{LIB}] {proto_name(proto)} {state['step']}: {e}", file=sys.stderr)
        return 1
    except Exception as e:
        traceback.print_exc()
        print(f"FAIL [{LIB}] {proto_name(proto)} {state['step']}: unexpected {type(e).__name__}: {e}",
              file=sys.stderr)
        return 1
    print(f"ok [{LIB}] stream broker (XADD, XREADGROUP, XACK, XAUTOCLAIM under its lock: SET NX PX + EVALSHA in MULTI), worker, result backend, scheduler and schedule source, default (HELLO 3) and RESP2, against {host}:{port}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
