# build.sh, sourced (from the repository root) by the scripts that run eabs: the one
# place that builds it. -buildvcs=auto stamps the commit into the binary in a git
# checkout, overriding a machine's GOFLAGS=-buildvcs=false (result files record the
# stamp as their provenance), and builds without a stamp elsewhere.
#
# build_eabs OUT: build cmd/eabs into OUT.
# need_eabs OUT: build it only when OUT is not there yet.
build_eabs() { go build -buildvcs=auto -o "$1" ./cmd/eabs; }
need_eabs() { [ -x "$1" ] || build_eabs "$1"; }
