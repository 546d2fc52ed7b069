#!/usr/bin/env bash
# The project's tests, with what they need: on a machine with only Go, this
# installs the missing Debian packages (as root, with apt-get; otherwise it
# says what to install) and runs `go test -race -p 1 ./...`.
#
#   ./test.sh                    # every test
#   ./test.sh -run Demo ./e2e    # arguments replace ./...
#
# The race detector needs cgo, hence gcc; the documentation's commands use curl; the
# Redis store's tests start their own redis-server and redis-sentinel. CI
# (.ci/run) runs this script.
set -euo pipefail
cd "$(dirname "$0")"

# command:packages for each tool the tests run.
needed=("gcc:gcc libc6-dev" curl:curl redis-server:redis-server redis-sentinel:redis-sentinel)
missing=()
for entry in "${needed[@]}"; do
	# shellcheck disable=SC2206 # a command may need several packages
	command -v "${entry%%:*}" >/dev/null || missing+=(${entry#*:})
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "The tests need ${missing[*]}, which are not installed. Install them, e.g.:" >&2
		echo "  sudo apt-get install -y ${missing[*]}" >&2
		echo "or run this script as root, which installs them." >&2
		exit 1
	fi
	echo "installing ${missing[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# -timeout: under -race on a slow or shared machine caddymodule's flood and
# chaos tests take longer than go test's 10-minute default.
exec go test -race -p 1 -timeout 30m "${@:-./...}"
