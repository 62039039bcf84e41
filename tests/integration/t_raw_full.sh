#!/bin/sh
# t_raw_full.sh — full --raw makes TARGET a copy of SOURCE whatever TARGET
# held: an empty directory, a drifted copy (with symlinks into an outside
# sentinel that must stay untouched), a directory that does not exist yet.
# After each: trees identical (diff -r, metadata listing, rsync -c -n),
# verify exits 0, bytes_transferred = the sum of the source's file sizes and
# files_copied = their count (full never reads the target's contents).
# Special files in the source (fifo; a device as root) are reported and
# skipped.
. "$(dirname "$0")/lib.sh"

SRC=$T/src OUT=$T/outside
mk_tree 7 "$SRC" "${SCALE:-0.5}"
want_bytes=$(sum_sizes "$SRC")
want_files=$(count_files "$SRC")

check_full() {   # NAME DST
    expect_rc "$1" 0
    json_check "$T/$1.out"
    assert_identical "$SRC" "$2"
    rsync_check "$SRC" "$2"
    got=$(num_field "$T/$1.out" bytes_transferred)
    [ "$got" = "$want_bytes" ] || fail "$1: bytes_transferred $got, the source holds $want_bytes bytes"
    got=$(num_field "$T/$1.out" files_copied)
    [ "$got" = "$want_files" ] || fail "$1: files_copied $got, the source holds $want_files files"
    [ "$(json_field "$T/$1.out" mode)" = full ] || fail "$1: JSON mode is not full"
    run_ss verify verify --raw "$SRC" "$2"
    expect_rc verify 0
}

log "full into an empty directory (--io=uring -j 4)"
mkdir "$T/empty"
run_ss full1 full --raw --json --io=uring -j 4 "$SRC" "$T/empty"
check_full full1 "$T/empty"

log "full into a directory that does not exist (--io=psync -j 1)"
run_ss full2 full --raw --json --io=psync -j 1 "$SRC" "$T/newdst"
check_full full2 "$T/newdst"

for io in uring psync; do
    log "full into a drifted copy with symlinks to the outside (--io=$io)"
    rm -rf "$T/dst" "$OUT"
    cp -a "$SRC" "$T/dst"
    mutate_tree 71 "$T/dst" "$OUT"
    out_before=$(tree_sum "$OUT")
    run_ss full3 full --raw --json --io=$io "$SRC" "$T/dst"
    check_full full3 "$T/dst"
    [ "$(tree_sum "$OUT")" = "$out_before" ] ||
        fail "full wrote into $OUT through a symlink in the target"
done

log "full again over an identical copy: everything copied again, still identical"
run_ss full4 full --raw --json --block-size=4096 "$SRC" "$T/dst"
check_full full4 "$T/dst"

log "special files in the source are reported and skipped"
mkfifo "$SRC/fifo in src"
specials="fifo in src"
if [ "$IS_ROOT" = 1 ] && mknod "$SRC/odd names/chardev" c 1 3 2>/dev/null; then
    specials="$specials chardev"
fi
rm -rf "$T/dst5"
run_ss full5 full --raw --json "$SRC" "$T/dst5"
expect_rc full5 0
grep -q "fifo in src" "$T/full5.err" || { show "$T/full5.err"; fail "the skipped fifo is not reported on stderr"; }
case $specials in *chardev*)
    grep -q "chardev" "$T/full5.err" || { show "$T/full5.err"; fail "the skipped device is not reported"; };;
esac
[ -e "$T/dst5/fifo in src" ] || [ -L "$T/dst5/fifo in src" ] && fail "the fifo was copied"
[ -e "$T/dst5/odd names/chardev" ] && fail "the device was copied"
run_ss diff5 differential --raw --json "$SRC" "$T/dst5"
expect_rc diff5 0
rm -f "$SRC/fifo in src" "$SRC/odd names/chardev"
assert_identical "$SRC" "$T/dst5"
