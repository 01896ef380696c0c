#!/usr/bin/env bash
# slurm-test.sh: the shipped Slurm job files on a real one-node cluster. Starts Slurm on this
# machine (scripts/slurm-cluster.sh), submits deploy/slurm/submit.sh as a 3-task array plus
# its merge job for `classify` (CNN and E-ABS), `attack`, `certify` (E-ABS) and
# `certify --smoothing` on the embedded models and a few embedded images, waits
# (bounded), and checks that each merged result equals an unsharded
# run of the same command exactly; stops the daemons it started on every exit.
#
# Needs root (the daemons run as root). Without root it skips, unless
# EABS_REQUIRE_RUNTIMES=1 (CI), where that is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	if [ "${EABS_REQUIRE_RUNTIMES:-}" = 1 ]; then
		echo "slurm-test: FAIL: needs root to start slurmctld and slurmd" >&2
		exit 1
	fi
	echo "slurm-test: skipped (needs root to start slurmctld and slurmd)" >&2
	exit 0
fi
. scripts/lib/build.sh
need_eabs bin/eabs
eabs=$(pwd)/bin/eabs
work=$(mktemp -d)
chmod 755 "$work" # munged (user munge) must reach its socket inside
state=$work/slurm
cleanup() { scripts/slurm-cluster.sh stop "$state" || true; rm -rf "$work"; }
trap cleanup EXIT
if ! conf=$(timeout 180 scripts/slurm-cluster.sh start "$state"); then
	echo "slurm-test: FAIL: the one-node Slurm cluster did not start (see the messages above)" >&2
	exit 1
fi
eval "$conf"
export EABS=$eabs EABS_DATA_DIR=${EABS_DATA_DIR:-}

# wait_job ID: until Slurm has finished the job (bounded); prints its final state.
wait_job() {
	local id=$1 st=""
	for _ in $(seq 1 300); do
		st=$(scontrol show job "$id" -o 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | sort -u | tr '\n' ' ')
		case $st in
		*PENDING* | *RUNNING* | *CONFIGURING* | *COMPLETING* | "") sleep 1 ;;
		*) echo "$st"; return 0 ;;
		esac
	done
	echo "TIMEOUT($st)"
}

status=0 passed=0 failed=0
check() { # name, then the eabs subcommand and flags
	local name=$1
	shift
	local dir=$work/$name
	mkdir -p "$dir"
	"$eabs" "$@" --shard 0/1 --out "$dir/whole.json" >"$dir/whole.log" 2>&1 || {
		echo "slurm-test: FAIL: unsharded eabs $* failed: $(tail -3 "$dir/whole.log")" >&2
		status=1 failed=$((failed + 1))
		return
	}
	read -r shards merge < <(deploy/slurm/submit.sh 3 "$dir/parts" "$@")
	local st
	st=$(wait_job "$shards")
	local mst
	mst=$(wait_job "$merge")
	if [ "$mst" != "COMPLETED " ]; then
		echo "slurm-test: FAIL: $name: shard array $shards ended $st, merge job $merge ended $mst" >&2
		tail -n 5 "$dir"/parts/*.log >&2 || true
		status=1 failed=$((failed + 1))
		return
	fi
	if ! "$eabs" report --same "$dir/whole.json" "$dir/parts/merged.json"; then
		echo "slurm-test: FAIL: $name: the merged shards differ from the unsharded run" >&2
		status=1 failed=$((failed + 1))
		return
	fi
	passed=$((passed + 1))
	echo "slurm-test: $name: 3 shards on Slurm (array $shards, merge $merge) merged equal the unsharded run"
}

check classify classify zoo:mnist-cnn --dataset mnist-sample --n 12
check classify-eabs classify zoo:mnist-eabs --dataset mnist-sample --n 7 --starts 200 --infer-steps 5
check attack attack zoo:mnist-cnn --dataset mnist-sample --attacks pgd-l2,pgd-linf --n 9
check certify certify zoo:mnist-eabs --dataset mnist-sample --n 5 --starts 50 --infer-steps 3 --restarts 1 --max-restarts 2
check certify-smoothing certify --smoothing 0.25 zoo:mnist-cnn --dataset mnist-sample --n 6 --samples 200 --n0 20
echo "slurm-test: $passed passed, $failed failed"
exit $status
