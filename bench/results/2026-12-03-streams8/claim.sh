#!/usr/bin/env bash
# XREADGROUP … CLAIM throughput at -P 16 (see claim.md). Usage: claim.sh [path/to/sluice]
set -euo pipefail
BIN=${1:-target/release/sluice}
PORT=${PORT:-7399}
ENTRIES=${ENTRIES:-1000000}
REPS=${REPS:-3}
DIR=$(mktemp -d)
"$BIN" --port "$PORT" --dir "$DIR/data" --appendfsync everysec >"$DIR/log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
until redis-cli -p "$PORT" PING >/dev/null 2>&1; do sleep 0.1; done
R() { redis-cli -p "$PORT" "$@"; }
B() { redis-benchmark -p "$PORT" -c 50 -P 16 -q "$@" | tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1; }
# A stream of $ENTRIES entries; group g has every one of them pending (idle), groups h* none.
redis-benchmark -p "$PORT" -c 50 -P 16 -q -n "$ENTRIES" XADD s '*' f v >/dev/null
R XLEN s
R XGROUP CREATE s g 0 >/dev/null
for _ in $(seq 1 $((ENTRIES / 100000))); do
  R XREADGROUP GROUP g c0 COUNT 100000 STREAMS s '>' >/dev/null
done
R XPENDING s g | head -1
# The first CLAIM of g builds its delivery-time index over the whole PEL: its latency, and
# the resident memory before and after.
rss() { R INFO memory | tr -d '\r' | grep '^used_memory_rss:' | cut -d: -f2; }
echo "rss before first CLAIM: $(rss)"
t0=$(date +%s%N); R XREADGROUP GROUP g c COUNT 1 CLAIM 0 STREAMS s '>' >/dev/null; t1=$(date +%s%N)
echo "first CLAIM (index build over $ENTRIES pending): $(( (t1 - t0) / 1000000 )) ms (redis-cli round trip included)"
echo "rss after first CLAIM: $(rss)"
for rep in $(seq 1 "$REPS"); do
  echo "rep $rep: CLAIM 0 COUNT 1     $(B -n 400000 XREADGROUP GROUP g c COUNT 1 CLAIM 0 STREAMS s '>')"
  echo "rep $rep: CLAIM 0 COUNT 10    $(B -n 100000 XREADGROUP GROUP g c COUNT 10 CLAIM 0 STREAMS s '>')"
  R XGROUP CREATE s "h$rep" 0 >/dev/null
  echo "rep $rep: plain > COUNT 1     $(B -n 400000 XREADGROUP GROUP "h$rep" c COUNT 1 STREAMS s '>')"
  R XGROUP CREATE s "k$rep" 0 >/dev/null
  echo "rep $rep: plain > COUNT 10    $(B -n 90000 XREADGROUP GROUP "k$rep" c COUNT 10 STREAMS s '>')"
  # Nothing claimable (min-idle an hour, all fresh in group m): CLAIM costs its check only.
  R XGROUP CREATE s "m$rep" 0 >/dev/null
  echo "rep $rep: CLAIM 3600000 COUNT 1, nothing claimable (new entries only) $(B -n 400000 XREADGROUP GROUP "m$rep" c COUNT 1 CLAIM 3600000 STREAMS s '>')"
done
R XPENDING s g | head -1
