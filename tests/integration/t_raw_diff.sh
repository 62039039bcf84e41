#!/bin/sh
# t_raw_diff.sh — differential --raw makes a drifted copy identical and
# transfers exactly the blocks that differ.
#
# For several seeds and block sizes, with --io=uring/psync and -j 1/4: build
# SRC (mktree), copy it (cp -a), drift the copy in every way (mutate, with
# symlinks into an outside sentinel directory), compute the expected transfer
# independently (blockdiff), sync, then check: trees identical (diff -r,
# metadata listing, rsync -c -n), bytes_transferred / blocks_changed /
# bytes_total / files_copied equal blockdiff's, the sentinel untouched,
# verify exits 0, and a second differential transfers nothing.
. "$(dirname "$0")/lib.sh"

SCALE=${SCALE:-0.4}
# seed:block-size:io:jobs (block size "" = the default, 8192). Every seed
# runs with both io backends; -j 1 and -j 4 alternate.
CASES=${CASES:-"11::uring:1 11::psync:4 22:32768:uring:4 22:32768:psync:1 33:4096:psync:1 33:4096:uring:4"}

SRC=$T/src DST=$T/dst OUT=$T/outside
n=0 last_seed=""
for c in $CASES; do
    seed=${c%%:*} c=${c#*:}
    bsopt=${c%%:*} c=${c#*:}
    io=${c%%:*} j=${c#*:}
    bs=${bsopt:-8192}
    if [ "$seed" != "$last_seed" ]; then
        rm -rf "$SRC"
        mk_tree "$seed" "$SRC" "$SCALE"
        last_seed=$seed
    fi
    n=$((n + 1))
    mseed=$((seed * 100 + n))
    log "seed $seed, block size $bs, --io=$io -j $j, mutate seed $mseed"
    rm -rf "$DST" "$OUT"
    cp -a "$SRC" "$DST"
    mutate_tree "$mseed" "$DST" "$OUT"
    sed 's/^/  mutate: /' "$T/mutate.$mseed.log"
    out_before=$(tree_sum "$OUT")
    "$BLOCKDIFF" -v "$bs" "$SRC" "$DST" >"$T/bd" 2>"$T/bd.v"
    cat "$T/bd"

    set -- differential --raw --json --io="$io" -j "$j"
    [ -n "$bsopt" ] && set -- "$@" --block-size="$bsopt"
    run_ss diff "$@" "$SRC" "$DST"
    expect_rc diff 0
    json_check "$T/diff.out"
    cat "$T/diff.out"
    assert_identical "$SRC" "$DST"
    rsync_check "$SRC" "$DST"
    [ "$(tree_sum "$OUT")" = "$out_before" ] ||
        fail "the directory outside the target ($OUT) was written through a symlink"

    for k in bytes_total bytes_transferred blocks_changed; do
        got=$(num_field "$T/diff.out" "$k")
        want=$(bd_field "$T/bd" "$k")
        if [ "$got" != "$want" ]; then
            cat "$T/bd.v"
            fail "$k: segsync says $got, blockdiff computes $want"
        fi
    done
    got=$(num_field "$T/diff.out" files_copied)
    want=$(bd_field "$T/bd" files_new)
    [ "$got" = "$want" ] || fail "files_copied: segsync says $got, blockdiff counts $want new files"
    got=$(json_field "$T/diff.out" files_updated)
    want=$(bd_field "$T/bd" files_differ)
    [ "$got" = "$want" ] || echo "note: files_updated $got, blockdiff files_differ $want (not asserted)"
    [ "$(json_field "$T/diff.out" mode)" = differential ] || fail "JSON mode is not differential"

    run_ss verify verify --raw --io="$io" -j "$j" "$SRC" "$DST"
    expect_rc verify 0

    run_ss diff2 "$@" "$SRC" "$DST"
    expect_rc diff2 0
    for k in bytes_transferred blocks_changed files_copied files_deleted; do
        v=$(num_field "$T/diff2.out" "$k")
        [ "$v" = 0 ] || { cat "$T/diff2.out"; fail "second differential: $k = $v, expected 0"; }
    done
    listing "$SRC" >"$T/l1"; listing "$DST" >"$T/l2"
    cmp -s "$T/l1" "$T/l2" || { diff "$T/l1" "$T/l2" | head; fail "second differential changed metadata"; }
done
log "$n differential runs checked"
