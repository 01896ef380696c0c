#!/usr/bin/env bash
# attack-mnist-eabs.sh: the zoo E-ABS under the gradient attacks on the first N of the same
# seeded random MNIST test images as the CNNs (--sample-seed 1), in two shards side by side,
# merged into results/mnist/$NAME.json (default mnist-eabs-N); resumable (rerun to
# continue a killed run). The attacker's gradient is eq. 8's adaptive gradient with EOT 5
# and the warm-started inference (WARM, default eabs attack's: --warm-steps 0
# --warm-restart 5 --warm-changed 5; mnist-eabs-100.json was made with
# WARM="--warm-steps 1 --warm-restart 0 --warm-changed 0"); PGD steps on to the end of a
# restart once fooled (--pgd-keep-going auto); every verdict is the model's own full
# inference with fresh noise, EOT 5.
# Budget: the paper's 80 PGD steps x RESTARTS (default the paper's 5) random restarts, on
# N images (default 100; PGD-L2 costs ~8 CPU-s per image with the default WARM, ~23 with
# the former 1-step one: results/bench/pgd-l2-speed/README.md; resumable per batch of 8
# and shardable on Slurm with deploy/slurm/submit.sh). ATTACKS (default pgd-linf,pgd-l2,
# lda) picks the attacks; the minimum-norm ones (ddn, cw-l2, deepfool-l2) cost more.
# REUSE=results/mnist/mnist-eabs-100.json grows that finished run of the same attacks
# (eabs attack --reuse): its 100 images are the first of the N, so only the rest are
# attacked.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${EABS_DATA_DIR:=/work/shared/data}"
export EABS_DATA_DIR
n=${N:-100}
restarts=${RESTARTS:-5}
attacks=${ATTACKS:-pgd-linf,pgd-l2,lda}
out=results/mnist
name=${NAME:-mnist-eabs-$n}
E=${EABS_BIN:-bin/eabs}
reuse=()
[ -n "${REUSE:-}" ] && reuse=(--reuse "$REUSE")
mkdir -p "$out"
[ -x "$E" ] || go build -o "$E" ./cmd/eabs
. scripts/lib/sharded.sh
sharded "$out" "$name" zoo:mnist-eabs --dataset mnist --n "$n" --sample-seed 1 --seed 1 \
	--attacks "$attacks" --pgd-restarts "$restarts" --eot 5 --verdict-eot 5 ${WARM:-} \
	--workers 1 --batch 8 --sweep-n 2 "${reuse[@]}"
