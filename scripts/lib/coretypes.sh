#!/usr/bin/env bash
# coretypes.sh: the OPENBLAS_CORETYPE values this CPU can execute that test.sh runs the
# suite under, one per line: Haswell (AVX2, the kernels many x86 servers get) and
# SkylakeX (AVX-512) where the CPU has the instructions, Prescott (SSE3) everywhere, and
# the environment's own OPENBLAS_CORETYPE if it names another.
set -euo pipefail
flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
has() { [[ " $flags " == *" $1 "* ]]; }
types=()
if has avx2 && has fma; then types+=(Haswell); fi
if has avx512f && has avx512dq && has avx512bw && has avx512vl; then types+=(SkylakeX); fi
types+=(Prescott)
if [ -n "${OPENBLAS_CORETYPE:-}" ] && [[ " ${types[*]} " != *" ${OPENBLAS_CORETYPE} "* ]]; then
	types+=("$OPENBLAS_CORETYPE")
fi
printf '%s\n' "${types[@]}"
