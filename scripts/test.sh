#!/usr/bin/env bash
# test.sh: the test command of the README and of CI. Run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
go test -count=1 ./...
# The shipped Slurm job files on a real one-node cluster (needs root; see the script).
./scripts/slurm-test.sh
