#!/usr/bin/env bash
# attack-mnist-eabs-minnorm.sh: the minimum-norm attacks (DeepFool, DDN, CW, noise) on the
# zoo E-ABS, continuing the 500-image gradient run results/mnist/eabs/attack/$BASE.json (default
# mnist-eabs-500, made by N=500 ATTACKS=pgd-linf,apgd-ce-linf,apgd-dlr-linf,pgd-l2,
# apgd-ce-l2,apgd-dlr-l2,lda scripts/attack-mnist-eabs.sh) on its first N images
# (default 200: eabs attack --after --n), each only on the samples every earlier attack
# of its norm left robust. Output: results/mnist/eabs/attack/$BASE-first$N-minnorm.json. Two shards
# side by side, merged; resumable (rerun to continue).
# Cost per robust image with the default attacker (0 warm steps): DeepFool 100 and DDN
# 80 gradient steps at EOT 5 (a few CPU-s each), CW 5 x 100 steps (~5x DDN), noise
# Q_NOISE queries (default 100: 33 standard deviations x 3 draws, a deviation from the
# attack's 100 x 10 = 1000, stated in the results' options: it stops a sample at its
# first fooled size, and E-ABS's robust images would otherwise pay up to 1000 attacker
# inferences each; --queries sets only the gradient-free attacks' budgets, here noise's).
# RETRIES (default 0, as the committed result was made) sets --verdict-retries.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${EABS_DATA_DIR:=/work/shared/data}"
export EABS_DATA_DIR
base=${BASE:-mnist-eabs-500}
n=${N:-200}
attacks=${ATTACKS:-deepfool-linf,noise-linf,ddn,deepfool-l2,cw-l2,noise-l2}
out=results/mnist/eabs/attack
name=$base-first$n-minnorm
E=${EABS_BIN:-bin/eabs}
. scripts/lib/build.sh
need_eabs "$E"
[ -f "$out/$base.json" ] || { echo "missing $out/$base.json: run scripts/attack-mnist-eabs.sh with N=500 first" >&2; exit 1; }
. scripts/lib/sharded.sh
sharded "$out" "$name" zoo:mnist-eabs --after "$out/$base.json" --n "$n" --attacks "$attacks" \
	--eot 5 --verdict-eot 5 --workers 1 --queries "${Q_NOISE:-100}" --verdict-retries "${RETRIES:-0}" ${WARM:-}
