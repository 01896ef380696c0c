#!/usr/bin/env bash
# bench.sh: measure eabs's training and full inference against the machine's limit and
# the PyTorch yardstick (../shared/bench/torch_ref.py) in one run, and print one table:
# per stage and engine the images/s, the FLOP rate (FLOP per image counted from the
# architecture: models.Cost, train.StepCost, infer.ClassifyWork), its fraction of the
# SGEMM peak measured in the same run (internal/blas BenchmarkSgemm1024Parallel, before
# and after the benchmarks), the ratio to PyTorch and to the code before (--before).
# Raw outputs and the summary (summary.md; summary.json with the command, commit and
# machine) go to results/bench/NAME/. Each benchmark runs in its own process under
# /usr/bin/time -v, so its peak RSS is its own.
#
#   scripts/bench.sh [--quick] [--name NAME] [--before COMMIT] [--no-torch]
#                    [train|infer|infer-ort|all]
#
#   train      training steps at batch 64 and 512 (the paper's)
#   infer-ort  full inference on ONNX Runtime: one session on all cores at batch 1, 16
#              and 128, and a single-threaded session per core at batch 16 (eabs
#              classify's default)
#   infer      infer-ort and the Go reference graph at batch 16 (about a minute more)
#   all        (default) train and infer
#   --quick    a check that everything runs, not a measurement: 2 Adam steps, 1000 bank
#              starts, one or two iterations, only the batch-16 inference rows, and no
#              PyTorch install (a few minutes on two busy cores)
#   --name     the folder under results/bench/ (default: the UTC time); never reused
#   --before   also run the training and ORT batch-16 inference benchmarks of COMMIT,
#              built from `git archive COMMIT` with this tree's harness (the
#              benchmarks, internal/benchmetric and the cost files), each right before
#              this tree's: before and after from one run, and their ratio
#   --no-torch skip the PyTorch yardstick. Without it, a missing python3-torch is
#              installed with apt-get (not in --quick); if PyTorch still cannot run, the
#              table says so and the run goes on
#
# Environment (older spellings): TORCH_REF (default ../shared/bench/torch_ref.py),
# BENCH_QUICK=1 (--quick), BENCH_BEFORE=COMMIT (--before).
#
# The numbers mean something only on a quiet machine: background jobs, even at nice
# 19, share the caches and memory bandwidth. machine.txt records the load.
set -euo pipefail
cd "$(dirname "$0")/.."
cmdline="scripts/bench.sh $*"
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
what=all quick=${BENCH_QUICK:-0} name="" before=${BENCH_BEFORE:-} torch=1
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--no-torch) torch=0 ;;
	--name) name=${2:?bench: --name needs a value}; shift ;;
	--name=*) name=${1#--name=} ;;
	--before) before=${2:?bench: --before needs a commit}; shift ;;
	--before=*) before=${1#--before=} ;;
	-h | --help) usage; exit 0 ;;
	train | infer | infer-ort | all) what=$1 ;;
	*)
		echo "bench: unknown argument $1 (want --quick, --name NAME, --before COMMIT, --no-torch, and train, infer, infer-ort or all)" >&2
		exit 2
		;;
	esac
	shift
done
[ "$quick" = 1 ] || quick=0
torch_ref=${TORCH_REF:-../shared/bench/torch_ref.py}
if [ -n "$before" ]; then
	given=$before
	before=$(git rev-parse --verify --quiet "$given^{commit}") || { echo "bench: --before: $given is not a commit" >&2; exit 2; }
