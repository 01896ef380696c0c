#!/usr/bin/env bash
# select-epoch.sh: full inference (ONNX Runtime) on the first N validation images for
# some epochs of a training run (the models `eabs train` keeps in RUN/epochs/), to choose
# the zoo's epoch on the validation split. The amortised validation accuracy of every
# epoch is already in RUN/metrics.csv; this measures the candidates it suggests with the
# inference the model is used with.
#
#   scripts/select-epoch.sh NAME DATASET N EPOCH...   e.g. mnist-abs mnist 1000 16 18 20
#
# Reads runs/NAME/epochs/model-epochNNN.eabs, writes
# results/NAME/selection/valN-full-epNN.json.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 4 ] || { echo "usage: $0 NAME DATASET N EPOCH..." >&2; exit 2; }
name=$1 dataset=$2 n=$3
shift 3
E=${EABS_BIN:-bin/eabs}
out=results/$name/selection
mkdir -p "$out"
[ -x "$E" ] || go build -o "$E" ./cmd/eabs
for e in "$@"; do
	m=$(printf 'runs/%s/epochs/model-epoch%03d.eabs' "$name" "$e")
	"$E" classify "$m" --dataset "$dataset" --split val --n "$n" --runtime ort --batch 16 --json "$out/val$n-full-ep$e.json"
done
python3 - "$out"/val"$n"-full-ep*.json <<'PY'
import json, sys
for f in sys.argv[1:]:
    r = json.load(open(f))
    print(f"{f}\t{r['correct']}/{r['n']}\t{r['accuracy']:.4f}")
PY
