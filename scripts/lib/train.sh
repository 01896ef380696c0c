# train.sh, sourced (from the repository root) by the scripts that run long trainings:
# one resumable training run.
#
# train_run NAME FLAGS...: eabs train FLAGS into runs/NAME/ (log runs/NAME.log), at
# nice TRAIN_NICE (default 19, so interactive work keeps the cores), with EABS the
# binary and EABS_DATA_DIR (default ../shared/data) the data. A finished run
# (runs/NAME/done, or a model already in zoo/NAME/) is skipped; an unfinished one
# continues from its checkpoint; a checkpoint committed in checkpoints/NAME/ (a run
# begun on another machine: runs/ is not in git) seeds runs/NAME on a machine without
# one. Returns nonzero when the training fails.
train_run() {
	local name=$1
	shift
	local dir=runs/$name
	if [ -f "$dir/done" ] || [ -f "zoo/$name/model.eabs" ]; then
		echo "$(date -u +%FT%TZ) $name: done already"
		return 0
	fi
	mkdir -p runs
	if [ ! -f "$dir/checkpoint.eabs" ] && [ -f "checkpoints/$name/checkpoint.eabs" ]; then
		echo "$(date -u +%FT%TZ) $name: continuing the committed checkpoints/$name"
		mkdir -p "$dir" && cp -r "checkpoints/$name"/* "$dir/"
	fi
	local resume=()
	[ -f "$dir/checkpoint.eabs" ] && resume=(--resume)
	echo "$(date -u +%FT%TZ) $name: eabs train $* --out $dir ${resume[*]}"
	if nice -n "${TRAIN_NICE:-19}" "$EABS" train --data-dir "${EABS_DATA_DIR:-../shared/data}" "$@" --out-dir "$dir" "${resume[@]}" >>"runs/$name.log" 2>&1; then
		touch "$dir/done"
		echo "$(date -u +%FT%TZ) $name: finished"
	else
		echo "$(date -u +%FT%TZ) $name: failed (see runs/$name.log)"
		return 1
	fi
}
