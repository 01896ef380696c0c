#!/usr/bin/env bash
# select-epoch.sh: choose a zoo model's epoch on the validation split. Full inference
# (ONNX Runtime) on the first N validation images for candidate epochs of a training
# run (the models `eabs train` keeps in runs/NAME/epochs/), then the choice: the
# candidate with the most correct images, a tie going to the later epoch.
# Without EPOCHs the candidates are the three best epochs by the amortised validation
# accuracy in runs/NAME/metrics.csv (a tie to the later epoch) and the last epoch: the
# cheap measure suggests, the inference the model is used with decides.
#
#   scripts/select-epoch.sh NAME DATASET N [EPOCH...]   e.g. mnist-abs mnist 1000 18 19 20
#
# Reads runs/NAME/epochs/model-epochNNN.eabs, writes
# results/DATASET/M/selection/valN-full-epNN.json (M: NAME without the DATASET- prefix,
# e.g. results/mnist/abs/), prints each candidate and the choice.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 3 ] || { echo "usage: $0 NAME DATASET N [EPOCH...]" >&2; exit 2; }
name=$1 dataset=$2 n=$3
shift 3
E=${EABS_BIN:-bin/eabs}
out=results/$dataset/${name#"$dataset"-}/selection
mkdir -p "$out"
. scripts/lib/build.sh
need_eabs "$E"
epochs=("$@")
if [ ${#epochs[@]} -eq 0 ]; then
	read -r -a epochs < <(python3 - "runs/$name/metrics.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
best = sorted(rows, key=lambda r: (float(r["val_acc_amortized"]), int(r["epoch"])), reverse=True)[:3]
print(" ".join(map(str, sorted({int(r["epoch"]) for r in best} | {int(rows[-1]["epoch"])}))))
PY
)
	echo "candidates from runs/$name/metrics.csv: ${epochs[*]}"
fi
for e in "${epochs[@]}"; do
	m=$(printf 'runs/%s/epochs/model-epoch%03d.eabs' "$name" "$e")
	"$E" classify "$m" --dataset "$dataset" --split val --n "$n" --sample-seed 0 --runtime ort --batch 16 --out "$out/val$n-full-ep$e.json"
done
python3 - "$out" "$n" "${epochs[@]}" <<'PY'
import json, sys
out, n, epochs = sys.argv[1], sys.argv[2], [int(e) for e in sys.argv[3:]]
best = None
for e in epochs:
    f = f"{out}/val{n}-full-ep{e}.json"
    r = json.load(open(f))
    print(f"{f}\t{r['correct']}/{r['n']}\t{r['accuracy']:.4f}")
    best = max(best or (r["correct"], e), (r["correct"], e))
print(f"chosen epoch: {best[1]} (most correct of the candidates, a tie to the later epoch)")
PY
