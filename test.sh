#!/bin/sh
# test.sh runs Quire's whole test suite with the race detector and Fyne's
# headless driver (-tags ci), inside a private network namespace whose
# loopback interface supports multicast (for mDNS), so no test traffic can
# leave the machine. Extra arguments go to `go test`, e.g. ./test.sh -run Relay ./relay
set -eu
cd "$(dirname "$0")"

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null 2>&1; then
	echo "test.sh: Go not found; install Go 1.26.6 or later and put it in PATH" >&2
	exit 1
fi
if ! command -v gcc >/dev/null 2>&1; then
	# The race detector needs cgo.
	./scripts/install-deps.sh
fi

# Fetch modules first: the namespace below has no network.
go mod download

[ $# -gt 0 ] || set -- ./...
set -- go test -race -tags ci -count=1 "$@"

if unshare -n true 2>/dev/null && command -v ip >/dev/null 2>&1; then
	echo "test.sh: running in a private network namespace: $*"
	exec unshare -n sh -c 'ip link set lo up && ip link set lo multicast on && exec "$@"' sh "$@"
fi
echo "test.sh: WARNING: cannot create a private network namespace (unshare -n not permitted here, or ip(8) missing);" >&2
echo "test.sh: running on the host network instead; tests listen on 127.0.0.1 only, but mDNS tests may be skipped or fail" >&2
exec "$@"
