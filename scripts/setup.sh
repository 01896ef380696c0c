#!/usr/bin/env bash
# setup.sh: install everything eabs and its tests need on a fresh Debian machine.
# Safe to run twice: every step checks before it acts.
#
#   Debian packages  libopenblas-dev (BLAS for training), python3-onnx (the ONNX checker the
#                    export tests call), python3-scipy (regenerates SVHN-format fixtures),
#                    slurm-wlm and munge (scripts/slurm-test.sh runs deploy/slurm on a
#                    one-node cluster)
#   ONNX Runtime     libonnxruntime.so.1 1.24.1 from the npm package onnxruntime-node@1.24.1
#                    (npm pack, no install scripts), into ./third_party/onnxruntime/ (git-ignored)
#   Go modules       go mod download
set -euo pipefail
cd "$(dirname "$0")/.."

ORT_VERSION=1.24.1
ORT_DIR=third_party/onnxruntime
ORT_LIB=$ORT_DIR/libonnxruntime.so.$ORT_VERSION

need_pkgs=()
for p in libopenblas-dev python3-onnx python3-scipy python3-numpy slurm-wlm munge; do
	dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
	echo "setup: installing Debian packages: ${need_pkgs[*]}"
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if [ ! -s "$ORT_LIB" ]; then
	echo "setup: fetching ONNX Runtime $ORT_VERSION from npm (onnxruntime-node@$ORT_VERSION)"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
	tar -xzf "$tmp/onnxruntime-node-$ORT_VERSION.tgz" -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
	mkdir -p "$ORT_DIR"
	mv "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$ORT_LIB.tmp"
	mv "$ORT_LIB.tmp" "$ORT_LIB"
fi
ln -sf "libonnxruntime.so.$ORT_VERSION" "$ORT_DIR/libonnxruntime.so"

echo "setup: downloading Go modules"
go mod download

echo "setup: building bin/eabs"
mkdir -p bin
. scripts/lib/build.sh # with the commit stamped in (build.sh says why)
build_eabs bin/eabs
echo "setup: done (ONNX Runtime at $ORT_DIR/libonnxruntime.so)"
