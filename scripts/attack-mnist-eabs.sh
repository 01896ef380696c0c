#!/usr/bin/env bash
# attack-mnist-eabs.sh: the zoo E-ABS under the gradient attacks on the first N of the same
# seeded random MNIST test images as the CNNs (--sample-seed 1), in two shards side by side,
# merged into results/mnist/eabs/attack/$NAME.json (default mnist-eabs-N); resumable (rerun to
# continue a killed run). The attacker's gradient is eq. 8's adaptive gradient with EOT 5
# and the warm-started inference (WARM, default eabs attack's: --warm-steps 0
# --warm-restart 5 --warm-changed 5; mnist-eabs-100.json was made with
# WARM="--warm-steps 1 --warm-restart 0 --warm-changed 0"); PGD steps on to the end of a
# restart once fooled (--pgd-keep-going auto); every verdict is the model's own full
# inference with fresh noise, EOT 5.
# Budget: the paper's 80 PGD steps x RESTARTS (default the paper's: 5 on 28x28) random restarts, on
# N images (default 100; PGD-L2 costs ~8 CPU-s per image with the default WARM, ~23 with
# the former 1-step one: results/bench/pgd-l2-speed/README.md; resumable per batch of 8
# and shardable on Slurm with deploy/slurm/submit.sh). ATTACKS (default pgd-linf,pgd-l2,
# lda) picks the attacks; the minimum-norm ones (ddn, cw-l2, deepfool-l2) cost more.
# REUSE=results/mnist/eabs/attack/mnist-eabs-100.json grows that finished run of the same attacks
# (eabs attack --reuse): its 100 images are the first of the N, so only the rest are
# attacked. RETRIES sets --verdict-retries (default: eabs attack's, 3 for E-ABS); the
# committed runs predate it, so growing or resuming them needs RETRIES=0.
# DATASET (default mnist) and MODEL (default DATASET-eabs) attack another zoo E-ABS at
# the paper's budgets for its dataset (L2 1.5; Linf 0.1 on fashion-mnist, 8/255 on
# gtsrb-10; 20 PGD restarts on 32x32 images unless RESTARTS), into
# results/DATASET/M/attack/, M being MODEL without its dataset prefix (mnist-abs: abs):
#   DATASET=fashion-mnist N=200 ATTACKS=pgd-linf,pgd-l2 scripts/attack-mnist-eabs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${EABS_DATA_DIR:=/work/shared/data}"
export EABS_DATA_DIR
n=${N:-100}
dataset=${DATASET:-mnist}
model=${MODEL:-$dataset-eabs}
restarts=()
[ -n "${RESTARTS:-}" ] && restarts=(--pgd-restarts "$RESTARTS")
attacks=${ATTACKS:-pgd-linf,pgd-l2,lda}
out=results/$dataset/${model#"$dataset"-}/attack
name=${NAME:-$model-$n}
E=${EABS_BIN:-bin/eabs}
reuse=()
[ -n "${REUSE:-}" ] && reuse=(--reuse "$REUSE")
mkdir -p "$out"
. scripts/lib/build.sh
need_eabs "$E"
. scripts/lib/sharded.sh
sharded "$out" "$name" "zoo:$model" --dataset "$dataset" --n "$n" --sample-seed 1 --seed 1 \
	--attacks "$attacks" "${restarts[@]}" --eot 5 --verdict-eot 5 --verdict-retries "${RETRIES:--1}" ${WARM:-} \
	--workers 1 --batch 8 --sweep-n 2 "${reuse[@]}"
