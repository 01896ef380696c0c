#!/usr/bin/env bash
# proxy.sh: the robustness proxy of issue 26 (results/mnist/eabs/proxy/README.md) on
# the validation split, never the test set: PGD-L2 at the dataset's budget, 20 steps x 1
# restart, attacker EOT 1, verdict by the model's full inference (EOT 5, fresh noise,
# verdict retries 3, PGD's claims judged) on the first N validation images
# (--sample-seed 0). Each VARIANT is LABEL or LABEL|FLAGS (eabs attack flags, e.g.
# inference settings: "steps100|--infer-steps 100"); variants run two at a time, one
# core each, at nice 10, into OUT/proxy-LABEL.json with its log (a finished file is
# kept; rerunning resumes from the state files).
#
#   MODEL=zoo:mnist-eabs OUT=results/mnist/eabs/proxy scripts/proxy.sh zoo "final|--loss-at final"
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: MODEL=M OUT=DIR $0 VARIANT..." >&2; exit 2; }
: "${EABS_DATA_DIR:=/work/shared/data}"
export EABS_DATA_DIR
model=${MODEL:-zoo:mnist-eabs}
dataset=${DATASET:-mnist}
n=${N:-200}
out=${OUT:?set OUT, the results folder}
E=${EABS_BIN:-bin/eabs}
mkdir -p "$out"
. scripts/lib/build.sh
need_eabs "$E"
one() {
	local label=${1%%|*} flags=""
	[[ $1 == *"|"* ]] && flags=${1#*|}
	[ -f "$out/proxy-$label.json" ] && { echo "keeping $out/proxy-$label.json"; return; }
	# shellcheck disable=SC2086 # flags are words
	nice -n 10 "$E" attack "$model" --dataset "$dataset" --split val --n "$n" --sample-seed 0 --seed 1 \
		--attacks pgd-l2 --pgd-steps 20 --pgd-restarts 1 --eot 1 --sweep-n 0 --keep 0 $flags \
		--out "$out/proxy-$label.json" 2> "$out/proxy-$label.log"
}
pids=()
for v in "$@"; do
	one "$v" &
	pids+=($!)
	if [ ${#pids[@]} -eq 2 ]; then
		wait "${pids[0]}" "${pids[1]}"
		pids=()
	fi
done
for p in "${pids[@]}"; do wait "$p"; done
