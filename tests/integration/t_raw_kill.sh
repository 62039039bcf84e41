#!/bin/sh
# t_raw_kill.sh — a run killed at any moment and run again finishes with the
# target identical to the source.
#
# A ~150 MiB tree; the target is drifted (mutate, with symlinks into an
# outside sentinel) before each round; differential or full is started in the
# background and killed with SIGKILL after a random delay (printed, so a
# failure can be replayed with DELAYS=...); then the same command runs again
# and must leave the trees identical, no temporary file behind, the sentinel
# untouched. One round uses SIGTERM, which must end the run with exit 4
# (interrupted) or, if it was already done, 0.
. "$(dirname "$0")/lib.sh"

SRC=$T/src DST=$T/dst OUT=$T/outside
mk_tree 13 "$SRC" "${SCALE:-2.8}"
cp -a "$SRC" "$DST"
echo "source: $(sum_sizes "$SRC") bytes"

# Calibrate: how long a full run and a differential run of a drifted copy
# take here (ASan builds are slower); random delays fall within them.
ms_now() { echo $(( $(date +%s%N) / 1000000 )); }
t0=$(ms_now)
run_ss calib full --raw -j 2 "$SRC" "$DST"
expect_rc calib 0
span_full=$(( $(ms_now) - t0 ))
mutate_tree 1300 "$DST" "$OUT"
t0=$(ms_now)
run_ss calib differential --raw -j 2 "$SRC" "$DST"
expect_rc calib 0
span_differential=$(( $(ms_now) - t0 ))
[ "$span_full" -ge 100 ] || span_full=100
[ "$span_differential" -ge 50 ] || span_differential=50
echo "one full run: ${span_full} ms, one differential run: ${span_differential} ms"

# mode:signal:delay_ms (delay "" = random within one run's time of that
# mode; a third of it for TERM)
ROUNDS=${ROUNDS:-"differential:KILL: differential:KILL:30 full:KILL: full:TERM: differential:KILL: full:KILL: differential:TERM:"}
r=0
for round in $ROUNDS; do
    mode=${round%%:*} rest=${round#*:}
    sig=${rest%%:*} ms=${rest#*:}
    eval "span=\$span_$mode"
    if [ -z "$ms" ] && [ "$sig" = TERM ]; then ms=$((span / 3)); fi
    [ -n "$ms" ] || ms=$((5 + $(rand_below "$span")))
    r=$((r + 1))
    mutate_tree $((1300 + r)) "$DST" "$OUT"
    out_before=$(tree_sum "$OUT")
    delay=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
    log "round $r: $mode, SIG$sig after ${delay}s"
    "$SS" "$mode" --raw -j 2 "$SRC" "$DST" >"$T/bg.out" 2>"$T/bg.err" &
    pid=$!
    track_pid "$pid"
    sleep "$delay"
    kill -"$sig" "$pid" 2>/dev/null || echo "(already finished)"
    rc=0
    wait "$pid" || rc=$?
    untrack_pid "$pid"
    echo "killed run exited $rc"
    case $sig:$rc in
        KILL:137|KILL:0) ;;
        TERM:4|TERM:0) ;;
        TERM:*) show "$T/bg.err"; fail "SIGTERM: exit $rc, expected 4 (interrupted) or 0";;
        *) show "$T/bg.err"; fail "killed run: unexpected exit $rc";;
    esac
    if [ "$sig" = TERM ] && [ "$rc" = 4 ]; then
        grep -q '^segsync: ' "$T/bg.err" || { show "$T/bg.err"; fail "SIGTERM: no message"; }
    fi
    tmps=$(find "$DST" -name '.segsync.*.tmp' | wc -l)
    echo "temporary files left by the killed run: $tmps"

    run_ss rerun "$mode" --raw --json "$SRC" "$DST"
    expect_rc rerun 0
    assert_identical "$SRC" "$DST"
    [ "$(tree_sum "$OUT")" = "$out_before" ] || fail "round $r: $OUT was written through a symlink"
done
rsync_check "$SRC" "$DST"
run_ss verify verify --raw "$SRC" "$DST"
expect_rc verify 0
log "$r rounds"
