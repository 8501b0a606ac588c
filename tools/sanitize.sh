#!/usr/bin/env bash
# The ASan + UBSan job (issue 12): builds the host backend with
# ARMBERT_SANITIZE=address,undefined into build/<machine>-sanitize/ (the normal
# library is untouched) and runs the kernel suite, the engine suites that need no
# torch, the bad-input, lifetime, threading, soak and property suites against it.
#
#   bash tools/sanitize.sh            # from the repository root; exit status = pytest's
#
# libasan must be the first library in the process, so it is preloaded; libstdc++
# is preloaded beside it, because libasan alone intercepts __cxa_throw before
# libstdc++ is loaded under Python and aborts on the first C++ exception.
# Leak checking is off (CPython keeps its arenas until exit by design); UBSan halts
# on the first finding with a stack trace. Child processes the tests start inherit
# all of it. Prints "sanitize: N tests ..., S s" as its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
machine=$(uname -m)
ARMBERT_SANITIZE=address,undefined python3 build.py
lib="build/${machine}-sanitize/libarmbert.so"
cxx=${CXX:-g++}
asan=$("$cxx" -print-file-name=libasan.so)
stdcxx=$("$cxx" -print-file-name=libstdc++.so)
for f in "$asan" "$stdcxx"; do
    [ -e "$f" ] || { echo "sanitize: $f not found (install the compiler's libasan)" >&2; exit 2; }
done
suites=(tests/kernels
        tests/engine/test_errors.py tests/engine/test_bad_input.py
        tests/engine/test_engine_lifetime.py tests/engine/test_threads.py
        tests/engine/test_plan.py tests/engine/test_pipeline.py tests/engine/test_soak.py
        tests/test_fuzz_loaders.py tests/hardening)
log=$(mktemp)
set +e
env ARMBERT_LIBRARY="$PWD/$lib" PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" \
    LD_PRELOAD="$(readlink -f "$asan"):$(readlink -f "$stdcxx")" \
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ARMBERT_SOAK_RSS=0 \
    python3 -m pytest -q -p no:cacheprovider "${suites[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
summary=$(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed)' "$log" | tail -1 | tr -d '=')
rm -f "$log"
echo "sanitize: ${summary:-no pytest summary} under ASan+UBSan ($lib), $(( $(date +%s) - start )) s"
exit "$rc"