fi
name=${name:-$(date -u +%Y%m%dT%H%M%SZ)}
case $name in */* | .* | "") echo "bench: --name $name: want a plain folder name" >&2; exit 2 ;; esac
out=results/bench/$name
if [ -e "$out" ]; then
	echo "bench: $out exists; choose another --name" >&2
	exit 2
fi
mkdir -p "$out"

# Settings of this run: full measurement, or a quick check of the plumbing.
steps=50 starts=8000
sgemm_n=20x train64_n=10x train512_n=3x infer_n=2x infer128_n=1x torch_train=(10 3) torch_iters=1
# PyTorch's two OpenMP threads spin at their barriers: on a loaded machine a step can
# take minutes, so each yardstick run has a time limit, and --quick runs one thread.
torch_threads=2 torch_limit=3600
if [ "$quick" = 1 ]; then
	steps=2 starts=1000
	sgemm_n=6x train64_n=2x train512_n=1x infer_n=1x infer128_n=1x torch_train=(1 1) torch_iters=1
	torch_threads=1 torch_limit=300
fi

# PyTorch: run it if it imports, install it (not in --quick) if it does not, and say
# why not otherwise.
torch_status=ran
have_torch() { /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; }
if [ "$torch" = 0 ]; then
	torch_status="skipped (--no-torch)"
elif [ ! -f "$torch_ref" ]; then
	torch_status="skipped: $torch_ref not found (set TORCH_REF)"
elif ! [ -x /usr/bin/python3 ]; then
	torch_status="skipped: no /usr/bin/python3"
elif ! have_torch; then
	if [ "$quick" = 0 ] && command -v apt-get >/dev/null; then
		echo "bench: installing Debian's python3-torch for the yardstick" >&2
		sudo_=""
		[ "$(id -u)" -ne 0 ] && sudo_=sudo
		{ $sudo_ apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq python3-torch; } >"$out/torch-install.log" 2>&1 || true
	fi
	have_torch || torch_status="skipped: python3 cannot import torch (apt-get install python3-torch)"
fi
[ "$torch_status" = ran ] || echo "bench: PyTorch yardstick $torch_status" >&2

commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
dirty=$([ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && echo true || echo false)
{
	echo "commit: $commit (modified: $dirty)"
	echo "date: $(date -u +%FT%TZ)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
	echo "go: $(go version)"
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
	if [ -n "$before" ]; then echo "before: $before (rows marked before)"; fi
} >"$out/machine.txt"
printf 'quick=%s\nsteps=%s\nstarts=%s\ntorch=%s\nbefore=%s\nset=%s\n' "$quick" "$steps" "$starts" "$torch_status" "$before" "$what" >"$out/settings.env"

# run NAME CMD...: run CMD under /usr/bin/time -v, keep stdout and the peak RSS.
run() {
	local name=$1
	shift
	echo "bench: $name: $*" >&2
	echo "$*" >"$out/$name.cmd"
	/usr/bin/time -v "$@" >"$out/$name.out" 2>"$out/$name.time" || { cat "$out/$name.time" >&2; return 1; }
	grep 'Maximum resident' "$out/$name.time" | awk '{print $NF}' >"$out/$name.maxrss_kb"
}

# torchrun NAME ARGS...: the yardstick, if it can run; a failure or a run beyond the
# time limit is reported, not fatal.
torchrun() {
	[ "$torch_status" = ran ] || return 0
	run "$1" timeout "$torch_limit" /usr/bin/python3 "$torch_ref" "${@:2}" --threads "$torch_threads" ||
		echo "bench: $1 failed or took over ${torch_limit}s; its rows have no PyTorch column" >&2
}

benv=(env EABS_BENCH_STEPS=$steps)
[ "$quick" = 1 ] && benv+=(EABS_BENCH_STARTS=$starts)

# gobench NAME PKG PATTERN BENCHTIME: one benchmark of this tree.
gobench() {
	[ -x "$out/$2.test" ] || go test -c -o "$out/$2.test" "./$2"
	run "$1" "${benv[@]}" "$out/$2.test" -test.run '^$' -test.bench "^$3\$" -test.benchtime "$4"
}

# gobefore NAME PKG PATTERN BENCHTIME: the same benchmark of the before commit, built
# with this tree's harness.
gobefore() {
	[ -n "$before" ] || return 0
	if [ ! -d "$out/before-src" ]; then
		mkdir -p "$out/before-src"
		git archive "$before" | tar -x -C "$out/before-src"
		for f in train/bench_test.go infer/bench_test.go internal/benchmetric models/cost.go train/cost.go infer/cost.go; do
			mkdir -p "$out/before-src/$(dirname "$f")"
			cp -r "$f" "$out/before-src/$(dirname "$f")/"
		done
	fi
	[ -x "$out/$2-before.test" ] || (cd "$out/before-src" && go test -c -o "$OLDPWD/$out/$2-before.test" "./$2")
	run "$1" "${benv[@]}" "$out/$2-before.test" -test.run '^$' -test.bench "^$3\$" -test.benchtime "$4"
}

# peak NAME: the SGEMM rates; the parallel one is the peak the benchmarks compare with
# (GFLOP/s of wall time, and cpu-GFLOP/s per CPU second for the CPU fractions).
peak() {
	[ -x "$out/blas.test" ] || go test -c -o "$out/blas.test" ./internal/blas
	run "$1" "$out/blas.test" -test.run '^$' -test.bench '^BenchmarkSgemm1024(Parallel)?$' -test.benchtime "$sgemm_n"
}
metric() { # metric FILE BENCHMARK UNIT
	awk -v b="$2" -v u="$3" '$1 ~ "^"b"(-[0-9]+)?$" { for (i = 3; i < NF; i++) if ($(i+1) == u) print $i }' "$1"
}
peak go-sgemm-peak
EABS_BENCH_PEAK_GFLOPS=$(metric "$out/go-sgemm-peak.out" BenchmarkSgemm1024Parallel GFLOP/s)
EABS_BENCH_PEAK_CPU_GFLOPS=$(metric "$out/go-sgemm-peak.out" BenchmarkSgemm1024Parallel cpu-GFLOP/s)
[ -n "$EABS_BENCH_PEAK_GFLOPS" ] && [ -n "$EABS_BENCH_PEAK_CPU_GFLOPS" ] || { echo "bench: no SGEMM peak in $out/go-sgemm-peak.out" >&2; exit 1; }
export EABS_BENCH_PEAK_GFLOPS EABS_BENCH_PEAK_CPU_GFLOPS
echo "bench: SGEMM peak $EABS_BENCH_PEAK_GFLOPS GFLOP/s, $EABS_BENCH_PEAK_CPU_GFLOPS GFLOP per CPU second" >&2

if [ "$what" = train ] || [ "$what" = all ]; then
	gobefore go-train-64-before train BenchmarkTrainStepMNIST64 "$train64_n"
	gobench go-train-64 train BenchmarkTrainStepMNIST64 "$train64_n"
	torchrun torch-train-64 train --batch 64 --iters "${torch_train[0]}"
	gobefore go-train-512-before train BenchmarkTrainStepMNIST512 "$train512_n"
	gobench go-train-512 train BenchmarkTrainStepMNIST512 "$train512_n"
	torchrun torch-train-512 train --batch 512 --iters "${torch_train[1]}"
fi
if [ "$what" = infer ] || [ "$what" = infer-ort ] || [ "$what" = all ]; then
	batches="1 16 128"
	[ "$quick" = 1 ] && batches=16
	for b in $batches; do
		n=$([ "$b" = 128 ] && echo "$infer128_n" || echo "$infer_n")
		gobench go-infer-ort-$b infer BenchmarkInferORT$b "$n"
		torchrun torch-infer-$b infer --batch "$b" --iters "$torch_iters" --steps "$steps"
	done
	# one single-threaded session per core, batches of 16 (eabs classify's default)
	gobefore go-infer-ort-workers-16-before infer BenchmarkInferORTWorkers16 "$infer_n"
	gobench go-infer-ort-workers-16 infer BenchmarkInferORTWorkers16 "$infer_n"
fi
if [ "$what" = infer ] || [ "$what" = all ]; then
	gobench go-infer-ref-16 infer BenchmarkInferRef16 1x
fi
peak go-sgemm-peak-end
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"
rm -rf "$out"/*.test "$out/before-src"
go run ./tools/benchsummary -command "$cmdline" -commit "$commit" -modified="$dirty" "$out"
