#!/usr/bin/env bash
# Measures what Redis holds per session, and what its tracking table (the
# server side of client-side caching) costs as nodes read the sessions: see
# README.md. N sessions (default 1000000), NODES node processes (default 8,
# started in batches of 1, 1, 2, 4 so that the table is shown after 1, 2, 4
# and 8), a redis-server of its own on PORT (default 6390).
set -euo pipefail
N=${N:-1000000}
NODES=${NODES:-8}
PORT=${PORT:-6390}
cd "$(dirname "$0")/../.."

tmp=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/redis-scale" ./bench/redis-scale
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" >"$tmp/redis.log" 2>&1 &
pids+=($!)
cli() { redis-cli -p "$PORT" "$@" | tr -d '\r'; }
for _ in $(seq 100); do cli ping >/dev/null 2>&1 && break; sleep 0.1; done
field() { cli info "$1" | awk -F: -v k="$2" '$1 == k { print $2 }'; }

echo "redis $(redis-server --version | awk '{print $3}' | cut -d= -f2), commit $(git rev-parse --short HEAD), $(date -u +%F)"
base=$(field memory used_memory)
"$tmp/redis-scale" -addr "127.0.0.1:$PORT" -mode bind -n "$N"
bound=$(field memory used_memory)
key="soap_affinity:LoadBalanceProxy:6e8bc430-9c3a-11d9-9669-000000000000"
echo "DBSIZE $(cli dbsize); used_memory $base -> $bound: $(((bound - base) / N)) bytes per session"
echo "MEMORY USAGE $key SAMPLES 0: $(cli memory usage "$key" samples 0) bytes (value $(cli get "$key"), PTTL $(cli pttl "$key") ms)"
echo "tracking-table-max-keys: $(cli config get tracking-table-max-keys | tail -1)"

printf 'nodes\ttracking_total_keys\ttracking_total_items\tused_memory\tbytes per item\tconnected_clients\n'
started=0
for batch in 1 1 2 4 8 16 32 64; do
	((started < NODES)) || break
	batch=$((batch < NODES - started ? batch : NODES - started))
	first=$((started + 1))
	for i in $(seq "$first" $((started + batch))); do
		"$tmp/redis-scale" -addr "127.0.0.1:$PORT" -mode follow -n "$N" >"$tmp/node$i.out" 2>&1 &
		pids+=($!)
	done
	started=$((started + batch))
	for i in $(seq "$first" "$started"); do
		for _ in $(seq 6000); do grep -q '^ready' "$tmp/node$i.out" && break; sleep 0.1; done
		grep -q '^ready' "$tmp/node$i.out" || { echo "node $i not ready after 600s:"; cat "$tmp/node$i.out"; exit 1; }
	done
	items=$(field stats tracking_total_items)
	mem=$(field memory used_memory)
	printf '%d\t%s\t%s\t%s\t%d\t%s\n' "$started" "$(field stats tracking_total_keys)" "$items" "$mem" \
		$(((mem - bound) / items)) "$(field clients connected_clients)"
done
echo "node 1: $(head -1 "$tmp/node1.out"); node $started: $(head -1 "$tmp/node$started.out")"
echo "connections in tracking mode (CLIENT LIST flags=t): $(cli client list | grep -c 'flags=t')"
echo "used_memory_human $(field memory used_memory_human), used_memory_rss_human $(field memory used_memory_rss_human)"

# Past tracking-table-max-keys, Redis invalidates tracked keys (at random)
# until the table fits again: the nodes lose those cached bindings.
cli config set tracking-table-max-keys $((N / 2)) >/dev/null
sleep 2
echo "with tracking-table-max-keys $((N / 2)): tracking_total_keys $(field stats tracking_total_keys), tracking_total_items $(field stats tracking_total_items), used_memory $(field memory used_memory)"
cli config set tracking-table-max-keys 1000000 >/dev/null
