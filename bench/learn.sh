#!/usr/bin/env bash
# The cost of learning sessions from responses, end to end: the same session
# http proxy with and without learn_sessions, in one Caddy, in front of
# backends that set the request's JSESSIONID again on every response (the
# learner's every-response path), driven by wrk with 10,000 distinct cookies.
# Rounds alternate the two; prints each round and the ratio of the medians.
#
#   bash bench/learn.sh                       # 5 rounds of 10 s each
#   ROUNDS=3 DURATION=5s bash bench/learn.sh  # a short run
#
# Needs Go and wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
SESSIONS=${SESSIONS:-10000}
export BENCH_ADMIN_PORT=${BENCH_ADMIN_PORT:-3042}
export BENCH_PORT_LEARN=${BENCH_PORT_LEARN:-9161}
export BENCH_PORT_NO_LEARN=${BENCH_PORT_NO_LEARN:-9162}
backends=${BENCH_BACKENDS_LIST:-127.0.0.1:9171,127.0.0.1:9172,127.0.0.1:9173}
export BENCH_BACKENDS=${backends//,/ }

work=$(mktemp -d /tmp/soap-affinity-learn.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT

go build -o "$work/caddy" ./cmd/caddy
go build -o "$work/backend" ./bench/backend

# shellcheck source=bench/wait_port.sh
. bench/wait_port.sh # the cd above made the repository root the working directory

"$work/backend" -cookie -listen "$backends" >"$work/backend.log" 2>&1 &
pids+=($!)
for b in $BENCH_BACKENDS; do wait_port "${b##*:}"; done
"$work/caddy" run --config bench/conf/learn.Caddyfile --adapter caddyfile >"$work/caddy.log" 2>&1 &
pids+=($!)
wait_port "$BENCH_PORT_LEARN"

drive() {
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"$2" --latency -s bench/lua/sessions.lua \
		"http://127.0.0.1:$1/" -- cookie "$SESSIONS" | grep '^RESULT ' | cut -d' ' -f2
}

drive "$BENCH_PORT_LEARN" 2s >/dev/null
drive "$BENCH_PORT_NO_LEARN" 2s >/dev/null
learn=() plain=()
for round in $(seq "$ROUNDS"); do
	if [ $((round % 2)) = 1 ]; then
		l=$(drive "$BENCH_PORT_LEARN" "$DURATION"); p=$(drive "$BENCH_PORT_NO_LEARN" "$DURATION")
	else
		p=$(drive "$BENCH_PORT_NO_LEARN" "$DURATION"); l=$(drive "$BENCH_PORT_LEARN" "$DURATION")
	fi
	learn+=("$l") plain+=("$p")
	echo "round $round: learn_sessions $l req/s, without $p req/s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ml=$(median "${learn[@]}") mp=$(median "${plain[@]}")
echo "median: learn_sessions $ml req/s, without $mp req/s, ratio $(awk -v a="$ml" -v b="$mp" 'BEGIN { printf "%.3f", a / b }')"
