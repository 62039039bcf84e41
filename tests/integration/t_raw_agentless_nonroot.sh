#!/bin/sh
# t_raw_agentless_nonroot.sh — raw full/differential/verify run by an
# unprivileged user (postgres, else nobody; as root via runuser, otherwise
# as whoever runs the test) on trees that user owns: identical results,
# everything owned by that user, exact bytes_transferred, a read-only file
# inside a read-only (0555) directory updated, the outside sentinel
# untouched. Then a differential with the source read through the agent
# over a pipe, the agent also run as that user.
. "$(dirname "$0")/lib.sh"

if [ "$IS_ROOT" = 1 ]; then
    U=$(pick_user)
    setup_user_bin
    as_u() { runuser -u "$U" -- "$@"; }
    BIN=$T/bin
    mkdir "$T/u"
    chown "$U" "$T/u"
else
    U=$(id -un)
    as_u() { "$@"; }
    BIN=$TOOLS
    mkdir "$T/u"
fi
W=$T/u
SRC=$W/src DST=$W/dst OUT=$W/outside
CHECK_OWNER=1

# run as U: NAME ARGS... (SOURCE through SS_VIA, the agent run as U too
# over the pipe)
run_u() {
    _n=$1; shift
    if [ "$IS_ROOT" = 1 ]; then _via_args "$U" "$T/bin/segsync" "$@"; else _via_args "" "$SS" "$@"; fi
    if [ "$_VIA_DID" = 1 ]; then eval "set -- $_VIA_ARGS"; fi
    echo "\$ (as $U) segsync $*"
    if [ "$IS_ROOT" = 1 ]; then
        timeout "$SS_TIMEOUT" runuser -u "$U" -- "$T/bin/segsync" "$@" >"$T/$_n.out" 2>"$T/$_n.err" && RC=0 || RC=$?
    else
        timeout "$SS_TIMEOUT" "$SS" "$@" >"$T/$_n.out" 2>"$T/$_n.err" && RC=0 || RC=$?
    fi
    [ "$RC" = 124 ] && fail "segsync $* hung"
    return 0
}

owned_by_u() {
    _x=$(find "$1" ! -user "$U" -print | head -n 5)
    [ -z "$_x" ] || fail "entries in $1 not owned by $U: $_x"
}

log "as $U: build a source tree"
as_u "$BIN/mktree" 17 "$SRC" "${SCALE:-0.3}"

log "full into a new directory"
run_u full full --raw --json "$SRC" "$W/full"
expect_rc full 0
assert_identical "$SRC" "$W/full"
owned_by_u "$W/full"
got=$(num_field "$T/full.out" bytes_transferred)
[ "$got" = "$(sum_sizes "$SRC")" ] || fail "full: bytes_transferred $got"

log "differential onto a drifted copy (with symlinks to the outside)"
as_u cp -a "$SRC" "$DST"
as_u "$BIN/mutate" 1717 "$DST" "$OUT" >"$T/mutate.log"
out_before=$(tree_sum "$OUT")
as_u "$BIN/blockdiff" 8192 "$SRC" "$DST" >"$T/bd"
for io in uring psync; do
    run_u diff differential --raw --json --io=$io "$SRC" "$DST"
    expect_rc diff 0
    assert_identical "$SRC" "$DST"
    owned_by_u "$DST"
    [ "$(tree_sum "$OUT")" = "$out_before" ] || fail "$OUT was written through a symlink"
    if [ "$io" = uring ]; then
        for k in bytes_transferred blocks_changed; do
            got=$(num_field "$T/diff.out" "$k")
            want=$(bd_field "$T/bd" "$k")
            [ "$got" = "$want" ] || fail "$k: segsync says $got, blockdiff computes $want"
        done
    fi
done

log "read-only file inside a read-only directory: content changed"
RO=modes/readonly-dir
as_u chmod u+w "$DST/$RO" "$DST/$RO/inside-ro"
as_u sh -c 'printf "\377\376" | dd of="$1" bs=1 seek=100 conv=notrunc status=none' sh "$DST/$RO/inside-ro"
as_u touch -r "$SRC/$RO/inside-ro" "$DST/$RO/inside-ro"
as_u chmod 0444 "$DST/$RO/inside-ro"
as_u chmod 0555 "$DST/$RO"
run_u verify1 verify --raw "$SRC" "$DST"
expect_rc verify1 1
run_u diff2 differential --raw --json "$SRC" "$DST"
expect_rc diff2 0
assert_identical "$SRC" "$DST"
owned_by_u "$DST"

log "full over the drifted copy"
as_u "$BIN/mutate" 1718 "$DST" "$OUT" >"$T/mutate2.log"
out_before=$(tree_sum "$OUT")
run_u full2 full --raw "$SRC" "$DST"
expect_rc full2 0
assert_identical "$SRC" "$DST"
owned_by_u "$DST"
[ "$(tree_sum "$OUT")" = "$out_before" ] || fail "$OUT was written through a symlink"
run_u verify verify --raw "$SRC" "$DST"
expect_rc verify 0

log "read-only directory: an entry missing, extra entries (file, read-only dir)"
as_u chmod u+w "$DST/$RO"
as_u rm "$DST/$RO/inside"
as_u sh -c 'echo extra >"$1"' sh "$DST/$RO/extra"
as_u mkdir "$DST/$RO/extra-dir"
as_u chmod 0555 "$DST/$RO" "$DST/$RO/extra-dir"
run_u diff3 differential --raw --json "$SRC" "$DST"
expect_rc diff3 0
assert_identical "$SRC" "$DST"
owned_by_u "$DST"
run_u verify2 verify --raw "$SRC" "$DST"
expect_rc verify2 0

# Through the agent over the pipe (lib.sh's transports): the agent runs as U
# as well. (Over TCP the agent would be the test's, root: nothing of U's
# reading rights would be tested.)
via_select pipe
mseed=1720
for via in $VIAS; do
    via_use "$via"
    mseed=$((mseed + 1))
    log "through $via (client and agent as $U): differential onto a drifted copy"
    as_u "$BIN/mutate" "$mseed" "$DST" "$OUT" >"$T/mutate3.log"
    out_before=$(tree_sum "$OUT")
    as_u "$BIN/blockdiff" 8192 "$SRC" "$DST" >"$T/bd"
    run_u rdiff differential --raw --json "$SRC" "$DST"
    expect_rc rdiff 0
    assert_identical "$SRC" "$DST"
    owned_by_u "$DST"
    wire_check "$T/rdiff.out"
    [ "$(tree_sum "$OUT")" = "$out_before" ] || fail "$OUT was written through a symlink"
    for k in bytes_transferred blocks_changed; do
        got=$(num_field "$T/rdiff.out" "$k")
        want=$(bd_field "$T/bd" "$k")
        [ "$got" = "$want" ] || fail "through $via: $k: segsync says $got, blockdiff computes $want"
    done
done
