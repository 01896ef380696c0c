#!/usr/bin/env bash
# run.sh: the before/after measurement of this folder's README, in one go.
#   results/bench/issue30-train-20261206/run.sh BEFORE_COMMIT AFTER_COMMIT
# Builds train.test of both commits with AFTER's benchmark harness (train/bench_test.go:
# the same code measures both), then alternates them ABBA: batch 64 (10 steps per run)
# 5 times, batch 512 (3 steps per run) 3 times, and the SGEMM peak
# (internal/blas BenchmarkSgemm1024Parallel) before and after; everything at nice 5.
# Raw lines go to raw.txt (with the load average at each run), the machine to machine.txt.
set -euo pipefail
cd "$(dirname "$0")"
out=$PWD
before=$(git rev-parse --short "$1") after=$(git rev-parse --short "$2")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for c in "$before" "$after"; do
	mkdir -p "$tmp/$c"
	(cd "$(git rev-parse --show-toplevel)" && git archive "$c" | tar -x -C "$tmp/$c")
	git -C "$(git rev-parse --show-toplevel)" show "$after:train/bench_test.go" >"$tmp/$c/train/bench_test.go"
	(cd "$tmp/$c" && go test -c -o "$tmp/train-$c.test" ./train)
done
(cd "$tmp/$after" && go test -c -o "$tmp/blas.test" ./internal/blas)
{
	echo "date: $(date -u +%FT%TZ)"
	echo "before: $before  after: $after"
	echo "go: $(go version)"
	lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket|L1d|L2|L3)'
	echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
	echo "load at start: $(cat /proc/loadavg)"
	echo "processes at start (top CPU):"
	ps -eo pid,ni,pcpu,etime,comm --sort=-pcpu | head -8
} >"$out/machine.txt"
run() { # NAME BIN ARGS...
	local name=$1; shift
	local line
	line=$(nice -n 5 "$@" | grep '^Benchmark')
	echo "$name load $(cut -d' ' -f1-3 /proc/loadavg) $line" | tee -a "$out/raw.txt"
}
: >"$out/raw.txt"
run sgemm-start "$tmp/blas.test" -test.run '^$' -test.bench '^BenchmarkSgemm1024Parallel$' -test.benchtime 10x
for spec in "64 10x 5" "512 3x 3"; do
	set -- $spec
	for r in $(seq "$3"); do
		order="$before $after"
		[ $((r % 2)) = 0 ] && order="$after $before"
		for c in $order; do
			tag=after
			[ "$c" = "$before" ] && tag=before
			run "$tag-$1" "$tmp/train-$c.test" -test.run '^$' -test.bench "^BenchmarkTrainStepMNIST$1\$" -test.benchtime "$2"
		done
	done
done
run sgemm-end "$tmp/blas.test" -test.run '^$' -test.bench '^BenchmarkSgemm1024Parallel$' -test.benchtime 10x
echo "load at end: $(cat /proc/loadavg)" >>"$out/machine.txt"
