#!/usr/bin/env bash
# report-mnist.sh: the MNIST robustness report from the result files in results/mnist/
# (made by attack-mnist-cnn.sh and attack-mnist-eabs.sh), and nothing else: the table
# in Markdown, CSV and LaTeX with 95% Clopper-Pearson intervals and the paper's rows,
# McNemar between models, accuracy-vs-eps curves and adversarial grids.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x bin/eabs ] || go build -o bin/eabs ./cmd/eabs
files=()
for f in results/mnist/mnist-eabs-all.json results/mnist/mnist-cnn-all.json results/mnist/mnist-adv-l2-all.json results/mnist/mnist-cnn-gradient.json results/mnist/mnist-adv-l2-gradient.json; do
	[ -f "$f" ] && files+=("$f")
done
bin/eabs report "${files[@]}" --out-dir results/mnist | tee results/mnist/table-stdout.md
