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
mkdir -p runs "$out"
. scripts/lib/build.sh
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
)

one() { # NAME FLAGS
	local name=$1 flags=$2 dir=runs/ablate-$1
	if [ -f "$out/proxy-$name.json" ]; then
		echo "$(date -u +%FT%TZ) $name: proxy done already"
		return
	fi
	if [ ! -f "$dir/done" ]; then
		if [ ! -f "$dir/checkpoint.eabs" ] && [ -f "checkpoints/ablate-$name/checkpoint.eabs" ]; then
			mkdir -p "$dir" && cp "checkpoints/ablate-$name"/* "$dir/"
		fi
		local resume=()
		[ -f "$dir/checkpoint.eabs" ] && resume=(--resume)
		echo "$(date -u +%FT%TZ) $name: eabs train $flags ${resume[*]}"
		# shellcheck disable=SC2086 # flags are words
		if ! "$EABS" train --data-dir "$EABS_DATA_DIR" --dataset mnist --model eabs --batch 64 \
			--epochs "$epochs" --halve-every 3 --seed 1 $flags --out-dir "$dir" "${resume[@]}" >>"runs/ablate-$name.log" 2>&1; then
			echo "$(date -u +%FT%TZ) $name: training failed (see runs/ablate-$name.log)"
			return 1
		fi
		touch "$dir/done"
	fi
	echo "$(date -u +%FT%TZ) $name: proxy"
	MODEL=$dir/model.eabs OUT=$out EABS_BIN=$EABS scripts/proxy.sh "$name" || {
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

# The table so far: every finished variant's proxy with McNemar against the others
# (OUT/table-stdout.md; the base is the first row).
files=() names=()
for v in "${variants[@]}"; do
	name=${v%%|*}
	[ -f "$out/proxy-$name.json" ] || continue
	files+=("$out/proxy-$name.json")
	names+=("$name")
done
if [ ${#files[@]} -ge 2 ]; then
	"$EABS" report "${files[@]}" --names "$(IFS=,; echo "${names[*]}")" --out-dir "$out/report" >"$out/table-stdout.md" ||
		echo "report failed"
fi
