#!/bin/sh
# t_raw_full.sh — full --raw makes TARGET a copy of SOURCE whatever TARGET
# held: an empty directory, a drifted copy (with symlinks into an outside
# sentinel that must stay untouched), a directory that does not exist yet.
# After each: trees identical (diff -r, metadata listing, rsync -c -n),
# verify exits 0, bytes_transferred = the sum of the source's file sizes and
# files_copied = their count (full never reads the target's contents).
# Special files in the source (fifo; a device as root) are skipped.
#
# The source is read locally, then through the agent over a pipe (--rsh
# stand-in) and over TCP (lib.sh's transports): an empty or new target
# (the target's side is the same as from a local source: the drifted copy is
# not repeated), and the special files (over the pipe), with bytes_on_wire > 0 and --json
# naming the remote source.
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
    [ "$(json_field "$T/$1.out" source)" = "$(via_src "$SRC")" ] || fail "$1: JSON source is not $(via_src "$SRC")"
    wire_check "$T/$1.out"
    run_ss verify verify --raw "$SRC" "$2"
    expect_rc verify 0
}

# drifted NAME IO: full over a drifted copy with symlinks to the outside.
drifted() {
    log "full into a drifted copy with symlinks to the outside (--io=$2, through $SS_VIA)"
    rm -rf "$T/dst" "$OUT"
    cp -a "$SRC" "$T/dst"
    mutate_tree 71 "$T/dst" "$OUT"
    out_before=$(tree_sum "$OUT")
    run_ss "$1" full --raw --json --io="$2" "$SRC" "$T/dst"
    check_full "$1" "$T/dst"
    [ "$(tree_sum "$OUT")" = "$out_before" ] ||
        fail "full wrote into $OUT through a symlink in the target"
}

# specials NAME SRC DST: SRC holds a fifo (and, as root, a device): full
# succeeds, neither is copied, the rest is identical.
specials() {
    _s=$2 _d=$3
    mkfifo "$_s/fifo in src"
    _sp="fifo in src"
    if [ "$IS_ROOT" = 1 ] && mkdir -p "$_s/odd names" && mknod "$_s/odd names/chardev" c 1 3 2>/dev/null; then
        _sp="$_sp chardev"
    fi
    rm -rf "$_d"
    run_ss "$1" full --raw --json "$_s" "$_d"
    expect_rc "$1" 0
    # Locally and through the agent alike: warned about and counted.
    grep -q "fifo in src" "$T/$1.err" || { show "$T/$1.err"; fail "the skipped fifo is not reported on stderr (through $SS_VIA)"; }
    _n=1
    case $_sp in *chardev*)
        _n=2
        grep -q "chardev" "$T/$1.err" || { show "$T/$1.err"; fail "the skipped device is not reported (through $SS_VIA)"; };;
    esac
    [ "$(json_field "$T/$1.out" entries_skipped)" = "$_n" ] ||
        fail "entries_skipped is $(json_field "$T/$1.out" entries_skipped), expected $_n (through $SS_VIA)"
    [ -e "$_d/fifo in src" ] || [ -L "$_d/fifo in src" ] && fail "the fifo was copied"
    [ -e "$_d/odd names/chardev" ] && fail "the device was copied"
    run_ss "$1.d" differential --raw --json "$_s" "$_d"
    expect_rc "$1.d" 0
    rm -f "$_s/fifo in src" "$_s/odd names/chardev"
    assert_identical "$_s" "$_d"
}

log "full into an empty directory (--io=uring -j 4)"
mkdir "$T/empty"
run_ss full1 full --raw --json --io=uring -j 4 "$SRC" "$T/empty"
check_full full1 "$T/empty"

log "full into a directory that does not exist (--io=psync -j 1)"
run_ss full2 full --raw --json --io=psync -j 1 "$SRC" "$T/newdst"
check_full full2 "$T/newdst"

drifted full3 uring
drifted full3 psync

log "full again over an identical copy: everything copied again, still identical"
run_ss full4 full --raw --json --block-size=4096 "$SRC" "$T/dst"
check_full full4 "$T/dst"

log "special files in the source are reported and skipped"
specials full5 "$SRC" "$T/dst5"

# Through the agent: new and empty targets, from a smaller tree of its own;
# the special files in a tiny tree.
SRC=$T/rsrc
mk_tree 8 "$SRC" "${RSCALE:-0.15}"
want_bytes=$(sum_sizes "$SRC")
want_files=$(count_files "$SRC")
mkdir "$T/small"
echo "a file" >"$T/small/file"
ln -s file "$T/small/link"
via_select pipe tcp
for via in $VIAS; do
    via_use "$via"
    case $via in
        pipe)
            log "through $via: full into an empty directory (-j 4)"
            rm -rf "$T/empty" && mkdir "$T/empty"
            run_ss rfull1 full --raw --json -j 4 "$SRC" "$T/empty"
            check_full rfull1 "$T/empty";;
        tcp)
            log "through $via: full into a directory that does not exist"
            rm -rf "$T/newdst"
            run_ss rfull2 full --raw --json "$SRC" "$T/newdst"
            check_full rfull2 "$T/newdst";;
    esac
    # The agent lists the same way whatever carries its answers: once.
    [ "$via" = pipe ] || continue
    log "through $via: special files in the source are skipped"
    specials rfull5 "$T/small" "$T/dst-small"
done
log "full checked locally and through:$VIAS"
