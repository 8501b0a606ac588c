#!/usr/bin/env bash
# The project's two entry points (see README), each installing what it needs
# first, from the project's own files, on a fresh machine:
#   bash tools/dev.sh run    install, then `armbert run` on the bundled model
#   bash tools/dev.sh test   install, host test suite, then the arm64 suite in
#                            the emulated test bed (tools/testbed.py)
set -euo pipefail
cd "$(dirname "$0")/.."

install() {
    if ! dpkg -s libopenblas-dev >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq libopenblas-dev >/dev/null
    fi
    # The CPU build of torch that lies on this machine's disk, installed first so
    # that nothing below pulls a CUDA build from the registry.
    python3 -m pip install -q --disable-pip-version-check torch==2.13.0
    python3 -m pip install -q --disable-pip-version-check -e ".[test]"
}

pytest_ok() {  # pytest's exit 5 (nothing collected) is a failure here
    python3 -m pytest "$@" || { rc=$?; [ $rc -eq 5 ] && echo "no tests collected" >&2; return $rc; }
}

host_suite() {
    echo "== host suite ($(uname -m)) =="
    pytest_ok -q -rs -p no:cacheprovider --ignore=tests/arm tests
}

arm64_suite() {
    echo "== arm64 suite (emulated Debian trixie arm64, ACL 24.11) =="
    python3 tools/testbed.py ensure
    # The bundled checkpoint lives in the host's site-packages; the tree gets a copy.
    local cache="$HOME/.cache/armbert/testbed-cache"
    local src
    src=$(python3 -c 'from armbert.loaders.bundled import model_dir; print(model_dir())')
    mkdir -p "$cache/minilm" && cp -u "$src"/*.json "$src"/model.safetensors "$src"/vocab.txt "$cache/minilm/"
    # OpenCL runs on the tree's CPU drivers through the OpenCL adapter for test
    # devices (tools/ocl_test_adapter, never shipped), on LD_LIBRARY_PATH for these
    # runs only: PoCL (no cl_khr_fp16: CL FP16 must be refused) for everything, then
    # Mesa's rusticl on llvmpipe (cl_khr_fp16) for the CL FP16 cases.
    local ocl=/cache/ocl-adapter
    python3 tools/testbed.py run \
        --env ARMBERT_EXPECT_BACKENDS="${ARMBERT_EXPECT_BACKENDS:-host,neon,cl}" \
        --env ARMBERT_MODEL_DIR=/cache/minilm --env ARMBERT_OBJ_DIR=/cache/build-aarch64 \
        -- sh -c "sh tools/ocl_test_adapter/build.sh $ocl && python3 build.py || exit 1
            rc=0
            echo '== pytest on PoCL (OpenCL CPU device, no cl_khr_fp16) =='
            LD_LIBRARY_PATH=$ocl OCL_ICD_VENDORS=$ocl/vendors/pocl ARMBERT_CL_FP16=0 \
                python3 -m pytest -q -rs --durations=8 -p no:cacheprovider tests/kernels tests/arm || rc=1
            echo '== pytest on rusticl (llvmpipe, cl_khr_fp16): CL FP16 =='
            LD_LIBRARY_PATH=$ocl OCL_ICD_VENDORS=$ocl/vendors/rusticl ARMBERT_CL_FP16=1 \
                RUSTICL_ENABLE=llvmpipe RUSTICL_FEATURES=fp16 \
                python3 -m pytest -q -rs -p no:cacheprovider tests/kernels tests/arm/test_cl_engine.py \
                -k 'cl and fp16' || rc=1
            exit \$rc"
}

case "${1:-}" in
    run) install; shift; armbert run "$@" ;;
    test) install; host_suite; arm64_suite ;;
    host-test) host_suite ;;
    arm64-test) arm64_suite ;;
    *) echo "usage: bash tools/dev.sh run|test|host-test|arm64-test" >&2; exit 2 ;;
esac
