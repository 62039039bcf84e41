#!/bin/sh
# t_raw_io_fallback.sh — where io_uring cannot be set up (a seccomp profile
# answering EPERM, as in many containers), --io=auto falls back to
# pread/pwrite and the result is the same; --io=uring says why it cannot run.
# The local reader's fallback is local by nature; one differential through
# the agent over a pipe checks the target's writes fall back the same way.
. "$(dirname "$0")/lib.sh"

NOURING=$SEGSYNC_BUILD/tools/no_uring
SRC=$T/src DST=$T/dst
mk_tree 11 "$SRC" "${SCALE:-0.3}"

log "differential --io=auto with io_uring_setup refused"
cp -a "$SRC" "$DST"
mutate_tree 11 "$DST"
SS_REAL=$SS
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$NOURING" "$SS_REAL" >"$T/ss-nouring"
chmod 755 "$T/ss-nouring"
SS=$T/ss-nouring
run_ss auto differential --raw --json "$SRC" "$DST"
expect_rc auto 0
[ "$(json_field "$T/auto.out" io)" = psync ] || fail "io backend is $(json_field "$T/auto.out" io), expected psync"
assert_identical "$SRC" "$DST"

log "full --io=auto into a new directory, io_uring refused"
run_ss autofull full --raw --json "$SRC" "$T/new"
expect_rc autofull 0
[ "$(json_field "$T/autofull.out" io)" = psync ] || fail "full: io backend is not psync"
assert_identical "$SRC" "$T/new"

log "--io=uring with io_uring refused: exit 2, one line naming io_uring"
run_ss forced differential --raw --io=uring "$SRC" "$DST"
expect_rc forced 2
grep -q "^segsync: error: .*io_uring" "$T/forced.err" || { show "$T/forced.err"; fail "no error naming io_uring"; }

# Through the agent the fallback is the client's (the target's writes) and
# the agent's own (SS, the filtered wrapper, is also its --remote-path).
via_select pipe
for via in $VIAS; do
    via_use "$via"
    log "through $via: differential --io=auto with io_uring refused on both ends"
    mutate_tree 12 "$DST"
    run_ss rauto differential --raw --json "$SRC" "$DST"
    expect_rc rauto 0
    [ "$(json_field "$T/rauto.out" io)" = psync ] || fail "through $via: io backend is $(json_field "$T/rauto.out" io), expected psync"
    wire_check "$T/rauto.out"
    assert_identical "$SRC" "$DST"
    via_use local
done

log "without the filter, auto picks io_uring on this kernel"
SS=$SS_REAL
run_ss plain verify --raw --json "$SRC" "$DST"
expect_rc plain 0
[ "$(json_field "$T/plain.out" io)" = uring ] || echo "note: io_uring unavailable here; auto chose $(json_field "$T/plain.out" io)"
echo PASS
