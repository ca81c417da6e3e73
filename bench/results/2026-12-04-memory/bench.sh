#!/bin/bash
set -f
# usage: bench.sh label binary port  -> throughput and server CPU µs per request
L=$1; BIN=$2; P=$3; D=/tmp/sluice-bench-$P
rm -rf $D; mkdir -p $D
$BIN --port $P --dir $D --loglevel warning & PID=$!
for i in $(seq 50); do redis-cli -p $P ping >/dev/null 2>&1 && break; sleep 0.1; done
cpu() { awk '{print $14+$15}' /proc/$PID/stat; }
for t in set xadd; do
  if [ $t = set ]; then ARGS="-t set"; else ARGS="xadd s * f v"; fi
  C0=$(cpu)
  R=$(redis-benchmark -p $P -q -n 1000000 -P 16 -c 50 -r 100000 $ARGS 2>/dev/null | tr '\r' '\n' | grep -i "requests per second" | tail -1 | sed 's/.*: \([0-9.]*\) requests.*/\1/')
  C1=$(cpu)
  echo "$L $t rps=$R cpu_us_per_req=$(echo "($C1-$C0)*10000/1000000" | bc -l | cut -c1-5)"
done
kill $PID; wait $PID 2>/dev/null; rm -rf $D
