#!/bin/sh
# t_raw_verify.sh — verify --raw answers "identical" (exit 0) or lists what
# differs (exit 1) and never changes anything; --dry-run of differential and
# full prints a plan and changes nothing (target and outside sentinel hashed
# with metadata before and after). Then, with the source read through the
# agent over a pipe and over TCP: every kind of difference; over the pipe
# also a differential dry run (it reads the source's block hashes; full's
# reads nothing of the source's data) and one into a missing target.
. "$(dirname "$0")/lib.sh"

SRC=$T/src DST=$T/dst OUT=$T/outside
mk_tree 5 "$SRC" "${SCALE:-0.3}"

fresh() { rm -rf "$DST" "$OUT"; cp -a "$SRC" "$DST"; }

# verify_expect NAME RC PATH...: run verify, expect RC; each PATH appears in
# the listing on stdout; DST is unchanged by verify.
verify_expect() {
    _name=$1 _want=$2; shift 2
    _before=$(tree_sum "$DST")
    run_ss "$_name" verify --raw "$SRC" "$DST"
    expect_rc "$_name" "$_want"
    for _p in "$@"; do
        grep -qF -- "$_p" "$T/$_name.out" ||
            { show "$T/$_name.out"; fail "$_name: verify does not list $_p"; }
    done
    [ "$(tree_sum "$DST")" = "$_before" ] || fail "$_name: verify changed the target"
}

# Flip the last byte of a file, keeping size and mtime (only a hash sees it).
flip_last_byte() {
    _sz=$(stat -c %s "$1")
    _b=$(od -An -tu1 -j $((_sz - 1)) -N1 "$1" | tr -d ' ')
    _nb=$(( (_b + 1) % 256 ))
    # shellcheck disable=SC2059
    printf "\\$(printf %03o "$_nb")" | dd of="$1" bs=1 seek=$((_sz - 1)) conv=notrunc status=none
    touch -r "$2" "$1"
}

log "identical copy: exit 0"
fresh
verify_expect same 0
run_ss same_uring verify --raw --io=uring -j 1 "$SRC" "$DST"
expect_rc same_uring 0
run_ss same_psync verify --raw --io=psync -j 4 --block-size=65536 "$SRC" "$DST"
expect_rc same_psync 0

# verify_flip NAME: one byte of the last block of a large file differs,
# same size and mtime: exit 1, that file listed, no other.
verify_flip() {
    fresh
    flip_last_byte "$DST/big/huge.dat" "$SRC/big/huge.dat"
    [ "$(stat -c %s.%Y "$DST/big/huge.dat")" = "$(stat -c %s.%Y "$SRC/big/huge.dat")" ] ||
        fail "test setup: size/mtime not kept"
    verify_expect "$1" 1 big/huge.dat
    grep -qF "big/aligned.dat" "$T/$1.out" && fail "verify lists an unchanged file (big/aligned.dat)"
    return 0
}

log "one byte of the last block of a large file, same size and mtime: exit 1"
verify_flip flip

log "one extra file in the target: exit 1"
fresh
echo extra >"$DST/nest/extra-file-in-target"
verify_expect extra 1 nest/extra-file-in-target

# every_difference: DST differs from SRC in every way verify must see; sets
# PATHS ('|'-separated) to what must be listed.
every_difference() {
    fresh
    rm "$DST/odd-size"
    echo x >"$DST/extra top"
    chmod 0600 "$DST/modes/m0755"
    ln -sfn elsewhere "$DST/links/rel"
    rm "$DST/two-blocks" && mkdir "$DST/two-blocks"
    rm "$DST/links/dangling" && echo now-a-file >"$DST/links/dangling"
    rmdir "$DST/empty-dir"
    rm -r "$DST/nest/a/b" && echo file >"$DST/nest/a/b"
    rm "$DST/one" && mkfifo "$DST/one"
    truncate -s 100 "$DST/big/medium.dat"
    flip_last_byte "$DST/odd names/new
line" "$SRC/odd names/new
line"
    PATHS="odd-size|extra top|modes/m0755|links/rel|two-blocks|links/dangling|empty-dir|nest/a/b|one|big/medium.dat"
    if [ "$IS_ROOT" = 1 ]; then
        chown 999:999 "$DST/bs+1"
        PATHS="$PATHS|bs+1"
    fi
}

