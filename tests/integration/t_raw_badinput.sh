#!/bin/sh
# t_raw_badinput.sh — bad input gets one "segsync: error:" line naming the
# path, a non-zero exit, and leaves the target as it was:
#   missing SRC, DST is a file, SRC == DST (also via "..", a symlink), DST
#   inside SRC, SRC inside DST (exit 2); unreadable SRC, unreadable file in
#   SRC as an unprivileged user (exit 2/3); no space left on a small tmpfs
#   (exit 3, "No space", no temporary file left, a rerun with room works);
#   a source file growing/shrinking while read (exit 0 with a consistent
#   file, or exit 3 "changed size" naming it; a rerun makes trees identical).
. "$(dirname "$0")/lib.sh"

SRC=$T/src DST=$T/dst
mk_tree 3 "$SRC" 0.05 >/dev/null
cp -a "$SRC" "$DST"
echo "some file" >"$T/afile"
src_sum=$(tree_sum "$SRC")
dst_sum=$(tree_sum "$DST")

untouched() {
    [ "$(tree_sum "$SRC")" = "$src_sum" ] || fail "$1: the source was changed"
    [ "$(tree_sum "$DST")" = "$dst_sum" ] || fail "$1: the target was changed"
    [ "$(cat "$T/afile")" = "some file" ] || fail "$1: $T/afile was changed"
}

# usage_case NAME EXPECTED-RCS SUBSTRING ARGS...
usage_case() {
    _name=$1 _rcs=$2 _sub=$3; shift 3
    for _m in differential full verify; do
        run_ss "$_name" "$_m" --raw "$@"
        expect_rc "$_name" "$_rcs"
        error_line "$T/$_name.err" "$_sub"
        [ -s "$T/$_name.out" ] && [ "$_m" != verify ] && { show "$T/$_name.out"; fail "$_name: output on stdout"; }
    done
    untouched "$_name"
    echo "ok: $_name -> $(grep '^segsync: error:' "$T/$_name.err")"
}

log "usage errors"
usage_case missing_src "2 3" "$T/nope" "$T/nope" "$DST"
usage_case dst_is_file 2 "$T/afile" "$SRC" "$T/afile"
usage_case same 2 "$T/" "$SRC" "$SRC"
usage_case same_dotdot 2 "$T/" "$SRC" "$T/dst/../src"
ln -s src "$T/srclink"
usage_case same_symlink 2 "$T/" "$T/srclink" "$SRC"
usage_case dst_in_src 2 "$T/" "$SRC" "$SRC/nest"
usage_case new_dst_in_src 2 "$T/" "$SRC" "$SRC/newsub"
[ -e "$SRC/newsub" ] && fail "new_dst_in_src: the target was created inside the source"
usage_case src_in_dst 2 "$T/" "$DST/nest" "$DST"
usage_case src_is_file 2 "$T/afile" "$T/afile" "$DST"
run_ss noargs differential --raw "$SRC"
expect_rc noargs 2
run_ss badopt differential --raw --io=bogus "$SRC" "$DST"
expect_rc badopt 2
run_ss badbs differential --raw --block-size=0 "$SRC" "$DST"
expect_rc badbs 2
untouched "bad options"

if [ "$IS_ROOT" != 1 ]; then
    log "not root: unreadable-source, no-space cases skipped"
