#!/bin/sh
# Run every tests/integration/t_*.sh with the build directory; each script
# exits 0 on success, 77 when it must be skipped, anything else on failure.
BUILD=${1:-build}
BUILD=$(cd "$BUILD" && pwd)
pass=0; fail=0; skip=0
for t in tests/integration/t_*.sh; do
    [ -e "$t" ] || continue
    name=$(basename "$t" .sh)
    log=$BUILD/logs/$name.log
    mkdir -p "$BUILD/logs"
    start=$(date +%s)
    if SEGSYNC_BUILD=$BUILD timeout 1200 sh "$t" >"$log" 2>&1; then rc=0; else rc=$?; fi
    dur=$(( $(date +%s) - start ))
    case $rc in
        0) pass=$((pass+1)); echo "ok   $name (${dur}s)";;
        77) skip=$((skip+1)); echo "skip $name: $(tail -n1 "$log")";;
        *) fail=$((fail+1)); echo "FAIL $name (rc=$rc, ${dur}s); last lines of $log:"; tail -n 25 "$log" | sed 's/^/    /';;
    esac
done
echo "integration: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