# verify_many NAME: every_difference, then verify exits 1 listing each.
verify_many() {
    _vm=$1
    every_difference
    IFS='|'
    # shellcheck disable=SC2086
    set -- $PATHS
    unset IFS
    verify_expect "$_vm" 1 "$@"
    grep -q "line" "$T/$_vm.out" || fail "verify does not list the file with a newline in its name"
    grep -qF "odd names/with space" "$T/$_vm.out" && fail "verify lists an unchanged file (odd names/with space)"
    return 0
}

log "every kind of difference at once: exit 1, each listed"
verify_many many

log "mtime-only difference (reported, not asserted: verify may ignore mtimes)"
fresh
touch -d 2001-02-03 "$DST/32k-x3"
run_ss mtime verify --raw "$SRC" "$DST"
expect_rc mtime "0 1"
echo "note: verify exits $RC on a file whose only difference is its mtime"

# dry_runs MODE:FLAG...: on a drifted copy (symlinks to the outside), each
# dry run exits 0, prints a plan and changes neither the target nor OUT.
dry_runs() {
    fresh
    mutate_tree 55 "$DST" "$OUT"
    dst_before=$(tree_sum "$DST")
    out_before=$(tree_sum "$OUT")
    for _mf in "$@"; do
        mode=${_mf%%:*} flag=${_mf#*:}
        run_ss dry "$mode" --raw "$flag" "$SRC" "$DST"
        expect_rc dry 0
        [ -s "$T/dry.out" ] || [ -s "$T/dry.err" ] || fail "$mode $flag printed no plan"
        [ "$(tree_sum "$DST")" = "$dst_before" ] || fail "$mode $flag changed the target"
        [ "$(tree_sum "$OUT")" = "$out_before" ] || fail "$mode $flag changed $OUT"
    done
}

log "dry runs change nothing (target and outside sentinel)"
dry_runs differential:-n differential:--dry-run full:-n full:--dry-run
"$BLOCKDIFF" 8192 "$SRC" "$DST" >"$T/bd"
echo "--- plan (first lines):"; sed -n '1,15p' "$T/dry.out"
run_ss dryjson differential --raw -n --json "$SRC" "$DST"
expect_rc dryjson 0
json_check "$T/dryjson.out"
[ "$(tree_sum "$DST")" = "$dst_before" ] || fail "differential -n --json changed the target"
echo "note: dry-run bytes_transferred $(json_field "$T/dryjson.out" bytes_transferred)," \
     "blockdiff $(bd_field "$T/bd" bytes_transferred)"
log "dry run into a missing target creates nothing"
run_ss drynew full --raw -n "$SRC" "$T/not-there"
expect_rc drynew 0
[ -e "$T/not-there" ] && fail "full --dry-run created the target directory"

log "after all that, a real differential still works and verify agrees"
run_ss real differential --raw "$SRC" "$DST"
expect_rc real 0
assert_identical "$SRC" "$DST"
verify_expect final 0

# Through the agent (lib.sh's transports, pipe and TCP): the same answers,
# from a smaller tree (the same fixed entries; fewer random ones).
rm -rf "$SRC"
mk_tree 6 "$SRC" "${RSCALE:-0.1}"
via_select pipe tcp
for via in $VIAS; do
    via_use "$via"
    # (An identical tree through the agent, exit 0: t_raw_diff.)
    log "through $via: every kind of difference at once: exit 1, each listed"
    verify_many "r$via.many"
    # (every_difference flips a byte of a same-size, same-mtime file too.)
    [ "$via" = pipe ] || continue
    log "through $via: dry runs change nothing; into a missing target, create nothing"
    dry_runs differential:-n
    run_ss "r$via.drynew" full --raw -n "$SRC" "$T/not-there"
    expect_rc "r$via.drynew" 0
    [ -e "$T/not-there" ] && fail "full --dry-run through $via created the target directory"
done
log "verify and dry runs checked locally and through:$VIAS"
