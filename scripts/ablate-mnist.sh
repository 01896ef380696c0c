#!/usr/bin/env bash
# ablate-mnist.sh: the training ablations of issue 26 on MNIST, on the validation split
# only. Each variant changes one thing in the zoo's recipe (E-ABS, batch 64, Adam 1e-3,
# beta 1, gamma 10, noise std 0.2 clipped with the clean image as target, one
# discriminator update per step, seed 1), trains EPOCHS epochs (default 8, learning rate
# halved every 3) into runs/ablate-NAME/, then runs the robustness proxy of
# results/mnist/eabs/proxy/README.md on it (scripts/proxy.sh: PGD-L2 1.5, 20 steps x 1
# restart, EOT 1, verdict by full inference, first 200 validation images) into
# OUT/proxy-NAME.json (default OUT results/mnist/eabs/ablation). Variants run one after
# another; rerunning resumes an unfinished training from its checkpoint and skips a
# variant whose proxy file exists. A checkpoint committed in checkpoints/ablate-NAME/
# seeds a machine that has none, as in train-queue.sh. With arguments, only those
# variants run (in the order given).
#
#   EABS=/tmp/eabs-abl nohup scripts/ablate-mnist.sh > runs/ablate.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
EABS=${EABS:-./bin/eabs}
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell} # as train-queue.sh: resumable on any AVX2 machine
: "${EABS_DATA_DIR:=/work/shared/data}"
export EABS_DATA_DIR
epochs=${EPOCHS:-8}
out=${OUT:-results/mnist/eabs/ablation}
mkdir -p "$out"
. scripts/lib/build.sh
. scripts/lib/train.sh
. scripts/lib/report.sh
need_eabs "$EABS"

# NAME|eabs train flags (beyond the recipe's). The order is what each tells us, most first.
variants=(
	"base|"
	"gamma0|--gamma 0"
	"gamma30|--gamma 30" # gamma 0 cost 10 points of the proxy: does more gamma buy more?
	"noise0|--noise 0"
	"noisytarget|--noisy-target"
	"disc2|--disc-steps 2"
	"beta0|--beta 0"
	# Beyond the paper: eq. 5's cross-entropy at temperature 10 (--ce-temperature, binary
	# 3ba0864 or later). At T = 1 it saturates on almost every image long before the
	# clean margins robustness needs (results/mnist/eabs/margins/README.md).
	"temp10|--ce-temperature 10"
)

one() { # NAME FLAGS
	local name=$1 flags=$2
	if [ -f "$out/proxy-$name.json" ]; then
		echo "$(date -u +%FT%TZ) $name: proxy done already"
		return
	fi
	# shellcheck disable=SC2086 # flags are words
	TRAIN_NICE=0 train_run "ablate-$name" --dataset mnist --model eabs --batch 64 \
		--epochs "$epochs" --halve-every 3 --seed 1 $flags || return 1
	echo "$(date -u +%FT%TZ) $name: proxy"
	MODEL=runs/ablate-$name/model.eabs OUT=$out EABS_BIN=$EABS scripts/proxy.sh "$name" || {
		echo "$(date -u +%FT%TZ) $name: proxy failed (see $out/proxy-$name.log)"
		return 1
	}
	echo "$(date -u +%FT%TZ) $name: done"
}

want=("$@")
for v in "${variants[@]}"; do
	name=${v%%|*}
	if [ ${#want[@]} -gt 0 ] && [[ " ${want[*]} " != *" $name "* ]]; then
		continue
	fi
	one "$name" "${v#*|}" || true
done

# The table so far: every finished variant's proxy with McNemar between them, into
# OUT/report (its stdout in OUT/report/table-stdout.md; the base is the first row).
rows=()
for v in "${variants[@]}"; do
	rows+=("proxy-${v%%|*}:${v%%|*}")
done
E=$EABS report_rows "$out" "${rows[@]}" >/dev/null || echo "report failed"
