#!/usr/bin/env bash
# attack-mnist-eabs-minnorm.sh: the minimum-norm attacks (DeepFool, DDN, CW, noise) on the
# zoo E-ABS, continuing the 500-image gradient run results/mnist/$BASE.json (default
# mnist-eabs-500, made by N=500 ATTACKS=pgd-linf,apgd-ce-linf,apgd-dlr-linf,pgd-l2,
# apgd-ce-l2,apgd-dlr-l2,lda scripts/attack-mnist-eabs.sh) on its first N images
# (default 200: eabs attack --after --n), each only on the samples every earlier attack
# of its norm left robust. Output: results/mnist/$BASE-first$N-minnorm.json. Two shards
# side by side, merged; resumable (rerun to continue).
# Cost per robust image with the default attacker (0 warm steps): DeepFool 100 and DDN
# 80 gradient steps at EOT 5 (a few CPU-s each), CW 5 x 100 steps (~5x DDN), noise up to
# 100 sizes x 10 draws of full inference (~0.2 CPU-s each: it stops a sample at its
# first fooled size, so E-ABS's robust images pay up to ~200 CPU-s; ATTACKS leaves it
# out to save that).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${EABS_DATA_DIR:=/work/shared/data}"
export EABS_DATA_DIR
base=${BASE:-mnist-eabs-500}
n=${N:-200}
attacks=${ATTACKS:-deepfool-linf,noise-linf,ddn,deepfool-l2,cw-l2,noise-l2}
out=results/mnist
name=$base-first$n-minnorm
E=${EABS_BIN:-bin/eabs}
[ -x "$E" ] || go build -o "$E" ./cmd/eabs
[ -f "$out/$base.json" ] || { echo "missing $out/$base.json: run scripts/attack-mnist-eabs.sh with N=500 first" >&2; exit 1; }
[ -f "$out/$name.json" ] && { echo "keeping $out/$name.json"; exit 0; }
pids=()
for i in 0 1; do
	[ -f "$out/$name.part-$i-of-2.json" ] && continue
	"$E" attack zoo:mnist-eabs --after "$out/$base.json" --n "$n" --shard "$i/2" --attacks "$attacks" \
		--eot 5 --verdict-eot 5 --workers 1 ${WARM:-} \
		--out "$out/$name.part-{shard}.json" 2>"$out/$name.part-$i-of-2.log" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
"$E" report --merge "$out/$name".part-*-of-2.json --out "$out/$name.json"
rm -f "$out/$name".part-*-of-2.json