else
    U=$(pick_user)
    setup_user_bin
    log "unreadable source as $U"
    mkdir "$T/u" && chown "$U" "$T/u"
    cp -a "$SRC" "$T/private"
    chmod 0700 "$T/private"
    runuser -u "$U" -- cp -r "$SRC" "$T/u/dst" 2>/dev/null || true
    u_sum=$(tree_sum "$T/u/dst")
    for m in differential full; do
        run_ss_as "$U" unreadable "$m" --raw "$T/private" "$T/u/dst"
        expect_rc unreadable "2 3"
        error_line "$T/unreadable.err" "$T/private"
        [ "$(tree_sum "$T/u/dst")" = "$u_sum" ] || fail "unreadable source ($m): the target was changed"
    done
    log "an unreadable file inside the source as $U"
    chmod 0755 "$T/private"
    chmod -R a+rX "$T/private"
    chmod 0600 "$T/private/odd-size"
    chmod a+rX "$T/private/modes/private" "$T/private/modes/private/secret" 2>/dev/null || true
    run_ss_as "$U" unreadable2 differential --raw "$T/private" "$T/u/dst"
    expect_rc unreadable2 3
    error_line "$T/unreadable2.err" "odd-size"
    assert_no_tmp "$T/u/dst"

    log "no space left on device (16 MiB tmpfs, bigger source)"
    mkdir "$T/mnt"
    if ! mount -t tmpfs -o size=16m,mode=755 tmpfs "$T/mnt" 2>"$T/mount.err"; then
        cat "$T/mount.err"
        echo "note: cannot mount a tmpfs here: no-space case skipped"
    else
        track_mount "$T/mnt"
        BIG=$T/bigsrc
        mk_tree 9 "$BIG" 0.6 >/dev/null
        echo "source: $(sum_sizes "$BIG") bytes; target fs: 16 MiB"
        for m in full differential; do
            run_ss nospace "$m" --raw -j 2 "$BIG" "$T/mnt/dst"
            expect_rc nospace 3
            error_line "$T/nospace.err" "$T/mnt/dst"
            grep -i '^segsync: error:.*no space' "$T/nospace.err" >/dev/null ||
                { show "$T/nospace.err"; fail "the error does not say 'no space'"; }
            assert_no_tmp "$T/mnt"
            echo "ok: $m -> $(grep '^segsync: error:' "$T/nospace.err")"
        done
        log "with room again (big files removed from the source), a rerun succeeds"
        rm -rf "$BIG/big" "$BIG/sparse"
        run_ss nospace_ok differential --raw "$BIG" "$T/mnt/dst"
        expect_rc nospace_ok 0
        assert_identical "$BIG" "$T/mnt/dst"
        umount "$T/mnt"
        untrack_mount "$T/mnt"
    fi
fi

log "a source file changing size while it is read (-j 1)"
G=$T/gsrc GD=$T/gdst
mkdir "$G" "$GD"
head -c $((40 << 20)) /dev/urandom >"$G/growing.dat"
cp "$G/growing.dat" "$T/growing.base"
echo other >"$G/other"
(
    i=0
    while [ $i -lt 3000 ] && [ ! -e "$T/stop" ]; do
        truncate -s $((40 << 20)) "$G/growing.dat"
        head -c 1048576 /dev/urandom >>"$G/growing.dat"
        i=$((i + 1))
    done
) &
writer=$!
track_pid "$writer"
sleep 0.2
run_ss changing full --raw -j 1 --io=psync "$G" "$GD"
rc1=$RC
run_ss changing2 differential --raw -j 1 "$G" "$GD"
rc2=$RC
touch "$T/stop"
wait "$writer" || true
untrack_pid "$writer"
for n in changing changing2; do
    case $n in changing) r=$rc1;; *) r=$rc2;; esac
    RC=$r
    expect_rc $n "0 3"
    if [ "$r" = 3 ]; then
        error_line "$T/$n.err" "growing.dat" "changed"
        echo "ok: $n -> $(grep '^segsync: error:' "$T/$n.err")"
    else
        # Success: what was written is a state the file really had.
        sz=$(stat -c %s "$GD/growing.dat")
        [ "$sz" = $((40 << 20)) ] || [ "$sz" = $((41 << 20)) ] ||
            fail "$n: target file has size $sz, never a size of the source"
        cmp -n $((40 << 20)) "$T/growing.base" "$GD/growing.dat" ||
            fail "$n: the stable first 40 MiB differ in the target"
        echo "ok: $n succeeded with a consistent file ($sz bytes)"
    fi
    assert_no_tmp "$GD"
done
run_ss changing3 differential --raw -j 1 "$G" "$GD"
expect_rc changing3 0
assert_identical "$G" "$GD"
