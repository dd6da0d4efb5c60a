#!/usr/bin/env bash
# bench/exports.sh: exports/s and reply latency of a real `oclcbot serve`
# under Connexion-style load (one record per connection, the reply sent
# after the commit), in embedded mode and in relay mode. See BENCHMARKS.md.
#
# Usage: bench/exports.sh [N [WARMUP]]
#   N, WARMUP: exports per embedded-mode run and the warm-up before them
#   (defaults: 20000 exports, 1000 warm-up)
#
# Environment:
#   CONNS="1 8 32 64"   concurrency levels for the embedded-mode table
#                       (CONNS=" ": none, relay mode only)
#   ROUNDS=7            relay-mode rounds, each one direct run and one relay run
#   RELAY_N=1000        exports per relay-mode run (one connection, after
#                       200 warm-up exports that are not measured)
#   OCLCBOT=FILE        use this oclcbot binary instead of building ./cmd/oclcbot
#   SKIP_RELAY=1        only the embedded-mode table (no relay runs, no Go benchmark)
#   SKIP_GO_BENCH=1     do not run BenchmarkRelayOverhead
#
# Embedded mode: for each level in CONNS a fresh daemon (listener on
# 127.0.0.1, storage in a temporary directory, synchronous=full as in
# production, probes off, log level warn, one account) takes WARMUP + N
# exports from bench/loadgen; then it is stopped with SIGTERM and the
# catalog must hold exactly as many records as replies said "Added". The
# 32-connection level is run once more with storage.synchronous = "normal"
# to show what the fsync per group commit costs.
#
# Relay mode: an embedded daemon is the upstream ILS and a second daemon
# relays to it; the target is that the relay adds under 1 ms at p50 over a
# direct connection to the same upstream. Each of ROUNDS rounds sends
# RELAY_N exports (after 200 warm-up) on one connection straight to the
# upstream and RELAY_N through the relay, to the same two daemons, in
# alternating order: direct then relay in odd rounds, relay then direct in
# even ones, so that neither side always runs second (on a larger catalog,
# just after the other's load). A round's added p50 is its relay p50 minus
# its direct p50. On a two-core machine, where both daemons and the load
# generator share the CPUs, a p50 varies from round to round by about
# +-0.25 ms, more than the effects being measured, and a round disturbed
# by other work is off by more; so the summary is the median over the
# rounds of the per-round differences, which one odd round does not move,
# with their minimum and maximum to show the spread, and the median direct
# and relay p50s. Every run sends OCLC numbers of its own (loadgen
# -first): loadgen's default comes from the clock second, two short runs
# can start in the same second, and the upstream answers a repeat of an
# earlier export "Already received" and adds nothing (the relay may not
# even forward it). Then the upstream's catalog must hold exactly one
# record per export answered as added or relayed, warm-ups included, and
# the in-process BenchmarkRelayOverhead (receiver/relay) runs too.
#
# The machine's load average is printed before each run: figures taken
# while something else uses the CPU are not this program's.
set -euo pipefail

