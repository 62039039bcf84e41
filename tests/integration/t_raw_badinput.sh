#!/bin/sh
# t_raw_badinput.sh — bad input gets one "segsync: error:" line naming the
# path, a non-zero exit, and leaves the target as it was:
#   missing SRC, DST is a file, SRC == DST (also via "..", a symlink), DST
#   inside SRC, SRC inside DST (exit 2); unreadable SRC, unreadable file in
#   SRC as an unprivileged user (exit 2/3); no space left on a small tmpfs
#   (exit 3, "No space", no temporary file left, a rerun with room works);
#   a source file growing/shrinking while read (exit 0 with a consistent
#   file, or exit 3 "changed size" naming it; a rerun makes trees identical).
# Then through the agent over a pipe and over TCP: a missing source (the
# agent's error, "source HOST: ..."); over the pipe also --block-size above
# the wire's limit, a source that is a file, a target that is a file (the
# client's own error) and, the agent running as the unprivileged user
# there, the unreadable source and file (the agent's error), no space on
# the target, and the file changing size while the agent reads it.
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

# remote_case NAME MODES EXPECTED-RC SUBSTRING ARGS...: as usage_case, for
# the given modes (through the agent every run starts one: fewer runs).
remote_case() {
    _name=$1 _ms=$2 _rc=$3 _sub=$4; shift 4
    for _m in $_ms; do
        run_ss "$_name" "$_m" --raw "$@"
        expect_rc "$_name" "$_rc"
        error_line "$T/$_name.err" "$_sub"
        [ -s "$T/$_name.out" ] && [ "$_m" != verify ] && { show "$T/$_name.out"; fail "$_name: output on stdout"; }
    done
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
    runuser -u "$U" -- cp -r "$SRC" "$T/u/dst" 2>/dev/null || true
    unreadable_cases() {
        chmod 0700 "$T/private"
        u_sum=$(tree_sum "$T/u/dst")
        for m in differential full; do
            run_ss_as "$U" unreadable "$m" --raw "$T/private" "$T/u/dst"
            if via_remote; then
                # The agent runs as $U too: its own error, passed on.
                expect_rc unreadable 3
                error_line "$T/unreadable.err" "source $(via_who):" "$T/private"
            else
                expect_rc unreadable "2 3"
                error_line "$T/unreadable.err" "$T/private"
            fi
            [ "$(tree_sum "$T/u/dst")" = "$u_sum" ] || fail "unreadable source ($m): the target was changed"
        done
        echo "ok: unreadable source -> $(grep '^segsync: error:' "$T/unreadable.err")"
        log "an unreadable file inside the source as $U"
        chmod 0755 "$T/private"
        chmod -R a+rX "$T/private"
        chmod 0600 "$T/private/odd-size"
        chmod a+rX "$T/private/modes/private" "$T/private/modes/private/secret" 2>/dev/null || true
        run_ss_as "$U" unreadable2 differential --raw "$T/private" "$T/u/dst"
        expect_rc unreadable2 3
        error_line "$T/unreadable2.err" "odd-size"
        via_remote && error_line "$T/unreadable2.err" "source $(via_who):"
        assert_no_tmp "$T/u/dst"
        echo "ok: unreadable file -> $(grep '^segsync: error:' "$T/unreadable2.err")"
    }
    unreadable_cases

    log "no space left on device (16 MiB tmpfs, bigger source)"
    mkdir "$T/mnt"
    BIG=""
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
        mv "$BIG/big" "$BIG/sparse" "$T/"
        run_ss nospace_ok differential --raw "$BIG" "$T/mnt/dst"
        expect_rc nospace_ok 0
        assert_identical "$BIG" "$T/mnt/dst"
        # The big files back, for the same case through the agent (the mount
        # stays until then).
        mv "$T/big" "$T/sparse" "$BIG/"
    fi
fi

# changing_size MIB MODE...: a source file of MIB MiB grows by 1 MiB and
# shrinks back while each MODE reads it (-j 1): exit 0 with a state the file
# really had, or exit 3 naming it; then a differential makes the trees
# identical.
G=$T/gsrc GD=$T/gdst
changing_size() {
    _base=$(($1 << 20))
    shift
    rm -rf "$G" "$GD" "$T/stop"
    mkdir "$G" "$GD"
    head -c "$_base" /dev/urandom >"$G/growing.dat"
    cp "$G/growing.dat" "$T/growing.base"
    echo other >"$G/other"
    (
        i=0
        while [ $i -lt 3000 ] && [ ! -e "$T/stop" ]; do
            truncate -s "$_base" "$G/growing.dat"
            head -c 1048576 /dev/urandom >>"$G/growing.dat"
            i=$((i + 1))
        done
    ) &
    writer=$!
    track_pid "$writer"
    sleep 0.2
    _k=0 _rcs=""
    for _m in "$@"; do
        _k=$((_k + 1))
        run_ss "changing$_k" "$_m" --raw -j 1 --io=psync "$G" "$GD"
        _rcs="$_rcs $RC"
    done
    touch "$T/stop"
    wait "$writer" || true
    untrack_pid "$writer"
    truncate -s "$_base" "$G/growing.dat"
    _k=0
    for r in $_rcs; do
        _k=$((_k + 1)) n=changing$_k
        RC=$r
        expect_rc $n "0 3"
        if [ "$r" = 3 ]; then
            error_line "$T/$n.err" "growing.dat" "changed"
            via_remote && error_line "$T/$n.err" "source $(via_who):"
            echo "ok: $n -> $(grep '^segsync: error:' "$T/$n.err")"
        else
            # Success: what was written is a state the file really had.
            sz=$(stat -c %s "$GD/growing.dat")
            [ "$sz" = "$_base" ] || [ "$sz" = $((_base + 1048576)) ] ||
                fail "$n: target file has size $sz, never a size of the source"
            cmp -n "$_base" "$T/growing.base" "$GD/growing.dat" ||
                fail "$n: the stable first $_base bytes differ in the target"
            echo "ok: $n succeeded with a consistent file ($sz bytes)"
        fi
        assert_no_tmp "$GD"
    done
    run_ss changing_after differential --raw -j 1 "$G" "$GD"
    expect_rc changing_after 0
    assert_identical "$G" "$GD"
}
log "a source file changing size while it is read (-j 1)"
changing_size 40 full differential

# Through the agent (lib.sh's transports, pipe and TCP). The SOURCE==TARGET
# and nesting checks compare local paths, which a remote source does not
# have: local only. Errors about the source come from the agent ("source
# WHO: ..."); errors about the target are the client's own.
via_select pipe tcp
for via in $VIAS; do
    via_use "$via"
    who=$(via_who)
    log "through $via: a missing source, a source that is a file, a target that is a file"
    remote_case "r$via.missing_src" verify 3 "source $who:" "$T/nope" "$DST"
    grep -q "nope" "$T/r$via.missing_src.err" || fail "the error does not name the missing directory"
    if [ "$via" = pipe ]; then
        remote_case "r$via.src_is_file" full 3 "source $who:" "$T/afile" "$DST"
        grep -q "afile" "$T/r$via.src_is_file.err" || fail "the error does not name the file"
        remote_case "r$via.dst_is_file" differential 2 "$T/afile" "$SRC" "$T/afile"
    fi
    if [ "$via" = pipe ]; then
        remote_case "r$via.badbs" differential 2 "block-size" --block-size=2M "$SRC" "$DST"
    fi
    untouched "through $via"
    if [ "$IS_ROOT" = 1 ]; then
        if [ "$via" = pipe ]; then
            log "through $via: unreadable source as $U (the agent runs as $U)"
            unreadable_cases
        else
            echo "note: through $via the agent runs as $(id -un), not $U: unreadable-source cases not run"
        fi
        if [ "$via" = pipe ] && [ -n "${BIG:-}" ]; then
            log "through $via: no space left on the target"
            run_ss rnospace full --raw -j 2 "$BIG" "$T/mnt/dst"
            expect_rc rnospace 3
            error_line "$T/rnospace.err" "$T/mnt/dst"
            grep -i '^segsync: error:.*no space' "$T/rnospace.err" >/dev/null ||
                { show "$T/rnospace.err"; fail "the error does not say 'no space'"; }
            assert_no_tmp "$T/mnt"
            echo "ok: full -> $(grep '^segsync: error:' "$T/rnospace.err")"
        fi
    fi
    if [ "$via" = pipe ]; then
        # The agent's reader is the same whatever carries its data: once.
        log "through $via: a source file changing size while the agent reads it"
        changing_size 12 full
    fi
done
[ -z "${BIG:-}" ] || { umount "$T/mnt"; untrack_mount "$T/mnt"; }
