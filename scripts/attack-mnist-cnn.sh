#!/usr/bin/env bash
# attack-mnist-cnn.sh MODEL: the whole attack suite on a zoo CNN on the 500 seeded random
# MNIST test images (--sample-seed 1, the images every model is evaluated on), in two
# shards run side by side and merged, resumable (rerun to continue a killed run).
#   results/mnist/MODEL-gradient.json  PGD and APGD (CE, DLR) in both norms, each on every
#                                      correctly classified sample (--attack-all): each
#                                      column is that attack's own accuracy
#   results/mnist/MODEL-all.json       every attack in order, each on the samples still
#                                      robust in its norm: "All" is the per-sample worst
#                                      case; gradient-free attacks at --queries 5000
# SETS (default "gradient all") picks which of the two files to make.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: $0 MODEL (a zoo CNN, e.g. mnist-cnn)}
n=${N:-500}
out=results/mnist
mkdir -p "$out"
[ -x bin/eabs ] || go build -o bin/eabs ./cmd/eabs
run() { # name, then attack flags
	local name=$1
	shift
	local final=$out/$model-$name.json
	[ -f "$final" ] && { echo "keeping $final"; return; }
	local pids=()
	for i in 0 1; do
		[ -f "$out/$model-$name.part-$i-of-2.json" ] && continue
		bin/eabs attack "zoo:$model" --dataset mnist --n "$n" --sample-seed 1 --seed 1 --shard "$i/2" \
			--out "$out/$model-$name.part-{shard}.json" "$@" 2>"$out/$model-$name.part-$i-of-2.log" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	bin/eabs report --merge "$out/$model-$name".part-*-of-2.json --out "$final"
	rm -f "$out/$model-$name".part-*-of-2.json
}
sets=${SETS:-gradient all}
[[ " $sets " == *" gradient "* ]] && run gradient --attack-all --attacks pgd-l2,apgd-ce-l2,apgd-dlr-l2,pgd-linf,apgd-ce-linf,apgd-dlr-linf
[[ " $sets " == *" all "* ]] && run all --queries 5000 --attacks pgd-linf,apgd-ce-linf,apgd-dlr-linf,deepfool-linf,noise-linf,square-linf,nes-linf,spsa-linf,hsj-linf,pgd-l2,apgd-ce-l2,apgd-dlr-l2,ddn,cw-l2,deepfool-l2,noise-l2,square-l2,nes-l2,spsa-l2,hsj-l2,boundary-l2
