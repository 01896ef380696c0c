#!/usr/bin/env bash
# pgd-speed.sh: seconds per MNIST image of PGD-L2 at the paper's budget (80 steps x 5
# restarts, EOT 5, verdict EOT 5) on the zoo E-ABS through ONNX Runtime, measured, not
# extrapolated: eabs attack --attacks pgd-l2 on the first N (default 16) of the seeded
# test images (--sample-seed 1), two shards side by side (one core each), under
# /usr/bin/time, once per attacker configuration ARMS (warm1: 1 Adam step per warm
# evaluation and the full search at every restart and changed prediction, the default
# until 2026-11-29; warm1-restart5-changed5: those two answered by 5 Adam steps;
# warm0-restart5-changed5: that with 0 steps per warm evaluation, re-reading z* at the
# new image, the default since). Output in results/bench/pgd-l2-speed/:
# ARM.json (the attack result) and ARM.shard-i.time (GNU time -v of each shard).
# GROW=M then grows each arm's run to M images with --reuse (strength on more images).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${EABS_DATA_DIR:=/work/shared/data}"
export EABS_DATA_DIR
n=${N:-16}
E=${EABS_BIN:-bin/eabs}
out=results/bench/pgd-l2-speed
mkdir -p "$out"
. scripts/lib/build.sh
need_eabs "$E"
declare -A arms=(
	[warm1]="--warm-steps 1 --warm-restart 0 --warm-changed 0"
	[warm1-restart5-changed5]="--warm-steps 1 --warm-restart 5 --warm-changed 5"
	[warm0-restart5-changed5]="--warm-steps 0 --warm-restart 5 --warm-changed 5"
)
for arm in ${ARMS:-warm1 warm1-restart5-changed5 warm0-restart5-changed5}; do
	flags=${arms[$arm]}
	run() { # NAME N [extra flags]
		local name=$1 size=$2
		shift 2
		[ -f "$out/$name.json" ] && return
		local pids=()
		for i in 0 1; do
			/usr/bin/time -v -o "$out/$name.shard-$i.time" "$E" attack zoo:mnist-eabs --dataset mnist --n "$size" \
				--sample-seed 1 --seed 1 --shard "$i/2" --attacks pgd-l2 --pgd-restarts 5 --eot 5 --verdict-eot 5 \
				$flags --workers 1 --batch 8 --sweep-n 0 "$@" --out "$out/$name.part-{shard}.json" \
				2>"$out/$name.shard-$i.log" &
			pids+=($!)
		done
		for p in "${pids[@]}"; do wait "$p"; done
		"$E" report --merge "$out/$name".part-*-of-2.json --out "$out/$name.json"
		rm -f "$out/$name".part-*-of-2.json
	}
	run "$arm" "$n"
	[ -n "${GROW:-}" ] && run "$arm-$GROW" "$GROW" --reuse "$out/$arm.json"
done
