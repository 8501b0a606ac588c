#!/usr/bin/env bash
# The project's two entry points (see README), each installing what it needs
# first, from the project's own files, on a fresh machine:
#   bash tools/dev.sh run    install, then `armbert run` on the bundled model
#   bash tools/dev.sh test   install, host test suite, then the arm64 suite in
#                            the emulated test bed (tools/testbed.py)
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/ci_phases.sh

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
    # All of it: the sentence-transformers recipe (modules.json, 1_Pooling/) is read too.
    mkdir -p "$cache/minilm" && cp -ru "$src"/. "$cache/minilm/"
    rm -f "$cache/ci-phases.txt"
    # The dev box's side of tests/arm/test_wheel_arm.py: the int8 .armbert of the
    # bundled MiniLM and this machine's host-backend output, which the aarch64 wheel
    # must reproduce on NEON and CL.
    phase "x86: board reference (tools/board_reference.py)" \
        python3 tools/board_reference.py "$cache/board-reference" || return 1
    # The instruction counter (qemu-user with a TCG plugin) that tests/arm/test_insncount.py
    # and benchmarks/insn_arm.py run under; built on the host, run inside the tree.
    local insn
    insn=$(python3 tools/insncount/insncount.py prepare) || return 1
    local rc=0
    python3 tools/testbed.py run --tools \
        --env ARMBERT_INSNCOUNT="/cache/insncount/$(basename "$insn")" \
        --env ARMBERT_BOARD_REFERENCE=/cache/board-reference \
        --env ARMBERT_EXPECT_BACKENDS="${ARMBERT_EXPECT_BACKENDS:-host,neon,cl}" \
        --env ARMBERT_MODEL_DIR=/cache/minilm --env ARMBERT_OBJ_DIR=/cache/build-aarch64 \
        --env PHASE_T0="$PHASE_T0" \
        -- bash tools/arm64_suite.sh || rc=$?
    # The phases timed inside the tree join this run's table.
    if [ -f "$cache/ci-phases.txt" ]; then
        mapfile -t -O "${#PHASE_ROWS[@]}" PHASE_ROWS < "$cache/ci-phases.txt"
    fi
    return $rc
}

# The test command: the arm64 tree (built once per package list, mostly one
# qemu process) is built in the background while the host suite runs.
ci_test() {
    trap 'phase_summary "CI time per phase"' EXIT
    phase "install (apt, pip, native x86 build)" install
    local tree_log tree_pid t0 rc=0
    tree_log=$(mktemp)
    t0=$(date +%s)
    phase_stamp "== arm64 tree: ensure (in the background, log below when done)"
    python3 tools/testbed.py ensure > "$tree_log" 2>&1 &
    tree_pid=$!
    phase "host suite (x86_64)" host_suite || rc=$?
    phase "host ASan+UBSan suite (tools/sanitize.sh)" bash tools/sanitize.sh || rc=$?
    local tree_rc=0
    wait "$tree_pid" || tree_rc=$?
    sed 's/^/[tree] /' "$tree_log"
    phase_record "arm64 tree (overlaps the host suite)" "$(( $(date +%s) - t0 ))" \
        "$(phase_status "$tree_rc")"
    [ $tree_rc = 0 ] || return $tree_rc
    phase "arm64 suite (in the tree: build + lanes)" arm64_suite || rc=$?
    return $rc
}

case "${1:-}" in
    run) install; shift; armbert run "$@" ;;
    test) ci_test ;;
    host-test) host_suite ;;
    arm64-test) arm64_suite ;;
    *) echo "usage: bash tools/dev.sh run|test|host-test|arm64-test" >&2; exit 2 ;;
esac
