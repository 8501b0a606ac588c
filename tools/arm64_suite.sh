#!/bin/bash
# The arm64 half of the README's test command, run INSIDE the emulated test bed
# by tools/dev.sh (through tools/testbed.py, which mounts the repository at /src
# and the persistent cache at /cache):
#
#   1. the OpenCL adapter for test devices (tools/ocl_test_adapter, never shipped)
#   2. armbert's native library, built natively with the tree's g++ and ACL 24.11
#      (build.py, one compiler per core; objects cached by content in /cache)
#   3. two lanes side by side, one per core, each a single qemu process:
#        pocl:    every kernel test and every ARM test, on host, NEON and PoCL's
#                 OpenCL CPU device (no cl_khr_fp16: each CL FP16 case must be
#                 refused, naming the extension)
#        rusticl: every CL FP16 case again on Mesa's rusticl/llvmpipe, which has
#                 cl_khr_fp16 (the cases must run and pass there), then MiniLM
#                 FP16 on CL
#      Nothing is deselected by hand beyond the rusticl lane's 'cl and fp16',
#      whose complement the pocl lane runs.
#
# Under emulation the first OpenCL compile of each ACL kernel costs tens of
# seconds (its clang/LLVM run under qemu too), so PoCL's, Mesa's and ACL's
# program caches live in /cache, and PoCL compiles one generic work-group
# function per kernel (POCL_WORK_GROUP_SPECIALIZATION=0) instead of one per
# local size and offset: the adapter splits non-uniform launches into several.
set -uo pipefail
cd /src
. tools/ci_phases.sh

OCL=/cache/ocl-adapter
ROWS=${ARMBERT_CI_ROWS:-/cache/ci-phases.txt}
LANES=$(mktemp -d)
PYTEST=(python3 -m pytest -q -rs -p no:cacheprovider --durations=8)

lane_pocl() {
    LD_LIBRARY_PATH=$OCL OCL_ICD_VENDORS=$OCL/vendors/pocl ARMBERT_CL_FP16=0 \
        ARMBERT_CACHE_DIR=/cache/armbert/pocl \
        "${PYTEST[@]}" tests/kernels tests/arm
}

lane_rusticl() {
    LD_LIBRARY_PATH=$OCL OCL_ICD_VENDORS=$OCL/vendors/rusticl ARMBERT_CL_FP16=1 \
        RUSTICL_ENABLE=llvmpipe RUSTICL_FEATURES=fp16 ARMBERT_CACHE_DIR=/cache/armbert/rusticl \
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

export POCL_WORK_GROUP_SPECIALIZATION=0
phase_stamp "== arm64 suites: lanes pocl and rusticl side by side"
t0=$(date +%s)
start_lane pocl
start_lane rusticl
wait || true
for name in pocl rusticl; do
    read -r secs status < "$LANES/$name" || { secs=?; status=lost; }
    phase_record "arm64: $name lane" "$secs" "$([ "$status" = 0 ] && echo ok || echo "FAILED (exit $status)")"
    [ "$status" = 0 ] || rc=1
done
phase_record "arm64: both lanes (wall)" "$(( $(date +%s) - t0 ))" "$([ $rc = 0 ] && echo ok || echo FAILED)"
printf '%s\n' "${PHASE_ROWS[@]}" > "$ROWS"
exit $rc
