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
#
# The same checks run with the source read through the agent (lib.sh's
# transports): over a pipe (--rsh stand-in), over TCP on 127.0.0.1 and over
# a real sshd, one seed per block size; through the agent bytes_on_wire must
# be above 0 (0 from a local source) and --json names the remote source.
. "$(dirname "$0")/lib.sh"

SCALE=${SCALE:-0.4}
RSCALE=${RSCALE:-0.15}
SSHSCALE=${SSHSCALE:-0.05}
# seed:block-size:io:jobs[:transport] (block size "" = the default, 8192;
# transport "" = local). Every seed runs locally with both io backends, -j 1
# and -j 4 alternating. Through the agent, on smaller trees (RSCALE) of their
# own seeds, each block size once: 4096 over the pipe, 32768 over TCP, 8192
# over ssh (the other raw tests use 8192 through the agent too). Over ssh a
# tiny tree (SSHSCALE) and the differential only: every login costs the
# login shell's startup, every byte ssh's cipher. Cases of a seed stay
# together (its tree is built once).
CASES=${CASES:-"11::uring:1 11::psync:4 22:32768:uring:4 22:32768:psync:1 33:4096:psync:1 33:4096:uring:4 44:4096:psync:4:pipe 55:32768:uring:1:tcp 77::psync:4:ssh"}

via_select local pipe tcp ssh
SRC=$T/src DST=$T/dst OUT=$T/outside
n=0 last_seed=""
for c in $CASES; do
    seed=${c%%:*} c=${c#*:}
    bsopt=${c%%:*} c=${c#*:}
    io=${c%%:*} c=${c#*:}
    j=${c%%:*} via=${c#*:}
    [ "$via" != "$j" ] || via=local
    case " $VIAS " in
        *" $via "*) ;;
        *) echo "note: case $seed:$bsopt:$io:$j:$via not run (transport $via not selected)"; continue;;
    esac
    via_use "$via"
    bs=${bsopt:-8192}
    case $via in
        local) scale=$SCALE;;
        ssh) scale=$SSHSCALE;;
        *) scale=$RSCALE;;
    esac
    if [ "$seed/$scale" != "$last_seed" ]; then
        rm -rf "$SRC"
        mk_tree "$seed" "$SRC" "$scale"
        last_seed=$seed/$scale
    fi
    n=$((n + 1))
    mseed=$((seed * 100 + n))
    log "seed $seed, block size $bs, --io=$io -j $j, through $via, mutate seed $mseed"
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
    [ "$(json_field "$T/diff.out" source)" = "$(via_src "$SRC")" ] ||
        fail "JSON source is $(json_field "$T/diff.out" source), expected $(via_src "$SRC")"
    wire_check "$T/diff.out"

    [ "$via" != ssh ] || continue
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
log "$n differential runs checked (transports:$VIAS)"
