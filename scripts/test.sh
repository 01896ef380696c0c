#!/usr/bin/env bash
# test.sh: the test command of the README and of CI. Run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
go vet ./...
# go.mod and go.sum list exactly what the code imports.
if ! go mod tidy -diff; then
	echo "go mod tidy would change go.mod/go.sum (diff above): run go mod tidy" >&2
	exit 1
fi
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
# OpenBLAS chooses its kernels by CPU, and OPENBLAS_CORETYPE overrides the choice. A
# sample's result must not depend on its batch under any of them (the batch-invariance
# tests, the shard merges), so the suite runs once per kernel family this CPU executes.
for ct in $(scripts/lib/coretypes.sh); do
	echo "test.sh: go test with OPENBLAS_CORETYPE=$ct"
	OPENBLAS_CORETYPE=$ct go test -count=1 ./...
done
# The shipped Slurm job files on a real one-node cluster (needs root; see the script),
# whose merged shards must equal the unsharded run under two kernel families.
for ct in $(scripts/lib/coretypes.sh | head -n 2); do
	echo "test.sh: slurm-test with OPENBLAS_CORETYPE=$ct"
	OPENBLAS_CORETYPE=$ct ./scripts/slurm-test.sh
done
