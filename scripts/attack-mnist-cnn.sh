#!/usr/bin/env bash
# attack-mnist-cnn.sh MODEL: the whole attack suite on a zoo CNN on the 500 seeded random
# MNIST test images (--sample-seed 1, the images every model is evaluated on), in two
# shards run side by side and merged, resumable (rerun to continue a killed run), into
# results/mnist/M/attack/ where M is MODEL without its dataset prefix (mnist-cnn: cnn):
#   MODEL-gradient.json  PGD and APGD (CE, DLR) in both norms, each on every correctly
#                        classified sample (--attack-all): each column is that attack's
#                        own accuracy
#   MODEL-all.json       every attack in order, each on the samples still robust in its
#                        norm: "All" is the per-sample worst case; gradient-free attacks
#                        at --queries 5000
#   MODEL-pgd.json       PGD-L2 and PGD-Linf only, each on every correctly classified
#                        sample
# SETS (default "gradient all"; or "pgd") picks which files to make. DATASET (default
# mnist) attacks a zoo CNN of another dataset at the paper's budgets for it (L2 1.5;
# Linf 0.1 on fashion-mnist, 8/255 on gtsrb-10; 20 PGD restarts on 32x32 images), writing
# under results/DATASET/M/attack/:
#   DATASET=fashion-mnist SETS=pgd scripts/attack-mnist-cnn.sh fashion-mnist-cnn
set -euo pipefail
cd "$(dirname "$0")/.."
: "${EABS_DATA_DIR:=/work/shared/data}"
export EABS_DATA_DIR
model=${1:?usage: $0 MODEL (a zoo CNN, e.g. mnist-cnn)}
n=${N:-500}
dataset=${DATASET:-mnist}
out=results/$dataset/${model#"$dataset"-}/attack
mkdir -p "$out"
E=${EABS_BIN:-bin/eabs}
. scripts/lib/build.sh
need_eabs "$E"
. scripts/lib/sharded.sh
run() { # name, then attack flags
	local name=$1
	shift
	sharded "$out" "$model-$name" "zoo:$model" --dataset "$dataset" --n "$n" --sample-seed 1 --seed 1 "$@"
}
sets=${SETS:-gradient all}
if [[ " $sets " == *" gradient "* ]]; then run gradient --attack-all --attacks pgd-l2,apgd-ce-l2,apgd-dlr-l2,pgd-linf,apgd-ce-linf,apgd-dlr-linf; fi
if [[ " $sets " == *" pgd "* ]]; then run pgd --attack-all --attacks pgd-l2,pgd-linf; fi
if [[ " $sets " == *" all "* ]]; then run all --queries 5000 --attacks pgd-linf,apgd-ce-linf,apgd-dlr-linf,deepfool-linf,noise-linf,square-linf,nes-linf,spsa-linf,hsj-linf,pgd-l2,apgd-ce-l2,apgd-dlr-l2,ddn,cw-l2,deepfool-l2,noise-l2,square-l2,nes-l2,spsa-l2,hsj-l2,boundary-l2; fi
