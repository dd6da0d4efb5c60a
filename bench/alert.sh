#!/usr/bin/env bash
# bench/alert.sh: time-to-alert, from the failure that confirms a problem
# to the ALERT handed to the channel, with 1,000 running silences and
# 10,000 incidents in the store (bot.BenchmarkTimeToAlert: the production
# engine and dispatcher loop, the database at synchronous=FULL). Target:
# p99 under 100 ms. See BENCHMARKS.md.
#
# Usage: bench/alert.sh [ITERATIONS [COUNT]]    (defaults: 2000 alerts, 3 runs)
set -euo pipefail

iterations=${1:-2000}
count=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)

echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
echo "go test -run='^\$' -bench=BenchmarkTimeToAlert -benchtime=${iterations}x -count=$count ./bot/"
out=$(cd "$root" && go test -run='^$' -bench=BenchmarkTimeToAlert -benchtime="${iterations}x" -count="$count" ./bot/)
echo "$out" | grep -E '^(goos|goarch|cpu|Benchmark|ok|FAIL)'
echo
echo "time to alert per run (ms):"
echo "$out" | awk '/^BenchmarkTimeToAlert/ {
	for (i = 3; i < NF; i++) m[$(i+1)] = $i
	printf "  p50 %6.2f   p99 %6.2f   max %7.2f   (commit of the confirming failure p99 %.2f)\n", m["p50-ms"], m["p99-ms"], m["max-ms"], m["commit-p99-ms"]
}'
