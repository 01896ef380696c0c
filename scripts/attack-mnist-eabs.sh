#!/usr/bin/env bash
# attack-mnist-eabs.sh: the zoo E-ABS under the gradient attacks on the first N of the same
# seeded random MNIST test images as the CNNs (--sample-seed 1), in two shards side by side,
# merged into results/mnist/$NAME.json (default mnist-eabs-all); resumable (rerun to
# continue a killed run). The attacker's gradient is eq. 8's
# adaptive gradient with EOT 5 and the warm-started inference (--warm-steps 1); every
# verdict is the model's own full inference with fresh noise, EOT 5.
# Budget: the paper's 80 PGD steps, but 1 restart instead of 5, N 16 by default and no
# DDN/CW/DeepFool (a session's 2-core CPU budget: about 10 CPU-minutes per 8 images with
# the sweep); N=500 with the paper's 5 restarts is the same command, resumable per batch.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-16}
out=results/mnist
name=${NAME:-mnist-eabs-all}
final=$out/$name.json
mkdir -p "$out"
[ -x bin/eabs ] || go build -o bin/eabs ./cmd/eabs
[ -f "$final" ] && { echo "keeping $final"; exit 0; }
pids=()
for i in 0 1; do
	[ -f "$out/$name.part-$i-of-2.json" ] && continue
	bin/eabs attack zoo:mnist-eabs --dataset mnist --n "$n" --sample-seed 1 --seed 1 --shard "$i/2" \
		--attacks pgd-linf,pgd-l2,lda --pgd-restarts 1 --eot 5 --verdict-eot 5 --warm-steps 1 \
		--workers 1 --batch 8 --sweep-n 2 --out "$out/$name.part-{shard}.json" 2>"$out/$name.part-$i-of-2.log" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
bin/eabs report --merge "$out/$name".part-*-of-2.json --out "$final"
rm -f "$out/$name".part-*-of-2.json
