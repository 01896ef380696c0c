#!/usr/bin/env bash
# report-mnist.sh: the MNIST robustness report from the result files in results/mnist/
# (made by attack-mnist-cnn.sh and attack-mnist-eabs.sh), and nothing else: the table
# in Markdown, CSV and LaTeX with 95% Clopper-Pearson intervals and the paper's rows,
# McNemar between models, accuracy-vs-eps curves and adversarial grids.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x bin/eabs ] || go build -o bin/eabs ./cmd/eabs
# Row labels: the file's model and which attack set it holds.
files=() names=()
# The E-ABS run on the most images made: the 100-image run at the paper's 5 restarts
# once it has finished (scripts/attack-mnist-eabs.sh, resumable), else the 48-image run
# (1 restart), else the first 16.
eabs=mnist-eabs-all
[ -f results/mnist/mnist-eabs-all-48.json ] && eabs=mnist-eabs-all-48
[ -f results/mnist/mnist-eabs-100.json ] && eabs=mnist-eabs-100
for pair in $eabs:"E-ABS zoo (PGD+LDA)" mnist-cnn-all:"CNN zoo (all attacks)" \
	mnist-cnn-gradient:"CNN zoo (PGD+APGD each)" mnist-adv-l2-gradient:"Adv-L2 CNN zoo (PGD+APGD each)" \
	mnist-adv-linf-gradient:"Adv-Linf CNN zoo (PGD+APGD each)"; do
	f=results/mnist/${pair%%:*}.json
	[ -f "$f" ] || continue
	files+=("$f")
	names+=("${pair#*:}")
done
label=$(IFS=,; echo "${names[*]}")
bin/eabs report "${files[@]}" --names "$label" --out-dir results/mnist | tee results/mnist/table-stdout.md
