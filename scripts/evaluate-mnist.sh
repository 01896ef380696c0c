#!/usr/bin/env bash
# evaluate-mnist.sh: every measured number of the zoo's MNIST E-ABS, written to
# results/mnist/eabs/ as JSON (each file records its own command, commit and machine).
#
#   scripts/evaluate-mnist.sh [MODEL]     (default zoo:mnist-eabs)
#
# Takes about two hours on two cores, most of it the full inference on 10,000 images.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-zoo:mnist-eabs}
out=results/mnist/eabs
mkdir -p "$out"
. scripts/lib/build.sh
build_eabs bin/eabs

# Encoder shortcut on the held-out validation split (what chose the epoch) and on the
# whole test set.
bin/eabs eval "$model" --dataset mnist --split val --amortized --batch 250 --out "$out/val-amortized.json"
bin/eabs eval "$model" --dataset mnist --amortized --batch 250 --out "$out/test-amortized.json"
# The paper's full inference (8000+1 starts, 50 Adam steps, lr 0.05) on ONNX Runtime.
bin/eabs classify "$model" --dataset mnist --runtime ort --batch 16 --out "$out/test-full-ort.json" --csv "$out/test-full-ort.csv"
# ONNX Runtime and onnx-go against the reference graph: tensors on 1000 test images,
# full inference with shared noise on the same 1000.
# A broken tolerance makes crosscheck exit 2: the measurements below still run, and the
# script then exits with that status.
status=0
bin/eabs crosscheck "$model" --dataset mnist --n 1000 --full 1000 --out "$out/crosscheck.json" || status=$?
# Where l_k is read and what the optimisation adds, on the first 1000 test images
# (compare with the same images in test-full-ort.csv): the loss at the optimised mean
# only, and the best start without optimisation.
bin/eabs classify "$model" --dataset mnist --runtime ort --batch 16 --n 1000 --sample-seed 0 --loss-at final --out "$out/test1000-full-ort-loss-at-final.json"
bin/eabs classify "$model" --dataset mnist --runtime ort --batch 16 --n 1000 --sample-seed 0 --infer-steps 0 --out "$out/test1000-steps0-ort.json"
# The paper's EOT evaluation (l_k averaged over 5 noise draws) on the same images.
bin/eabs classify "$model" --dataset mnist --runtime ort --batch 16 --n 1000 --sample-seed 0 --eot 5 --out "$out/test1000-full-ort-eot5.json"
# The step-size sweep on validation images (selection/); the default lr 0.05 is
# selection/val2000-full-ep20.json, the same model.
for lr in 0.02 0.01; do
  bin/eabs classify "$model" --dataset mnist --split val --n 2000 --sample-seed 0 --runtime ort --batch 16 --infer-lr "$lr" --out "$out/selection/val2000-full-lr$lr.json"
done
bin/eabs classify "$model" --dataset mnist --split val --n 2000 --sample-seed 0 --runtime ort --batch 16 --infer-steps 0 --out "$out/selection/val2000-steps0.json"
# The two images whose final losses are chaotic (crosscheck's conditioning check).
for i in 907 255; do
  { echo "# go run ./tools/chaosprobe -model $model -image $i -runs 32   (commit $(git rev-parse --short HEAD); $(date -u +%FT%TZ))"
    go run ./tools/chaosprobe -model "$model" -image "$i" -runs 32; } > "$out/chaos-probe-$i.txt.tmp"
  mv "$out/chaos-probe-$i.txt.tmp" "$out/chaos-probe-$i.txt"
done
exit $status
