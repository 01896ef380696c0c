#!/usr/bin/env bash
# report-mnist.sh: the MNIST robustness report from the attack result files in
# results/mnist/MODEL/attack/ (made by attack-mnist-cnn.sh and attack-mnist-eabs.sh), and
# nothing else, into results/mnist/report/: the table
# in Markdown, CSV and LaTeX with 95% Clopper-Pearson intervals and the paper's rows,
# McNemar between models, accuracy-vs-eps curves and adversarial grids.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/build.sh
need_eabs bin/eabs
. scripts/lib/report.sh
# Row labels: the file's model and which attack set it holds.
# The E-ABS rows: the 500-image gradient run once it has finished
# (N=500 ATTACKS=pgd-linf,apgd-ce-linf,apgd-dlr-linf,pgd-l2,apgd-ce-l2,apgd-dlr-l2,lda
# scripts/attack-mnist-eabs.sh), and the 100-image run at the paper's 5 restarts with
# the gradient-free attacks after it (scripts/attack-mnist-eabs-gf.sh; its latest
# stage), else without them, else the earlier 48- and 16-image runs.
eabs=mnist-eabs-all
for f in mnist-eabs-all-48 mnist-eabs-100 mnist-eabs-100-gf-linf mnist-eabs-100-gf mnist-eabs-100-gf-spsa; do
	[ -f results/mnist/eabs/attack/$f.json ] && eabs=$f
done
label="E-ABS zoo (PGD+LDA)"
case $eabs in mnist-eabs-100-gf*) label="E-ABS zoo (PGD+LDA then gradient-free)" ;; esac
rows=()
[ -f results/mnist/eabs/attack/mnist-eabs-500.json ] && rows+=(eabs/attack/mnist-eabs-500:"E-ABS zoo (PGD+APGD+LDA)")
# Its first 200 images continued with the minimum-norm attacks
# (scripts/attack-mnist-eabs-minnorm.sh).
[ -f results/mnist/eabs/attack/mnist-eabs-500-first200-minnorm.json ] &&
	rows+=(eabs/attack/mnist-eabs-500-first200-minnorm:"E-ABS zoo (PGD+APGD+LDA then DeepFool+DDN+CW+noise)")
rows+=("eabs/attack/$eabs:$label")
# The ABS baseline (MODEL=mnist-abs N=200 ATTACKS=pgd-linf,pgd-l2 scripts/attack-mnist-eabs.sh);
# report_rows skips a row whose file does not exist.
rows+=(abs/attack/mnist-abs-200:"ABS zoo (PGD each)")
report_rows results/mnist "${rows[@]}" cnn/attack/mnist-cnn-all:"CNN zoo (all attacks)" \
	cnn/attack/mnist-cnn-gradient:"CNN zoo (PGD+APGD each)" \
	adv-l2/attack/mnist-adv-l2-gradient:"Adv-L2 CNN zoo (PGD+APGD each)" \
	adv-linf/attack/mnist-adv-linf-gradient:"Adv-Linf CNN zoo (PGD+APGD each)" \
	cnn-smooth025/attack/mnist-cnn-smooth025-pgd:"Smoothing base CNN sigma 0.25 (PGD each)" \
	cnn-smooth050/attack/mnist-cnn-smooth050-pgd:"Smoothing base CNN sigma 0.5 (PGD each)"
