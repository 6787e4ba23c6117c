#!/bin/sh
# run.sh installs what the desktop editor needs on Debian or Ubuntu (with
# apt-get, via sudo when not root), builds it and opens it. Arguments go to
# the editor, e.g. ./run.sh -data /tmp/scratch; ./run.sh -h lists them.
# Documents live in $QUIRE_DATA, or ~/.local/share/quire by default.
set -eu
cd "$(dirname "$0")"

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null 2>&1; then
	echo "run.sh: Go not found; install Go 1.26.6 or later and put it in PATH" >&2
	exit 1
fi
./scripts/install-deps.sh
echo "run.sh: building bin/quire (the first build compiles the OpenGL bindings and takes a few minutes)"
go build -o bin/quire ./cmd/quire
exec bin/quire "$@"
