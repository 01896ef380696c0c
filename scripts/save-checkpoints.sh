#!/usr/bin/env bash
# save-checkpoints.sh: before a commit, copy each unfinished run's newest checkpoint
# from runs/NAME/ into checkpoints/NAME/ (checkpoint.eabs and metrics.csv, replaced, so
# git keeps one checkpoint per commit), for every NAME given or, without arguments,
# every folder checkpoints/ already has. The models of milestone epochs (MILESTONES,
# default the issue-26 curve's 10 20 50 100 200 300 400 500) that runs/NAME/epochs/
# holds are copied into checkpoints/NAME/epochs/ once, since runs/ is lost with its
# machine and the epoch curve is measured on them. A checkpoint older than the
# committed one (fewer epochs in metrics.csv) is never copied over it.
#
#   scripts/save-checkpoints.sh && git add checkpoints && git commit -m "..."
set -euo pipefail
cd "$(dirname "$0")/.."
milestones=${MILESTONES:-10 20 50 100 200 300 400 500}
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for d in checkpoints/*/; do
		names+=("$(basename "$d")")
	done
fi
epochs_of() { # metrics.csv -> epochs it records (0 when missing)
	[ -f "$1" ] || { echo 0; return; }
	awk -F, 'NR > 1 && $1 ~ /^[0-9]+$/ { n = $1 } END { print n + 0 }' "$1"
}
for name in "${names[@]}"; do
	src=runs/$name dst=checkpoints/$name
	if [ ! -f "$src/checkpoint.eabs" ]; then
		echo "$name: no runs/$name/checkpoint.eabs here; nothing to save"
		continue
	fi
	have=$(epochs_of "$dst/metrics.csv") now=$(epochs_of "$src/metrics.csv")
	mkdir -p "$dst"
	if [ "$now" -lt "$have" ]; then
		echo "$name: runs/ has $now epochs, checkpoints/ $have: kept the committed one"
	else
		cp "$src/checkpoint.eabs" "$dst/.checkpoint.eabs.tmp" && mv "$dst/.checkpoint.eabs.tmp" "$dst/checkpoint.eabs"
		cp "$src/metrics.csv" "$dst/metrics.csv"
		[ -f "$dst/manifest.json" ] || cp "$src/manifest.json" "$dst/manifest.json"
		echo "$name: checkpoint after $now epochs (committed had $have)"
	fi
	for e in $milestones; do
		f=$(printf 'model-epoch%03d.eabs' "$e")
		if [ -f "$src/epochs/$f" ] && [ ! -f "$dst/epochs/$f" ]; then
			mkdir -p "$dst/epochs"
			cp "$src/epochs/$f" "$dst/epochs/.$f.tmp" && mv "$dst/epochs/.$f.tmp" "$dst/epochs/$f"
			echo "$name: milestone $f saved"
		fi
	done
done
