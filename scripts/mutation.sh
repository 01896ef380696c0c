#!/usr/bin/env bash
# mutation.sh: mutation testing of the numeric core with gremlins v0.6.0
# (github.com/go-gremlins/gremlins). For each package given, gremlins measures the
# package's test coverage, then applies one small mutation at a time to the covered
# code (+ -> -, < -> <=, == -> !=, i++ -> i--, -x -> x) and runs the package's tests:
# a mutant the tests fail on is KILLED, one they pass is LIVED (a bug the tests would
# not catch). Not part of CI: it rebuilds and re-runs a package's tests once per
# mutant, which takes tens of minutes per package (results/mutation/README.md).
#
# Usage: scripts/mutation.sh [-o DIR] PACKAGE...     e.g. scripts/mutation.sh infer train
#   PACKAGE is a directory of this module (graph, infer, train, certify, attack).
#   -o DIR     where the reports go (default results/mutation/run-<commit>);
#              per package: PKG.txt (gremlins' log with every mutant's status),
#              PKG.json (its machine-readable report), and a line in summary.txt.
# Environment:
#   GREMLINS                the gremlins binary (default: gremlins on PATH, else ~/go/bin)
#   MUTATION_WORKERS        parallel mutants (default 1: the machine is shared)
#   MUTATION_TIMEOUT_COEF   a mutant times out after COEF x the coverage run (default 10;
#                           gremlins' default 3 gives spurious time-outs on a busy machine)
#   MUTATION_NICE           niceness of the run (default 10)
#   MUTATION_EXCLUDE        space-separated regexps of files to leave out (gremlins -E),
#                           e.g. "run.go config.go checkpoint.go" for train's numeric core
# -s only (re)writes summary.txt lines from existing PKG.txt reports in DIR (for a run
# whose script was interrupted but whose gremlins finished).
# Install gremlins with: go install github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
set -euo pipefail
cd "$(dirname "$0")/.."

out=""
summaryOnly=""
while getopts "o:s" opt; do
	case $opt in
	o) out=$OPTARG ;;
	s) summaryOnly=1 ;;
	*) echo "usage: $0 [-o DIR] [-s] PACKAGE..." >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -eq 0 ]; then
	echo "usage: $0 [-o DIR] PACKAGE...   (e.g. graph infer train)" >&2
	exit 2
fi

gremlins=${GREMLINS:-$(command -v gremlins || echo "$(go env GOPATH)/bin/gremlins")}
if [ ! -x "$gremlins" ]; then
	echo "mutation.sh: gremlins not found ($gremlins); install it with" >&2
	echo "  go install github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0" >&2
	exit 1
fi
workers=${MUTATION_WORKERS:-1}
coef=${MUTATION_TIMEOUT_COEF:-10}
niceness=${MUTATION_NICE:-10}
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=""
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	dirty="+uncommitted changes"
fi
out=${out:-results/mutation/run-$commit}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# summarise PKG DURATION appends PKG's counts and efficacy (killed / (killed + lived),
# gremlins' definition) to summary.txt.
summarise() {
	local pkg=$1 secs=$2 f="$out/$1.txt"
	count() { grep -c "^ *$1 " "$f" || true; }
	local killed lived timedout notcov notviable eff line
	killed=$(count KILLED)
	lived=$(count LIVED)
	timedout=$(count "TIMED OUT")
	notcov=$(count "NOT COVERED")
	notviable=$(count "NOT VIABLE")
	eff=$(awk -v k="$killed" -v l="$lived" 'BEGIN { if (k + l > 0) printf "%.1f", 100 * k / (k + l); else print "n/a" }')
	line=$(printf "%-8s killed %4d lived %4d timed-out %3d not-covered %4d not-viable %3d efficacy %5s%%  took %s  %s" \
		"$pkg" "$killed" "$lived" "$timedout" "$notcov" "$notviable" "$eff" "$secs" "$(grep -m1 '^# commit:' "$f" | cut -c3-)")
	echo "$line" | tee -a "$out/summary.txt" >&2
}

if [ -n "$summaryOnly" ]; then
	for pkg in "$@"; do
		pkg=${pkg#./}
		pkg=${pkg%/}
		secs=$(grep -m1 -o 'completed in .*' "$out/$pkg.txt" || echo "?")
		summarise "$pkg" "${secs#completed in }"
	done
	exit 0
fi

for pkg in "$@"; do
	pkg=${pkg#./}
	pkg=${pkg%/}
	if [ ! -d "$pkg" ]; then
		echo "mutation.sh: no package directory $pkg" >&2
		exit 2
	fi
	cmd=(nice -n "$niceness" "$gremlins" unleash --workers "$workers" --test-cpu 1
		--timeout-coefficient "$coef" --output "$out/$pkg.json")
	for re in ${MUTATION_EXCLUDE:-}; do
		cmd+=(-E "$re")
	done
	cmd+=("$pkg")
	start=$(date -u +%s)
	{
		echo "# command: ${cmd[*]}"
		echo "# commit: $commit$dirty"
		echo "# started: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "# go: $(go version)"
	} >"$out/$pkg.txt"
	echo "mutation.sh: $pkg ..." >&2
	status=0
	"${cmd[@]}" >>"$out/$pkg.txt" 2>&1 || status=$?
	end=$(date -u +%s)
	secs=$((end - start))
	echo "# finished: $(date -u +%Y-%m-%dT%H:%M:%SZ) after ${secs}s (exit $status)" >>"$out/$pkg.txt"
	summarise "$pkg" "${secs}s"
done
