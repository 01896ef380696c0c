#!/usr/bin/env bash
# evaluate-zoo.sh: the measured numbers of a generative zoo model (E-ABS or ABS) that
# its README quotes, written to results/DATASET/M/ (M: NAME without the DATASET- prefix,
# e.g. results/fashion-mnist/eabs/) as JSON (each file records its own command, commit
# and machine):
#   val-amortized.json, test-amortized.json  the encoder shortcut on the validation split
#                                            (what chose the epoch) and the test set;
#   test-full-ort.json/.csv                  the paper's full inference (8000+1 starts,
#                                            50 Adam steps) on ONNX Runtime, whole test set;
#   crosscheck.json                          ONNX Runtime and onnx-go against the reference
#                                            graph: tensors on 1000 test images, the full
#                                            inference with shared noise on the first FULL
#                                            (default 100; the reference runs it in float64).
#
#   scripts/evaluate-zoo.sh NAME DATASET      e.g. fashion-mnist-eabs fashion-mnist
#
# The full inference dominates: about 9.5 images/s on the two cores for 28x28 E-ABS.
# The MNIST E-ABS has its own, longer script (scripts/evaluate-mnist.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: $0 NAME DATASET" >&2; exit 2; }
name=$1 dataset=$2
model=zoo:$name
out=results/$dataset/${name#"$dataset"-}
E=${EABS_BIN:-bin/eabs}
mkdir -p "$out"
. scripts/lib/build.sh
need_eabs "$E"

"$E" eval "$model" --dataset "$dataset" --split val --amortized --batch 250 --out "$out/val-amortized.json"
"$E" eval "$model" --dataset "$dataset" --amortized --batch 250 --out "$out/test-amortized.json"
"$E" classify "$model" --dataset "$dataset" --all --runtime ort --batch 16 --out "$out/test-full-ort.json" --csv "$out/test-full-ort.csv"
# A broken tolerance makes crosscheck exit 2; the script then exits with that status.
"$E" crosscheck "$model" --dataset "$dataset" --n 1000 --full "${FULL:-100}" --out "$out/crosscheck.json"
