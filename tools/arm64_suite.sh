#!/bin/bash
# The arm64 half of the README's test command, run INSIDE the emulated test bed
# by tools/dev.sh (through tools/testbed.py, which mounts the repository at /src
# and the persistent cache at /cache):
#
#   1. the OpenCL adapter for test devices (tools/ocl_test_adapter, never shipped)
#   2. armbert's native library, built natively with the tree's g++ and ACL 24.11
#      (build.py, one compiler per core; objects cached by content in /cache)
#   3. four lanes side by side on the two cores, each a single qemu process:
#        pocl-kernels + pocl-arm + neon: every kernel test and every ARM test, on
#                 host, NEON and PoCL's OpenCL CPU device (no cl_khr_fp16: each CL
#                 FP16 case must be refused, naming the extension), CL with the
#                 short shape list (ARMBERT_CL_SHAPES=short,
#                 tests/kernels/conftest.py); split into lanes by -k 'cl' /
#                 -k 'not cl', the CL part by directory (the kernel tests, the
#                 ARM engine and runtime tests), so that PoCL's compiles, which
#                 dominate a cold run, keep both cores busy to the end
#        rusticl: every CL FP16 case on Mesa's rusticl/llvmpipe, which has
#                 cl_khr_fp16 (the cases must run and pass there), at every shape
#                 but attention's (the short list: its FP16 CLMatMul programs took
#                 Mesa 527-725 s cold for the (3, 33, 64, 4) case alone, 1,359 s for
#                 four shapes, measured under "max" before DEFAULT_CPU), and MiniLM
#                 FP16 on CL
#
# Under emulation the first OpenCL compile of each ACL kernel costs seconds
# (clang/LLVM run under qemu too; tens of seconds before the test bed's core lost
# pointer authentication, tools/testbed.py DEFAULT_CPU), so PoCL's, Mesa's and ACL's
# program caches live in /cache. Measured on qemu's plain "max", cold: PoCL compiled
# an ACL GEMM for a new shape in 80-110 s, hence the short CL shape list on PoCL, and one generic
# work-group function per kernel (POCL_WORK_GROUP_SPECIALIZATION=0) instead of one
# per local size and offset (the adapter splits non-uniform launches); llvmpipe
# compiles without LLVM's optimisation passes and kernel variants (GALLIVM_PERF=nopt,
# RUSTICL_DEBUG=no_variants: 177 s instead of 227 s for the same 18 cold cases).
set -uo pipefail
cd /src
. tools/ci_phases.sh

OCL=/cache/ocl-adapter
ROWS=${ARMBERT_CI_ROWS:-/cache/ci-phases.txt}
LANES=$(mktemp -d)
PYTEST=(python3 -m pytest -q -rs -p no:cacheprovider --durations=25)

# The PoCL suite is every kernel and ARM test with PoCL as the OpenCL device, in
# three lanes that split it into complements, so nothing is left out: by -k
# ("cl" and "not cl") the CL cases, whose first OpenCL compiles dominate a cold
# run, from the host and NEON cases; the CL cases by directory. Measured cold
# (commit 9f86625, one PoCL lane): PoCL ran alone for its last 20 minutes while
# the other core idled. A program compiled by one lane is in PoCL's cache for
# the other.
pocl_env=(env LD_LIBRARY_PATH=$OCL OCL_ICD_VENDORS=$OCL/vendors/pocl ARMBERT_CL_FP16=0
          ARMBERT_CACHE_DIR=/cache/armbert/pocl ARMBERT_CL_SHAPES=short
          POCL_WORK_GROUP_SPECIALIZATION=0)

lane_pocl-kernels() {
    "${pocl_env[@]}" "${PYTEST[@]}" tests/kernels -k 'cl'
}

lane_pocl-arm() {
    "${pocl_env[@]}" "${PYTEST[@]}" tests/arm -k 'cl'
}

lane_neon() {
    "${pocl_env[@]}" "${PYTEST[@]}" tests/kernels tests/arm -k 'not cl'
}

lane_rusticl() {
    LD_LIBRARY_PATH=$OCL OCL_ICD_VENDORS=$OCL/vendors/rusticl ARMBERT_CL_FP16=1 \
        ARMBERT_CL_SHAPES=short:attention RUSTICL_ENABLE=llvmpipe RUSTICL_FEATURES=fp16 ARMBERT_CACHE_DIR=/cache/armbert/rusticl \
        GALLIVM_PERF=nopt RUSTICL_DEBUG=no_variants \
        "${PYTEST[@]}" tests/kernels tests/arm/test_cl_engine.py -k 'cl and fp16'
}

# Runs one lane in the background: its lines prefixed live, its wall time and
# status written to $LANES/NAME for the summary.
start_lane() {
    local name=$1
    (
        t0=$(date +%s)
        "lane_$name" 2>&1 | sed -u "s/^/[$name] /"
        rc=${PIPESTATUS[0]}
        echo "$(( $(date +%s) - t0 )) $rc" > "$LANES/$name"
        exit "$rc"
    ) &
}

rc=0
phase "arm64: OpenCL adapter for test devices" sh tools/ocl_test_adapter/build.sh "$OCL" || exit 1
phase "arm64: native build (build.py, $(nproc) jobs)" python3 build.py || exit 1

LANE_NAMES=(pocl-kernels pocl-arm neon rusticl)
phase_stamp "== arm64 suites: lanes ${LANE_NAMES[*]} side by side"
t0=$(date +%s)
for name in "${LANE_NAMES[@]}"; do start_lane "$name"; done
wait || true
for name in "${LANE_NAMES[@]}"; do
    read -r secs status < "$LANES/$name" || { secs=?; status=lost; }
    phase_record "arm64: $name lane" "$secs" "$(phase_status "$status")"
    [ "$status" = 0 ] || rc=1
done
phase_record "arm64: all lanes (wall)" "$(( $(date +%s) - t0 ))" "$(phase_status "$rc")"
printf '%s\n' "${PHASE_ROWS[@]}" > "$ROWS"
exit $rc
