#!/usr/bin/env bash
# End-to-end comparison of session-affinity load balancers on this machine,
# over loopback: Caddy with simple_client_session (header- and SOAP-keyed),
# the same with its sessions in Redis (store redis, a redis-server of its
# own), Caddy's own header and round_robin policies, HAProxy with a stick table and
# nginx with consistent hashing, all in front of the same three backends and
# driven by wrk with 10,000 distinct session ids. Rounds alternate the
# contenders; results are medians and ratios, since a shared machine is noisy.
# Then the resident memory of Caddy with 0 and 1,000,000 sessions.
#
#   bash bench/run.sh                       # 5 rounds of 10 s per contender
#   ROUNDS=1 DURATION=2s bash bench/run.sh  # a quick smoke run
#   bash bench/run.sh --publish             # a run for docs/performance.md
#   CONTENDERS="caddy_round_robin_soap caddy_scs_soap" ROUNDS=10 MEMORY_SESSIONS=0 \
#     bash bench/run.sh                     # more rounds of two contenders, no memory run
#
# Writes {raw.tsv,memory.tsv,environment.txt,results.md,throughput.svg} into a
# new folder bench/runs/<UTC time>/, which git ignores; with --publish into
# bench/results/, the tracked results docs/performance.md shows.
# Needs Go; installs wrk, haproxy, nginx and curl with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
# The warm-up is long enough for wrk to name every session at least twice,
# so that the rounds measure sessions in use: a new session costs the Redis
# store three round trips (its lookup, its binding, the first read of it).
WARMUP=${WARMUP:-6s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
SESSIONS=${SESSIONS:-10000}
MEMORY_SESSIONS=${MEMORY_SESSIONS:-1000000}
# The memory run's one-off sessions share the trial tier, a fifth of
# max_sessions: room for all of them, however the table's shards fall.
export BENCH_MAX_SESSIONS=${BENCH_MAX_SESSIONS:-$((MEMORY_SESSIONS > 0 ? MEMORY_SESSIONS * 6 : 1000000))}
RESULTS=${RESULTS:-bench/runs/$(date -u +%Y%m%dT%H%M%SZ)}
for arg in "$@"; do
	case $arg in
	--publish) RESULTS=bench/results ;;
	*) echo "usage: bash bench/run.sh [--publish]" >&2; exit 2 ;;
	esac
done

export BENCH_ADMIN_PORT=${BENCH_ADMIN_PORT:-3041}
export BENCH_PORT_SCS=${BENCH_PORT_SCS:-9141}
export BENCH_PORT_SCS_SOAP=${BENCH_PORT_SCS_SOAP:-9142}
export BENCH_PORT_HEADER=${BENCH_PORT_HEADER:-9143}
export BENCH_PORT_RR=${BENCH_PORT_RR:-9144}
export BENCH_PORT_HAPROXY=${BENCH_PORT_HAPROXY:-9145}
export BENCH_PORT_NGINX=${BENCH_PORT_NGINX:-9146}
export BENCH_PORT_SCS_REDIS=${BENCH_PORT_SCS_REDIS:-9147}
export BENCH_REDIS=${BENCH_REDIS:-127.0.0.1:9148}
export BENCH_BACKEND_1=${BENCH_BACKEND_1:-127.0.0.1:9151}
export BENCH_BACKEND_2=${BENCH_BACKEND_2:-127.0.0.1:9152}
export BENCH_BACKEND_3=${BENCH_BACKEND_3:-127.0.0.1:9153}
export BENCH_BACKENDS="$BENCH_BACKEND_1 $BENCH_BACKEND_2 $BENCH_BACKEND_3"

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }

# --- tools -------------------------------------------------------------------
need_apt=()
command -v curl >/dev/null || need_apt+=(curl)
command -v wrk >/dev/null || need_apt+=(wrk)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need_apt+=(haproxy)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v redis-server >/dev/null || need_apt+=(redis-server)
if [ ${#need_apt[@]} -gt 0 ]; then
	log "installing ${need_apt[*]}"
	sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin"

work=$(mktemp -d /tmp/soap-affinity-bench.XXXXXX)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ "$ok" = 1 ]; then rm -rf "$work"; else log "logs kept in $work"; fi
}
ok=0
trap cleanup EXIT

log "building Caddy and the harness tools"
go build -o "$work/caddy" ./cmd/caddy
go build -o "$work/backend" ./bench/backend
go build -o "$work/bind" ./bench/bind
go build -o "$work/report" ./bench/report

# shellcheck source=bench/wait_port.sh
. bench/wait_port.sh # the cd above made the repository root the working directory
port_of() { echo "${1##*:}"; }

start_caddy() {
	"$work/caddy" run --config bench/conf/Caddyfile --adapter caddyfile >"$work/caddy.log" 2>&1 &
	caddy_pid=$!
	pids+=("$caddy_pid")
	wait_port "$BENCH_PORT_RR"
}

# --- processes ---------------------------------------------------------------
log "starting backends, Redis, Caddy, HAProxy, nginx"
# Loopback only, nothing written to disk.
redis-server --bind 127.0.0.1 --port "$(port_of "$BENCH_REDIS")" --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)
wait_port "$(port_of "$BENCH_REDIS")"
"$work/backend" -listen "$BENCH_BACKEND_1,$BENCH_BACKEND_2,$BENCH_BACKEND_3" >"$work/backend.log" 2>&1 &
pids+=($!)
for b in "$BENCH_BACKEND_1" "$BENCH_BACKEND_2" "$BENCH_BACKEND_3"; do wait_port "$(port_of "$b")"; done

start_caddy

haproxy -db -f bench/conf/haproxy.cfg >"$work/haproxy.log" 2>&1 &
pids+=($!)
wait_port "$BENCH_PORT_HAPROXY"

