#!/usr/bin/env bash
# report-dataset.sh: the robustness report of a dataset other than MNIST from the attack
# result files in results/DATASET/MODEL/attack/ and nothing else, into
# results/DATASET/report/ (MNIST has scripts/report-mnist.sh): the zoo
# E-ABS (scripts/attack-mnist-eabs.sh with DATASET, N=200 by default) and the zoo CNN
# (DATASET=... SETS=pgd scripts/attack-mnist-cnn.sh DATASET-cnn), with the paper's rows,
# 95% Clopper-Pearson intervals, McNemar between the models on their shared test images,
# curves and grids.
#
#   scripts/report-dataset.sh fashion-mnist      (or gtsrb-10)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 1 ] || { echo "usage: $0 DATASET" >&2; exit 2; }
d=$1
. scripts/lib/build.sh
need_eabs bin/eabs
. scripts/lib/report.sh
# The -judged run (issue 29: PGD's claims judged by the full inference, then basin-l2
# on the samples PGD-L2 left robust) is a row of its own where it exists.
report_rows "results/$d" "eabs/attack/$d-eabs-${N:-200}:E-ABS zoo (PGD each)" \
	"eabs/attack/$d-eabs-${N:-200}-judged:E-ABS zoo (judged PGD + basin-l2)" "cnn/attack/$d-cnn-pgd:CNN zoo (PGD each)"
