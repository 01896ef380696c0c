# sharded.sh, sourced by the attack scripts: one function that runs an eabs attack in
# two shards side by side (one core each) and merges them.
#
# sharded OUT NAME ARGS...: "$E attack ARGS" as shards 0/2 and 1/2 into
# OUT/NAME.part-{shard}.json (stderr in OUT/NAME.part-i-of-2.log), then eabs report
# --merge into OUT/NAME.json. A finished run is kept and a finished part skipped, and
# each shard resumes from its state file, so rerunning continues a killed run. A failed
# shard stops the caller (set -e).
sharded() {
	local out=$1 name=$2
	shift 2
	[ -f "$out/$name.json" ] && { echo "keeping $out/$name.json"; return; }
	local pids=() i p
	for i in 0 1; do
		[ -f "$out/$name.part-$i-of-2.json" ] && continue
		"$E" attack "$@" --shard "$i/2" --out "$out/$name.part-{shard}.json" 2>"$out/$name.part-$i-of-2.log" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	"$E" report --merge "$out/$name".part-*-of-2.json --out "$out/$name.json"
	rm -f "$out/$name".part-*-of-2.json
}
