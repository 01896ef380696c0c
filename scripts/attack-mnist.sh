#!/usr/bin/env bash
# attack-mnist.sh: the MNIST robustness table (the paper's Table 2) for the zoo's E-ABS
# and CNN on the same seeded random test images, with McNemar p-values, the curves and
# the adversarial grids, written to results/mnist/.
#
#   scripts/attack-mnist.sh
#
# Settings come from the environment (defaults in brackets):
#   N [500]            images per model (the same --sample-seed 1 list for both)
#   ATTACKS [pgd-l2,pgd-linf]  attacks, in order (see eabs attack --help)
#   SHARDS [2]         parts run in parallel (one per core); merged after
#   EXTRA []           more eabs attack flags (e.g. "--pgd-steps 20" for a quick run)
# Each part saves its state after every batch: rerunning the script resumes a killed
# run; a finished part is kept (delete results/mnist/*.json to start over).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-500}
attacks=${ATTACKS:-pgd-l2,pgd-linf}
shards=${SHARDS:-2}
out=results/mnist
mkdir -p "$out"
go build -o bin/eabs ./cmd/eabs

for model in mnist-cnn mnist-eabs; do
  final="$out/$model.json"
  if [[ -f $final ]]; then
    echo "keeping $final"
    continue
  fi
  pids=()
  for ((i = 0; i < shards; i++)); do
    part="$out/$model.part-$i-of-$shards.json"
    [[ -f $part ]] && continue
    # shellcheck disable=SC2086
    bin/eabs attack "zoo:$model" --dataset mnist --attacks "$attacks" --n "$n" --sample-seed 1 \
      --shard "$i/$shards" --workers 1 --out "$out/$model.part-{shard}.json" ${EXTRA:-} 2> "$out/$model.part-$i-of-$shards.log" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  bin/eabs report --merge "$out/$model".part-*-of-"$shards".json --out "$final"
done
bin/eabs report "$out/mnist-eabs.json" "$out/mnist-cnn.json" --out-dir "$out" | tee "$out/README-table.md"
