#!/usr/bin/env bash
# bench/print.sh: how fast `oclcbot print` is beside yaz-marcdump, on a
# large generated file of MARC-8 records. See bench/print.md.
#
# Usage: bench/print.sh [RECORDS [RUNS]]    (defaults: 100000 records, 3 runs)
#
# For each format (line, xml, --utf8 line) it runs oclcbot and the
# equivalent yaz-marcdump command RUNS times each, keeps the fastest run,
# and prints records/s, MB/s of input, peak RSS and the speed ratio
# oclcbot/yaz (above 1 means oclcbot is faster). It checks that the
# outputs are byte-identical, and that oclcbot's peak memory does not grow
# with the file (a file a tenth the size is printed for comparison).
set -euo pipefail

records=${1:-100000}
runs=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/oclcbot-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

command -v yaz-marcdump >/dev/null || { echo "print.sh: yaz-marcdump not found (install the yaz package)" >&2; exit 1; }
have_time=0
if [ -x /usr/bin/time ] && /usr/bin/time -f %M true 2>/dev/null; then have_time=1; fi

echo "building oclcbot and generating $records records..." >&2
(cd "$root" && go build -o "$work/oclcbot" ./cmd/oclcbot && go build -o "$work/genmarc" ./bench/genmarc)
"$work/genmarc" -n "$records" -marc8 >"$work/big.mrc"
"$work/genmarc" -n $((records / 10)) -marc8 >"$work/small.mrc"
bytes=$(stat -c %s "$work/big.mrc")
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')

# measure OUT CMD...: runs CMD with stdout to OUT, stderr discarded; sets
# secs (wall clock) and rss (peak resident KiB, or "?" without GNU time).
measure() {
	local out=$1
	shift
	if [ "$have_time" = 1 ]; then
		/usr/bin/time -o "$work/time" -f "%e %M" "$@" >"$out" 2>/dev/null || true
		read -r secs rss <"$work/time"
	else
		local t0 t1
		t0=$(date +%s.%N)
		"$@" >"$out" 2>/dev/null || true
		t1=$(date +%s.%N)
		secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
		rss="?"
	fi
}

# best OUT CMD...: the fastest of $runs runs; sets best_secs and best_rss.
best() {
	best_secs="" best_rss=""
	for _ in $(seq "$runs"); do
		measure "$@"
		if [ -z "$best_secs" ] || awk -v a="$secs" -v b="$best_secs" 'BEGIN { exit !(a < b) }'; then
			best_secs=$secs best_rss=$rss
		fi
	done
	# /usr/bin/time has 10 ms resolution.
	best_secs=$(awk -v s="$best_secs" 'BEGIN { if (s < 0.01) s = 0.01; print s }')
}

row() { # name secs rss
	awk -v n="$1" -v s="$2" -v r="$3" -v recs="$records" -v b="$bytes" \
		'BEGIN { printf "  %-48s %6.2f s %12.0f rec/s %9.1f MB/s %10s KiB\n", n, s, recs / s, b / 1e6 / s, r }'
}

echo
echo "oclcbot print vs yaz-marcdump: $records MARC-8 records, $mb MB, best of $runs runs"
echo "($(yaz-marcdump -V 2>/dev/null | head -1 || echo yaz), $(go version | cut -d' ' -f3), $(nproc) CPUs)"
status=0
for spec in "line|--format line|-o line" \
	"xml|--format xml|-o marcxml" \
	"utf8 line|--utf8 --format line|-f MARC-8 -t UTF-8 -o line"; do
	IFS='|' read -r name ours theirs <<<"$spec"
	echo
	echo "$name:"
	# shellcheck disable=SC2086 # the flags are meant to split
	best "$work/ours.out" "$work/oclcbot" print $ours "$work/big.mrc"
	o_secs=$best_secs o_rss=$best_rss
	# shellcheck disable=SC2086
	best "$work/yaz.out" yaz-marcdump $theirs "$work/big.mrc"
	y_secs=$best_secs y_rss=$best_rss
	row "oclcbot print $ours" "$o_secs" "$o_rss"
	row "yaz-marcdump $theirs" "$y_secs" "$y_rss"
	awk -v o="$o_secs" -v y="$y_secs" 'BEGIN { printf "  speed ratio oclcbot/yaz: %.2fx%s\n", y / o, (y / o < 1 ? "  (SLOWER than yaz)" : "") }'
	if cmp -s "$work/ours.out" "$work/yaz.out"; then
		echo "  output: byte-identical ($(stat -c %s "$work/ours.out") bytes)"
	else
		echo "  output: DIFFERS from yaz-marcdump: $(cmp "$work/ours.out" "$work/yaz.out" 2>&1 | head -1)"
		status=1
	fi
done

echo
echo "memory with file size (oclcbot print --format line):"
measure "$work/ours.out" "$work/oclcbot" print --format line "$work/small.mrc"
echo "  $((records / 10)) records: $rss KiB peak RSS"
measure "$work/ours.out" "$work/oclcbot" print --format line "$work/big.mrc"
echo "  $records records: $rss KiB peak RSS"
exit $status
