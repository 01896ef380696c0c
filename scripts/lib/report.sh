# report.sh, sourced by the report scripts: one function that makes a dataset's
# robustness report from the result files that exist.
#
# report_rows DIR FILE:LABEL...: eabs report on DIR/FILE.json for each pair whose file
# exists (FILE a path under the dataset folder DIR, e.g. eabs/attack/mnist-eabs-500), the
# rows named by their LABELs, into DIR/report (table, McNemar, curves, grids), its stdout
# kept in DIR/report/table-stdout.md. Fails when no file exists.
report_rows() {
	local dir=$1 pair f
	shift
	local files=() names=()
	for pair in "$@"; do
		f=$dir/${pair%%:*}.json
		[ -f "$f" ] || continue
		files+=("$f")
		names+=("${pair#*:}")
	done
	[ ${#files[@]} -gt 0 ] || { echo "report: no result files in $dir" >&2; return 1; }
	local label
	label=$(IFS=,; echo "${names[*]}")
	mkdir -p "$dir/report"
	"${E:-bin/eabs}" report "${files[@]}" --names "$label" --out-dir "$dir/report" | tee "$dir/report/table-stdout.md"
}
