#!/usr/bin/env bash
# submit.sh: submit a sharded eabs evaluation to Slurm: a job array of N shards and a merge
# job that runs after all of them succeeded (--dependency=afterok), and is cancelled if
# one fails (--kill-on-invalid-dep=yes) instead of waiting forever.
#
#   deploy/slurm/submit.sh N RESULTS_DIR eabs-subcommand-and-flags...
#   deploy/slurm/submit.sh 8 results/mnist-eabs-pgd attack zoo:mnist-eabs --dataset mnist --attacks pgd-l2 --n 500
#
# Prints the two job ids (shards, merge). Extra sbatch options: SBATCH_* environment
# variables (e.g. SBATCH_PARTITION, SBATCH_TIMELIMIT), which sbatch reads itself.
set -euo pipefail
if [ $# -lt 3 ]; then
	echo "usage: $0 N RESULTS_DIR eabs-subcommand [flags...]" >&2
	exit 2
fi
n=$1 results=$2
shift 2
case $n in
'' | *[!0-9]* | 0) echo "submit: N must be a positive integer, got '$n'" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$results"
export EABS_ARGS="$*" EABS_SHARDS=$n EABS_RESULTS=$results
shards=$(sbatch --parsable --array=0-$((n - 1)) --export=ALL -o "$results/shard-%a.log" "$here/eabs-shard.sbatch")
merge=$(sbatch --parsable --dependency=afterok:"$shards" --kill-on-invalid-dep=yes --export=ALL -o "$results/merge.log" "$here/eabs-merge.sbatch")
echo "$shards $merge"
