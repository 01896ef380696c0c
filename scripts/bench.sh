#!/usr/bin/env bash
# bench.sh: measure eabs against the PyTorch yardstick (../shared/bench/torch_ref.py) in
# the same run, and write the raw outputs plus a summary with the ratios to
# results/bench/<UTC timestamp>/. Each benchmark runs in its own process under
# /usr/bin/time -v, so its peak RSS is its own.
#
#   scripts/bench.sh [train|infer|infer-ort|all]      (default all; infer-ort skips the
#                                                      reference graph's ~10 minutes)
#
# Environment: TORCH_REF (default ../shared/bench/torch_ref.py), BENCH_QUICK=1 runs the
# inference benchmarks with 10 instead of 50 Adam steps (both sides), BENCH_BEFORE=COMMIT
# also runs the training benchmarks of that commit (built from git archive with this
# tree's train/bench_test.go, so both sides use one harness), each right before this
# tree's, as train-64-before and train-512-before: before and after from one run.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
case $what in train | infer | infer-ort | all) ;; *)
	echo "bench: unknown benchmark set $what (want train, infer, infer-ort or all)" >&2
	exit 2
	;;
esac
torch_ref=${TORCH_REF:-../shared/bench/torch_ref.py}
steps=50
[ "${BENCH_QUICK:-}" = 1 ] && steps=10
before=${BENCH_BEFORE:-}
if [ -n "$before" ]; then
	before=$(git rev-parse --verify "$before^{commit}") || { echo "bench: BENCH_BEFORE=$BENCH_BEFORE is not a commit" >&2; exit 2; }
fi
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
	echo "bench: installing Debian's python3-torch for the yardstick" >&2
	sudo_=""; [ "$(id -u)" -ne 0 ] && sudo_=sudo
	$sudo_ apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq python3-torch >/dev/null
fi
out=results/bench/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
dirty=$([ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && echo true || echo false)
{
	echo "commit: $commit (modified: $dirty)"
	echo "date: $(date -u +%FT%TZ)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
	echo "go: $(go version)"
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
	if [ -n "$before" ]; then echo "before: $before (train-*-before rows)"; fi
} >"$out/machine.txt"

# run NAME CMD...: run CMD under /usr/bin/time -v, keep stdout and the peak RSS.
run() {
	local name=$1
	shift
	echo "bench: $name: $*" >&2
	echo "$*" >"$out/$name.cmd"
	/usr/bin/time -v "$@" >"$out/$name.out" 2>"$out/$name.time" || { cat "$out/$name.time" >&2; return 1; }
	grep 'Maximum resident' "$out/$name.time" | awk '{print $NF}' >"$out/$name.maxrss_kb"
}

gobench() { # gobench NAME PKG PATTERN BENCHTIME
	go test -c -o "$out/$2.test" "./$2"
	run "$1" env EABS_BENCH_STEPS=$steps "$out/$2.test" -test.run '^$' -test.bench "^$3\$" -test.benchtime "$4"
}

# gobefore NAME PATTERN BENCHTIME: the training benchmark of commit $before.
gobefore() {
	[ -n "$before" ] || return 0
	if [ ! -x "$out/train-before.test" ]; then
		mkdir -p "$out/before-src"
		git archive "$before" | tar -x -C "$out/before-src"
		cp train/bench_test.go "$out/before-src/train/"
		(cd "$out/before-src" && go test -c -o "$OLDPWD/$out/train-before.test" ./train)
	fi
	run "$1" env EABS_BENCH_STEPS=$steps "$out/train-before.test" -test.run '^$' -test.bench "^$2\$" -test.benchtime "$3"
}

if [ "$what" = train ] || [ "$what" = all ]; then
	gobefore go-train-64-before BenchmarkTrainStepMNIST64 10x
	gobench go-train-64 train BenchmarkTrainStepMNIST64 10x
	run torch-train-64 /usr/bin/python3 "$torch_ref" train --batch 64 --iters 10
	gobefore go-train-512-before BenchmarkTrainStepMNIST512 3x
	gobench go-train-512 train BenchmarkTrainStepMNIST512 3x
	run torch-train-512 /usr/bin/python3 "$torch_ref" train --batch 512 --iters 3
fi
if [ "$what" = infer ] || [ "$what" = infer-ort ] || [ "$what" = all ]; then
	for b in 1 16 128; do
		n=$([ "$b" = 128 ] && echo 1x || echo 2x)
		gobench go-infer-ort-$b infer BenchmarkInferORT$b $n
		run torch-infer-$b /usr/bin/python3 "$torch_ref" infer --batch $b --iters 1 --steps $steps
	done
	# one single-threaded session computation per core, batches of 16 (eabs classify's default)
	gobench go-infer-ort-workers-16 infer BenchmarkInferORTWorkers16 2x
fi
if [ "$what" = infer ] || [ "$what" = all ]; then
	for b in 1 16 128; do
		gobench go-infer-ref-$b infer BenchmarkInferRef$b 1x
	done
fi
rm -rf "$out"/*.test "$out/before-src"
go run ./tools/benchsummary "$out" | tee "$out/summary.md"