sed -e "s|@WORKDIR@|$work|g" -e "s|@PORT@|$BENCH_PORT_NGINX|g" \
	-e "s|@BACKEND_1@|$BENCH_BACKEND_1|g" -e "s|@BACKEND_2@|$BENCH_BACKEND_2|g" -e "s|@BACKEND_3@|$BENCH_BACKEND_3|g" \
	bench/conf/nginx.conf.in >"$work/nginx.conf"
nginx -p "$work" -c "$work/nginx.conf" >"$work/nginx.log" 2>&1 &
pids+=($!)
wait_port "$BENCH_PORT_NGINX"

# contender name, port, wrk script mode
all_contenders=(
	"caddy_round_robin $BENCH_PORT_RR header"
	"caddy_header $BENCH_PORT_HEADER header"
	"caddy_scs_header $BENCH_PORT_SCS header"
	"caddy_scs_redis $BENCH_PORT_SCS_REDIS header"
	"caddy_round_robin_soap $BENCH_PORT_RR soap"
	"caddy_scs_soap $BENCH_PORT_SCS_SOAP soap"
	"haproxy_stick $BENCH_PORT_HAPROXY header"
	"nginx_hash $BENCH_PORT_NGINX header"
)
# CONTENDERS (names, space-separated) narrows the run to some of them.
contenders=()
for name in ${CONTENDERS:-${all_contenders[*]%% *}}; do
	found=""
	for c in "${all_contenders[@]}"; do [ "${c%% *}" = "$name" ] && found=$c; done
	if [ -z "$found" ]; then
		echo "CONTENDERS: no contender $name; there are: ${all_contenders[*]%% *}" >&2
		exit 2
	fi
	contenders+=("$found")
done

# drive runs wrk against one contender and prints its RESULT line's fields.
drive() {
	local port=$1 mode=$2 duration=$3 out
	out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$duration" --latency -s bench/lua/sessions.lua \
		"http://127.0.0.1:$port/services/LoadBalanceProxy" -- "$mode" "$SESSIONS")
	grep '^RESULT ' <<<"$out" | cut -d' ' -f2-
}

# --- throughput ----------------------------------------------------------------
mkdir -p "$RESULTS"
raw="$RESULTS/raw.tsv"
printf '# round\tcontender\trequests/s\tp50_us\tp99_us\terrors\n' >"$raw"

log "warm-up: $WARMUP per contender"
for c in "${contenders[@]}"; do
	read -r name port mode <<<"$c"
	drive "$port" "$mode" "$WARMUP" >/dev/null
done

n=${#contenders[@]}
for round in $(seq "$ROUNDS"); do
	# Each round starts with another contender, so none always runs first.
	for i in $(seq 0 $((n - 1))); do
		read -r name port mode <<<"${contenders[$(((i + round - 1) % n))]}"
		read -r rps p50 p99 errors _ <<<"$(drive "$port" "$mode" "$DURATION")"
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$name" "$rps" "$p50" "$p99" "$errors" >>"$raw"
		log "round $round/$ROUNDS $name: $rps req/s, p50 ${p50}µs, p99 ${p99}µs, $errors errors"
	done
done

# --- memory ------------------------------------------------------------------
# A fresh Caddy; resident memory (VmRSS) and the Go heap in use after a forced
# GC (the admin endpoint's heap profile runs one and reports MemStats), before
# and after binding MEMORY_SESSIONS sessions.
# MEMORY_SESSIONS=0 skips it.
if [ "$MEMORY_SESSIONS" -gt 0 ]; then
	log "memory: restarting Caddy, binding $MEMORY_SESSIONS sessions"
	kill "$caddy_pid"; wait "$caddy_pid" 2>/dev/null || true
	start_caddy
	rss() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$caddy_pid/status"; }
	heap() {
		curl -fsS "http://127.0.0.1:$BENCH_ADMIN_PORT/debug/pprof/heap?gc=1&debug=1" | awk '/^# HeapInuse = / { print $4 }'
	}
	drive "$BENCH_PORT_SCS" header 1s >/dev/null # touch every code path once
	sleep 1
	heap_before=$(heap); rss_before=$(rss)
	"$work/bind" -url "http://127.0.0.1:$BENCH_PORT_SCS/" -n "$MEMORY_SESSIONS" >&2
	sleep 1
	heap_after=$(heap); rss_after=$(rss)
	# What the table holds, from the admin API: the per-session figures divide by it.
	held=$(curl -fsS "http://127.0.0.1:$BENCH_ADMIN_PORT/soap-affinity/policies" |
		grep -o '"name":"bench_header","sessions":[0-9]*' | grep -o '[0-9]*$')
	log "the table holds $held sessions"
	printf 'sessions\t%s\nrss_before\t%s\nrss_after\t%s\nheap_before\t%s\nheap_after\t%s\n' \
		"$held" "$rss_before" "$rss_after" "$heap_before" "$heap_after" >"$RESULTS/memory.tsv"
else
	rm -f "$RESULTS/memory.tsv" # not an earlier run's figures
fi

# --- report ------------------------------------------------------------------
{
	echo "# Run $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) CPUs: ROUNDS=$ROUNDS DURATION=$DURATION THREADS=$THREADS CONNECTIONS=$CONNECTIONS SESSIONS=$SESSIONS"
	echo "# $(go version); $(wrk --version 2>&1 | head -1); $(haproxy -v | head -1); $(nginx -v 2>&1)"
} >"$RESULTS/environment.txt"
cat "$RESULTS/environment.txt"
"$work/report" -raw "$raw" -memory "$RESULTS/memory.tsv" -out "$RESULTS"
log "results in $RESULTS/"
ok=1
