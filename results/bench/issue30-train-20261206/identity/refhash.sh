#!/usr/bin/env bash
# refhash.sh EABS TAG: three short E-ABS trainings from seed 7 with the binary EABS,
# printing the SHA-256 of model.eabs and ckhash of checkpoint.eabs (first 8 bytes).
# Run from the repository root; runs go to /tmp/refhash-TAG/. GOMAXPROCS and
# OPENBLAS_CORETYPE are taken from the environment.
set -euo pipefail
bin=$1 tag=$2
ck=$(mktemp)
go build -o "$ck" results/bench/issue30-train-20261206/identity/ckhash/main.go
for cfg in "sample16 --dataset mnist-sample --batch 16 --epochs 3" \
	"sample64 --dataset mnist-sample --batch 64 --epochs 4" \
	"mnist512 --dataset mnist --data-dir /work/shared/data --max-train 2048 --batch 512 --epochs 1"; do
	set -- $cfg
	name=$1
	shift
	d=/tmp/refhash-$tag/$name
	rm -rf "$d"
	nice -n 5 "$bin" train --model eabs --seed 7 --out-dir "$d" "$@" >/dev/null 2>&1
	echo "$name model.eabs $(sha256sum <"$d/model.eabs" | cut -c1-16) checkpoint $("$ck" "$d/checkpoint.eabs")"
done
rm -f "$ck"
