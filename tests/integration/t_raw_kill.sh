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
# (interrupted) or, if it was already done, 0. Then through the agent (over
# a pipe and over TCP): the agent killed mid-run; each rerun finishes the
# job.
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
# wait_sigblk PID SIGNO: until PID blocks signal SIGNO or is gone (≤ 2 s).
wait_sigblk() {
    _i=0
    while [ $_i -lt 400 ]; do
        _b=$(awk '/^SigBlk:/ {print $2}' "/proc/$1/status" 2>/dev/null)
        [ -n "$_b" ] || return 0
        [ $(( 0x$_b >> ($2 - 1) & 1 )) = 1 ] && return 0
        sleep 0.005
        _i=$((_i + 1))
    done
}

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
    # A TERM that beats the process to main() (its libraries load first)
    # ends it as TERM's default does: the delay counts from when segsync
    # has blocked SIGTERM to take it itself.
    [ "$sig" = TERM ] && wait_sigblk "$pid" 15
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
log "$r local rounds"

# Through the agent (lib.sh's transports), from a smaller tree: the agent
# killed mid-run (SIGKILL; pipe: the process rsh_local.sh became; tcp: the
# connection's process that serve forked) must end the run with exit 3 and
# an error naming the source, or 0 if it was done; a killed client
# (RROUNDS=tcp:full:client) must leave the agent serving. Each rerun
# through the same transport makes the trees identical (over TCP, from the
# same serve, which must have lived on).
# transport:mode:what-is-killed (delay random within half a run's time)
RROUNDS=${RROUNDS:-"pipe:full:agent tcp:differential:agent"}
SRC=$T/rsrc
mk_tree 14 "$SRC" "${RSCALE:-0.5}"
SS_AGENT_PIDFILE=$T/agent.pid
export SS_AGENT_PIDFILE
via_select pipe tcp
# A local full first replaces the big tree in DST by this one; then rounds as
# above. The delays come from the local spans (the big tree locally takes
# about as long as this one through the agent); a run that was done before
# the kill still counts (its rerun must find nothing left to do wrong).
run_ss rfirst full --raw -j 2 "$SRC" "$DST"
expect_rc rfirst 0
for round in $RROUNDS; do
    via=${round%%:*} rest=${round#*:}
    mode=${rest%%:*} victim=${rest#*:}
    case " $VIAS " in *" $via "*) ;; *) echo "note: round $round not run ($via not selected)"; continue;; esac
    via_use "$via"
    eval "span=\$span_$mode"
    # Within the first half: the agent is seen only once the run is going.
    ms=$((5 + $(rand_below $((span / 2)))))
    r=$((r + 1))
    mutate_tree $((1400 + r)) "$DST" "$OUT"
    out_before=$(tree_sum "$OUT")
    delay=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
    log "round $r: $mode through $via, the $victim killed (SIGKILL) ${delay}s after it started"
    : >"$SS_AGENT_PIDFILE"
    run_ss_bg bg "$mode" --raw -j 2 "$SRC" "$DST"
    if [ "$victim" = agent ]; then
        victim_pid=$(via_agent_pid)
        [ -n "$victim_pid" ] || echo "(the run ended before its agent was seen)"
    else
        victim_pid=$BGPID
    fi
    sleep "$delay"
    if [ -n "$victim_pid" ]; then kill -9 "$victim_pid" 2>/dev/null || echo "(already finished)"; fi
    rc=0
    wait "$BGPID" || rc=$?
    untrack_pid "$BGPID"
    echo "the run exited $rc"
    case $victim:$rc in
        agent:0|client:0) echo "(it was done before the kill)";;
        agent:3) error_line "$T/bg.err" "source $(via_who):"
                 echo "ok: $(grep '^segsync: error:' "$T/bg.err")";;
        client:137) ;;
        *) show "$T/bg.err"; fail "round $r: unexpected exit $rc";;
    esac
    if [ "$via" = tcp ]; then
        kill -0 "$VIA_TCP_PID" 2>/dev/null || { show "$VIA_TCP_LOG"; fail "round $r: segsync serve is gone"; }
    fi
    echo "temporary files left by the killed run: $(find "$DST" -name '.segsync.*.tmp' | wc -l)"

    run_ss rerun "$mode" --raw --json "$SRC" "$DST"
    expect_rc rerun 0
    assert_identical "$SRC" "$DST"
    [ "$(tree_sum "$OUT")" = "$out_before" ] || fail "round $r: $OUT was written through a symlink"
done
log "$r rounds in all (through the agent:$VIAS)"
