#!/bin/sh
# Run every tests/integration/t_*.sh with the build directory; each script
# exits 0 on success, 77 when it must be skipped, anything else on failure.
#
# SEGSYNC_TEST_JOBS scripts run at once (default 2): the PostgreSQL tests
# spend most of their time waiting on servers, so two at a time roughly
# halves the wall time on a 2-core machine. Every script has its own temp
# directory and picks free ports, so they do not interfere. Results are
# printed in name order once all have finished; TESTS="t_a t_b" runs a subset.
BUILD=${1:-build}
BUILD=$(cd "$BUILD" && pwd)
JOBS=${SEGSYNC_TEST_JOBS:-2}
mkdir -p "$BUILD/logs"

if [ -n "${TESTS:-}" ]; then
    list=""
    for n in $TESTS; do list="$list tests/integration/${n%.sh}.sh"; done
else
    list=$(ls tests/integration/t_*.sh 2>/dev/null)
fi
for t in $list; do rm -f "$BUILD/logs/$(basename "$t" .sh).rc"; done
# Longest first (by the last recorded duration, else the committed
# tests/integration/durations of a loaded run), so the slow ones overlap.
ordered=$(for t in $list; do
    name=$(basename "$t" .sh)
    d=$(cat "$BUILD/logs/$name.dur" 2>/dev/null ||
        awk -v n="$name" '$1 == n { print $2 }' tests/integration/durations 2>/dev/null)
    [ -n "$d" ] || d=60
    echo "$d $t"
done | sort -rn | cut -d' ' -f2)

# One script: its log, exit code and duration land in $BUILD/logs.
# shellcheck disable=SC2016
printf '%s\n' $ordered | xargs -P "$JOBS" -I{} sh -c '
    t=$1; b=$2; name=$(basename "$t" .sh)
    start=$(date +%s)
    if SEGSYNC_BUILD=$b timeout 1200 sh "$t" >"$b/logs/$name.log" 2>&1; then rc=0; else rc=$?; fi
    echo $(( $(date +%s) - start )) >"$b/logs/$name.dur"
    echo "$rc" >"$b/logs/$name.rc"
    echo "  done $name (rc=$rc, $(cat "$b/logs/$name.dur")s)"
' sh {} "$BUILD"

pass=0; fail=0; skip=0
for t in $list; do
    name=$(basename "$t" .sh)
    log=$BUILD/logs/$name.log
    rc=$(cat "$BUILD/logs/$name.rc" 2>/dev/null || echo 99)
    dur=$(cat "$BUILD/logs/$name.dur" 2>/dev/null || echo "?")
    case $rc in
        0) pass=$((pass+1)); echo "ok   $name (${dur}s)";;
        77) skip=$((skip+1)); echo "skip $name: $(tail -n1 "$log")";;
        *) fail=$((fail+1)); echo "FAIL $name (rc=$rc, ${dur}s); last lines of $log:"; tail -n 25 "$log" | sed 's/^/    /';;
    esac
done
echo "integration: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
