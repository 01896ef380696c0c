#!/usr/bin/env bash
# inference-ablation.sh: which part of the paper's inference moves a zoo E-ABS's
# accuracy. On the first N images of a split (default: validation, so that nothing here
# is chosen on the test set), ONNX Runtime classifies with
#   encoder    the encoder's mean only (--starts 0 --infer-steps 0; the same as --amortized)
#   bank       the best of the 8000 random means and the encoder's (--infer-steps 0)
#   steps      the encoder's Q(z|x) optimised by 50 Adam steps (--starts 0)
#   full       the paper's: the best of 8000+1 starts, then 50 Adam steps (the default)
#   full-lr0.01, full-final   the full inference with a smaller step size, and with l_k
#              read at the optimised mean instead of the lowest loss seen (--loss-at final)
# and writes results/DATASET/M/inference-ablation/SPLIT-N-VARIANT.json and table.md (M:
# NAME without the DATASET- prefix, e.g. results/gtsrb-10/eabs/). MODEL (default
# zoo:NAME) classifies another model file instead, e.g. a training run's epoch, into OUT
# (default results/DATASET/M/inference-ablation).
#
#   scripts/inference-ablation.sh NAME DATASET N [SPLIT]   e.g. gtsrb-10-eabs gtsrb-10 300
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 3 ] || { echo "usage: $0 NAME DATASET N [SPLIT]" >&2; exit 2; }
name=$1 dataset=$2 n=$3 split=${4:-val}
E=${EABS_BIN:-bin/eabs}
model=${MODEL:-zoo:$name}
out=${OUT:-results/$dataset/${name#"$dataset"-}/inference-ablation}
mkdir -p "$out"
. scripts/lib/build.sh
need_eabs "$E"
variants=(
	"encoder|--starts 0 --infer-steps 0"
	"bank|--infer-steps 0"
	"steps|--starts 0"
	"full|"
	"full-lr0.01|--infer-lr 0.01"
	"full-final|--loss-at final"
)
for v in "${variants[@]}"; do
	label=${v%%|*} flags=${v#*|}
	# shellcheck disable=SC2086 # flags are words
	"$E" classify "$model" --dataset "$dataset" --split "$split" --n "$n" --sample-seed 0 --runtime ort --batch 16 --seed 1 \
		$flags --out "$out/$split-$n-$label.json"
done
{
	echo "# $name: inference ablation on the first $n $split images of $dataset"
	echo
	echo "\`${MODEL:+MODEL=$MODEL }${OUT:+OUT=$OUT }scripts/inference-ablation.sh $name $dataset $n $split\` (model $model; ONNX Runtime, seed 1, bank seed 1)"
	echo
	echo "| variant | flags | correct | accuracy | 95% CI |"
	echo "|---|---|---:|---:|---|"
	for v in "${variants[@]}"; do
		label=${v%%|*} flags=${v#*|}
		jq -r --arg l "$label" --arg f "${flags:-(the defaults)}" \
			'"| \($l) | `\($f)` | \(.correct)/\(.n) | \(.accuracy*10000|round/10000) | [\(.ci95[0]*10000|round/10000), \(.ci95[1]*10000|round/10000)] |"' \
			"$out/$split-$n-$label.json"
	done
} >"$out/table.md.tmp"
mv "$out/table.md.tmp" "$out/table.md"
cat "$out/table.md"
