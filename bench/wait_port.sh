# wait_port waits (up to 10 s) until something listens on 127.0.0.1:$1, and
# exits the sourcing script if nothing does. Sourced by run.sh and learn.sh.
wait_port() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on port $1" >&2
	exit 1
}
