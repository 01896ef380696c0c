#!/usr/bin/env bash
# attack-mnist-eabs-gf.sh: the gradient-free attacks on the zoo E-ABS, continuing the
# gradient run results/mnist/eabs/attack/$BASE.json (default mnist-eabs-100: PGD-Linf, PGD-L2 and LDA
# on the 100 seeded images, --sample-seed 1) with eabs attack --after, so they run only on
# the samples the gradient attacks left robust and "All" per norm is the worst case over
# both. Every query is one full randomised inference (8000+1 starts, 50 Adam steps) on
# ONNX Runtime, ~0.3 CPU-s on these 2 cores, so the query budgets are small and stated:
#   stage 1, Linf: square-linf, hsj-linf, nes-linf, spsa-linf with Q_LINF queries per
#     sample (default 500);
#   stage 2, L2: square-l2, hsj-l2, boundary-l2, nes-l2 with Q_L2 queries per sample
#     (default 100);
#   stage 3, L2: spsa-l2 with Q_L2 queries. (Stage 2's nes-l2 ran before NES fitted its
#     estimate to a small budget: its 100-probe estimate did not fit 100 queries, so it
#     stopped after the first; SPSA, the same PGD with Rademacher probes, now spends
#     the budget: 33 steps of one antithetic pair.)
# WARM must repeat the base run's attacker flags (they are part of its configuration;
# the gradient-free attacks do not use them): default the 100-image run's.
# Two shards side by side (one core each), merged; resumable (rerun to continue).
# Output: results/mnist/eabs/attack/$BASE-gf-spsa.json, holding every attack (stage 1 alone:
# $BASE-gf-linf.json, stages 1-2: $BASE-gf.json).
# RETRIES (default 0, as the committed results were made) sets --verdict-retries.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${EABS_DATA_DIR:=/work/shared/data}"
export EABS_DATA_DIR
base=${BASE:-mnist-eabs-100}
qlinf=${Q_LINF:-500}
ql2=${Q_L2:-100}
out=results/mnist/eabs/attack
E=${EABS_BIN:-bin/eabs}
. scripts/lib/build.sh
need_eabs "$E"
[ -f "$out/$base.json" ] || { echo "missing $out/$base.json: run scripts/attack-mnist-eabs.sh first" >&2; exit 1; }
. scripts/lib/sharded.sh

# stage AFTER NAME ATTACKS QUERIES
stage() {
	sharded "$out" "$2" zoo:mnist-eabs --after "$1" --attacks "$3" --queries "$4" --verdict-eot 5 --verdict-retries "${RETRIES:-0}" --workers 1 \
		${WARM:---warm-steps 1 --warm-restart 0 --warm-changed 0}
}
stage "$out/$base.json" "$base-gf-linf" square-linf,hsj-linf,nes-linf,spsa-linf "$qlinf"
stage "$out/$base-gf-linf.json" "$base-gf" square-l2,hsj-l2,boundary-l2,nes-l2 "$ql2"
stage "$out/$base-gf.json" "$base-gf-spsa" spsa-l2 "$ql2"
