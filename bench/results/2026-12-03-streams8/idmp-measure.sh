#!/bin/bash
# usage: measure.sh NAME FILE PORT
name=$1; file=$2; port=$3
dir=/tmp/idmpbench/data-$name
rm -rf $dir; mkdir -p $dir
./sluice --port $port --bind 127.0.0.1 --dir $dir > $dir.log 2>&1 &
pid=$!
for i in $(seq 50); do redis-cli -p $port PING >/dev/null 2>&1 && break; sleep 0.1; done
rss() { redis-cli -p $port INFO memory | grep '^used_memory_rss:' | cut -d: -f2 | tr -d '\r'; }
before=$(rss)
redis-cli -p $port --pipe < $file > /dev/null
sleep 1
after=$(rss)
info="memory_usage=$(redis-cli -p $port MEMORY USAGE s)"
kill -TERM $pid; wait $pid 2>/dev/null
./sluice --port $port --bind 127.0.0.1 --dir $dir > $dir.log2 2>&1 &
pid=$!
for i in $(seq 100); do redis-cli -p $port PING >/dev/null 2>&1 && break; sleep 0.1; done
sleep 1
rss2=$(rss)
len=$(redis-cli -p $port XLEN s)
kill -TERM $pid; wait $pid 2>/dev/null
disk=$(du -sb $dir | cut -f1)
echo "$name rss_before=$before rss_after=$after delta=$((after-before)) rss_after_restart=$rss2 xlen=$len disk_bytes=$disk"
echo "   $info"