n=${1:-20000}
warmup=${2:-1000}
conns_levels=${CONNS:-"1 8 32 64"}
relay_n=${RELAY_N:-1000}
rounds=${ROUNDS:-7}
relay_warmup=200
for knob in "RELAY_N=$relay_n" "ROUNDS=$rounds"; do
	if ! [[ ${knob#*=} =~ ^[1-9][0-9]{0,5}$ ]]; then
		echo "exports.sh: $knob: want a whole number from 1 to 999999" >&2
		exit 2
	fi
done
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/oclcbot-exports.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

command -v sqlite3 >/dev/null || { echo "exports.sh: sqlite3 not found (install the sqlite3 package)" >&2; exit 1; }

echo "building oclcbot and loadgen..." >&2
if [ -n "${OCLCBOT:-}" ]; then
	cp "$OCLCBOT" "$work/oclcbot"
else
	(cd "$root" && go build -o "$work/oclcbot" ./cmd/oclcbot)
fi
(cd "$root" && go build -o "$work/loadgen" ./bench/loadgen)

printf 'bench-password-%s\n' "$RANDOM$RANDOM" >"$work/pw"
"$work/oclcbot" passwd -user bench <"$work/pw" >"$work/account.toml"

# free_port prints a TCP port nothing listens on.
free_port() {
	if command -v python3 >/dev/null; then
		python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
	else
		local p
		while :; do
			p=$((20000 + RANDOM % 20000))
			(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
		done
	fi
}

# write_config DIR PORT SYNC [UPSTREAM]: an oclcbot.toml in DIR; with
# UPSTREAM, relay mode to that host:port.
write_config() {
	local dir=$1 port=$2 sync=$3 upstream=${4:-}
	mkdir -p "$dir"
	cat >"$dir/oclcbot.toml" <<EOF
[listener]
addr = "127.0.0.1:$port"
max_conns = 256

[storage]
path = "$dir/oclcbot.db"
synchronous = "$sync"

[probes]
disabled = true

[log]
level = "warn"

EOF
	cat "$work/account.toml" >>"$dir/oclcbot.toml"
	if [ -n "$upstream" ]; then
		cat >>"$dir/oclcbot.toml" <<EOF

[relay]
upstream = "$upstream"
user = "bench"
password_file = "$work/pw"
EOF
	fi
}

# start DIR PORT: runs the daemon configured in DIR, waits for its port,
# and sets $daemon to its pid.
start() {
	local dir=$1 port=$2
	"$work/oclcbot" serve -config "$dir/oclcbot.toml" >"$dir/serve.log" 2>&1 &
	daemon=$!
	pids+=("$daemon")
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return; fi
		if ! kill -0 "$daemon" 2>/dev/null; then break; fi
		sleep 0.1
	done
	echo "exports.sh: oclcbot did not start listening on $port:" >&2
	cat "$dir/serve.log" >&2
	exit 1
}

# stop PID DIR: SIGTERM, and the daemon must exit cleanly.
stop() {
	local pid=$1 dir=$2 rc=0
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	if [ "$rc" != 0 ]; then
		echo "exports.sh: oclcbot exited with status $rc:" >&2
		cat "$dir/serve.log" >&2
		exit 1
	fi
}

records() { sqlite3 "$1/oclcbot.db" 'SELECT count(*) FROM catalog_records'; }

# field KEY FILE: a value from loadgen's RESULT line.
field() { sed -n 's/^RESULT .*[ ]'"$1"'=\([^ ]*\).*/\1/p' "$2"; }

loadavg() { echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"; }

table="$work/table"
printf '%-22s %10s %9s %9s %9s %9s %7s %9s\n' "connections" "exports/s" "p50 ms" "p90 ms" "p99 ms" "max ms" "errors" "catalog" >"$table"

# embedded CONNS SYNC LABEL
embedded() {
	local c=$1 sync=$2 label=$3 dir port out
	dir="$work/embedded-$c-$sync"
	port=$(free_port)
	write_config "$dir" "$port" "$sync"
	start "$dir" "$port"
	local pid=$daemon
	out="$dir/loadgen.out"
	echo
	echo "== embedded, $label: $c connections, synchronous=$sync"
	loadavg
	"$work/loadgen" -to "127.0.0.1:$port" -user bench -password-file "$work/pw" \
		-conns "$c" -n "$n" -warmup "$warmup" >"$out" || true
	cat "$out"
	stop "$pid" "$dir"
	local ok added got
	ok=$(field ok "$out")
	added=$((ok + warmup))
	got=$(records "$dir")
	if [ "$got" = "$added" ]; then
		echo "catalog check: $got records = $added added (warm-up included): OK"
	else
		echo "catalog check: FAILED: $got records in the catalog, $added replies said added" >&2
		exit 1
	fi
	printf '%-22s %10s %9s %9s %9s %9s %7s %9s\n' "$label" "$(field exports_per_s "$out")" \
		"$(field p50_ms "$out")" "$(field p90_ms "$out")" "$(field p99_ms "$out")" "$(field max_ms "$out")" \
		"$(field errors "$out")" "$got" >>"$table"
}

echo "oclcbot export benchmark: $n exports after $warmup warm-up per run, $(nproc) CPUs, $(go version | cut -d' ' -f3)"
for c in $conns_levels; do
	embedded "$c" full "$c"
done
if [[ " $conns_levels " == *" 32 "* ]]; then
	embedded 32 normal "32, synchronous=normal"
fi

if [ -n "${SKIP_RELAY:-}" ]; then
	echo
	echo "== embedded mode: $n exports after $warmup warm-up, one record per connection"
	cat "$table"
	exit 0
fi

# Relay mode.
up="$work/upstream"
up_port=$(free_port)
write_config "$up" "$up_port" full
start "$up" "$up_port"
up_pid=$daemon
rl="$work/relay"
rl_port=$(free_port)
write_config "$rl" "$rl_port" full "127.0.0.1:$up_port"
start "$rl" "$rl_port"
rl_pid=$daemon

# The relay passes on the upstream's reply or says it was relayed; a
# queued record (upstream not answering) does not count as delivered.
relay_expect='^(Record [0-9]+ of [0-9]+: )?(Added to the catalog as system number|Delivered to the local system)'
total_relay_added=0
runs=0
declare -a direct_p50 relay_p50 relay_added

# relay_run ROUND VIA: one loadgen run of relay_warmup + relay_n exports on
# one connection, straight to the upstream (VIA=direct) or through the
# relay (VIA=relay); records its p50 and what it added to the upstream.
relay_run() {
	local round=$1 via=$2 out p50 ok first
	out="$work/$via-$round.out"
	# OCLC numbers of this run's own, so that no export repeats another.
	first=$((1000000000 + runs * (relay_n + relay_warmup)))
	runs=$((runs + 1))
	echo
	echo "== relay benchmark, round $round of $rounds: 1 connection, $via"
	loadavg
	if [ "$via" = direct ]; then
		"$work/loadgen" -to "127.0.0.1:$up_port" -user bench -password-file "$work/pw" \
			-conns 1 -n "$relay_n" -warmup "$relay_warmup" -first "$first" >"$out" || true
	else
		"$work/loadgen" -to "127.0.0.1:$rl_port" -user bench -password-file "$work/pw" \
			-conns 1 -n "$relay_n" -warmup "$relay_warmup" -first "$first" -expect "$relay_expect" >"$out" || true
	fi
	cat "$out"
	p50=$(field p50_ms "$out")
	ok=$(field ok "$out")
	if [ -z "$p50" ] || [ -z "$ok" ]; then
		echo "exports.sh: relay benchmark, round $round, $via: loadgen printed no RESULT line" >&2
		exit 1
	fi
	if [ "$via" = direct ]; then
		direct_p50+=("$p50")
	else
		relay_p50+=("$p50")
	fi
	total_relay_added=$((total_relay_added + ok + relay_warmup))
}

for ((round = 1; round <= rounds; round++)); do
	if ((round % 2)); then
		relay_run "$round" direct
		relay_run "$round" relay
	else
		relay_run "$round" relay
		relay_run "$round" direct
	fi
done
stop "$rl_pid" "$rl"
stop "$up_pid" "$up"
got=$(records "$up")
if [ "$got" = "$total_relay_added" ]; then
	echo "upstream catalog check: $got records = $total_relay_added exports answered as added or relayed ($runs runs, warm-ups included): OK"
else
	echo "upstream catalog check: FAILED: $got records upstream, $total_relay_added exports answered as added or relayed ($runs runs, warm-ups included)" >&2
	exit 1
fi

# median: the median of the numbers on standard input, one a line (the
# mean of the middle two for an even count), to two decimals.
median() {
	sort -g | awk '{ v[NR] = $1 }
		END { printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo
echo "== embedded mode: $n exports after $warmup warm-up, one record per connection"
cat "$table"
echo
echo "== relay mode: $rounds rounds of $relay_n exports after $relay_warmup warm-up on one connection, direct and via the relay in alternating order, p50 reply latency (ms)"
for ((i = 0; i < rounds; i++)); do
	relay_added[i]=$(awk -v r="${relay_p50[i]}" -v d="${direct_p50[i]}" 'BEGIN { printf "%.2f", r - d }')
	echo "round $((i + 1)): direct ${direct_p50[i]}   via relay ${relay_p50[i]}   added by the relay ${relay_added[i]}"
done
sorted_added=$(printf '%s\n' "${relay_added[@]}" | sort -g)
echo "relay adds (median of $rounds rounds): $(median <<<"$sorted_added") ms" \
	"(min $(head -n 1 <<<"$sorted_added"), max $(tail -n 1 <<<"$sorted_added"));" \
	"direct p50 median $(printf '%s\n' "${direct_p50[@]}" | median) ms," \
	"via relay $(printf '%s\n' "${relay_p50[@]}" | median) ms"

if [ -z "${SKIP_GO_BENCH:-}" ]; then
	echo
	echo "== go test -run='^\$' -bench=BenchmarkRelayOverhead -benchtime=3000x ./receiver/relay/"
	loadavg
	(cd "$root" && go test -run='^$' -bench=BenchmarkRelayOverhead -benchtime=3000x ./receiver/relay/) | grep -E '^(Benchmark|ok|FAIL)'
fi
