# Wall-clock phases for the CI log, sourced by tools/dev.sh (on the host) and by
# tools/arm64_suite.sh (inside the arm64 tree). Every phase prints a timestamped
# start and end line, and `phase_summary` prints the table the CI issue asks
# for: where a cold run spends its time.
#
#   phase NAME CMD ARGS...     runs CMD, records NAME, its seconds and its status
#   phase_record NAME SECONDS STATUS   records a phase timed elsewhere
#   phase_status RC            "ok", or "FAILED (exit RC)": the STATUS of an exit code
#   phase_summary [TITLE]      the table, then the total since the first phase
#
# A phase's failure is returned, not fatal: callers decide (set -e callers
# must write `phase ... || rc=$?`).

PHASE_T0=${PHASE_T0:-$(date +%s)}
PHASE_ROWS=()

phase_stamp() {
    printf '[%s +%5ss] %s\n' "$(date +%H:%M:%S)" "$(( $(date +%s) - PHASE_T0 ))" "$*"
}

phase_status() {
    if [ "$1" = 0 ]; then echo ok; else echo "FAILED (exit $1)"; fi
}

phase_record() {
    PHASE_ROWS+=("$(printf '%-58s %6ss  %s' "$1" "$2" "$3")")
}

phase() {
    local name=$1 t0 rc=0
    shift
    t0=$(date +%s)
    phase_stamp "== $name: start"
    "$@" || rc=$?
    local dt=$(( $(date +%s) - t0 ))
    phase_record "$name" "$dt" "$(phase_status "$rc")"
    phase_stamp "== $name: done in ${dt} s (exit $rc)"
    return "$rc"
}

phase_summary() {
    echo "== ${1:-time per phase} (wall clock; phases may overlap) =="
    printf '%s\n' "${PHASE_ROWS[@]}"
    echo "total since start: $(( $(date +%s) - PHASE_T0 )) s"
}
