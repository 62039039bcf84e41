#!/bin/sh
# t_agent_raw.sh — raw mode between "hosts": SOURCE is HOST:DIR and the data
# comes from `segsync serve` through an --rsh stand-in that runs the agent
# here, exactly as sshd would run the command line it is given (sh -c).
#
# Checks: differential and full through the agent (zstd and none, -j 1/4,
# two block sizes) leave the trees identical (diff -r, metadata listing),
# bytes_transferred / blocks_changed / bytes_total equal blockdiff's,
# bytes_on_wire > 0 and, with zstd, below the changed data; verify through
# the agent; a directory whose name needs quoting for the remote shell;
# HOST:DIR without --raw refused; a missing source directory; a hostile
# request for "../" handed to serve gets an error and no data; an agent
# killed mid-run gives a clear error and a non-zero exit, and the rerun
# completes. The root directory's own mode and mtime reach the target (full and
# differential).
. "$(dirname "$0")/lib.sh"

SCALE=${SCALE:-0.4}
SRC=$T/src DST=$T/dst OUT=$T/outside

# The --rsh stand-ins: HOST is dropped, the rest runs through sh -c.
RSH=$T/fake-rsh
cat >"$RSH" <<'EOF'
#!/bin/sh
shift
exec sh -c "$*"
EOF
# Same, but the agent is killed (SIGKILL) after it has sent CUT_BYTES.
KRSH=$T/fake-rsh-kill
cat >"$KRSH" <<'EOF'
#!/bin/sh
shift
fifo=$(mktemp -u "${TMPDIR:-/tmp}/segsync-fifo.XXXXXX")
mkfifo "$fifo"
# A background job's stdin is /dev/null unless given: hand ours over on fd 3.
exec 3<&0
sh -c "exec $* 0<&3 3<&-" >"$fifo" &
apid=$!
# dd forwards each read at once (head -c may hold bytes back).
dd bs=65536 count="$CUT_BYTES" iflag=count_bytes status=none <"$fifo"
kill -9 "$apid"
wait "$apid" 2>/dev/null
rm -f "$fifo"
exit 0
EOF
chmod 755 "$RSH" "$KRSH"
AG="--rsh=$RSH --remote-path=$SS"

check_counts() { # JSON blockdiff-output
    for k in bytes_total bytes_transferred blocks_changed; do
        got=$(num_field "$1" "$k")
        want=$(bd_field "$2" "$k")
        [ "$got" = "$want" ] || { cat "$1"; fail "$k: segsync says $got, blockdiff computes $want"; }
    done
}

check_wire() { # JSON compress
    wire=$(num_field "$1" bytes_on_wire)
    xfer=$(num_field "$1" bytes_transferred)
    [ "$wire" -gt 0 ] || fail "bytes_on_wire is $wire, expected > 0"
    if [ "$2" = zstd ] && [ "$xfer" -gt 65536 ]; then
        [ "$wire" -lt "$xfer" ] ||
            fail "zstd: bytes_on_wire $wire is not below the changed data ($xfer bytes)"
    fi
    if [ "$2" = none ]; then
        [ "$wire" -ge "$xfer" ] || fail "none: bytes_on_wire $wire below the data sent ($xfer)"
    fi
    echo "wire: $wire bytes for $xfer bytes of changed data ($2)"
}

# seed:block-size:jobs:compress
CASES=${CASES:-"11::4:zstd 11::1:none 22:32768:4:zstd 22:32768:1:zstd:9"}
last_seed="" n=0
for c in $CASES; do
    seed=${c%%:*} c=${c#*:}
    bsopt=${c%%:*} c=${c#*:}
    j=${c%%:*} z=${c#*:}
    bs=${bsopt:-8192}
    if [ "$seed" != "$last_seed" ]; then
        rm -rf "$SRC"
        mk_tree "$seed" "$SRC" "$SCALE"
        last_seed=$seed
    fi
    n=$((n + 1))
    log "differential through the agent: seed $seed, block size $bs, -j $j, --compress=$z"
    rm -rf "$DST" "$OUT"
    cp -a "$SRC" "$DST"
    mutate_tree "$((seed * 100 + n))" "$DST" "$OUT"
    out_before=$(tree_sum "$OUT")
    "$BLOCKDIFF" "$bs" "$SRC" "$DST" >"$T/bd"
    set -- --raw --json -j "$j" --compress="$z"
    [ -n "$bsopt" ] && set -- "$@" --block-size="$bsopt"
    # shellcheck disable=SC2086
    run_ss diff differential "$@" $AG "localhost:$SRC" "$DST"
    expect_rc diff 0
    json_check "$T/diff.out"
    cat "$T/diff.out"
    assert_identical "$SRC" "$DST"
    [ "$(tree_sum "$OUT")" = "$out_before" ] || fail "the directory outside the target was written"
    check_counts "$T/diff.out" "$T/bd"
    check_wire "$T/diff.out" "${z%%:*}"
    [ "$(json_field "$T/diff.out" source)" = "localhost:$SRC" ] || fail "JSON source is not HOST:DIR"

    # shellcheck disable=SC2086
    run_ss verify verify --raw $AG "localhost:$SRC" "$DST"
    expect_rc verify 0
    # shellcheck disable=SC2086
    run_ss diff2 differential "$@" $AG "localhost:$SRC" "$DST"
    expect_rc diff2 0
    [ "$(num_field "$T/diff2.out" bytes_transferred)" = 0 ] || fail "second differential sent data"
done

log "full through the agent into an empty target"
rm -rf "$DST"
# The root's own mode and mtime travel too (LIST_END), as with a local source.
chmod 0750 "$SRC"
touch -d '2001-02-03 04:05:06.123456789' "$SRC"
# shellcheck disable=SC2086
run_ss full full --raw --json $AG "localhost:$SRC" "$DST"
expect_rc full 0
cat "$T/full.out"
assert_identical "$SRC" "$DST"
total=$(sum_sizes "$SRC")
[ "$(num_field "$T/full.out" bytes_transferred)" = "$total" ] || fail "full: bytes_transferred is not the tree's size ($total)"
check_wire "$T/full.out" zstd
[ "$(stat -c '%a %.9Y' "$DST")" = "750 981173106.123456789" ] ||
    fail "full: the target root is $(stat -c '%a %.9Y' "$DST"), the source's is 750 981173106.123456789"
chmod 0700 "$DST"
touch "$DST"
# shellcheck disable=SC2086
run_ss rootmeta differential --raw $AG "localhost:$SRC" "$DST"
expect_rc rootmeta 0
[ "$(stat -c '%a %.9Y' "$DST")" = "$(stat -c '%a %.9Y' "$SRC")" ] ||
    fail "differential: the target root is $(stat -c '%a %.9Y' "$DST"), the source's $(stat -c '%a %.9Y' "$SRC")"

log "a source directory whose name needs quoting for the remote shell"
Q="$T/it's a dir"
cp -a "$SRC" "$Q"
rm -rf "$DST"
# shellcheck disable=SC2086
run_ss quoted full --raw $AG "localhost:$Q" "$DST"
expect_rc quoted 0
assert_identical "$Q" "$DST"
rm -rf "$Q"

log "HOST:DIR without --raw: PostgreSQL mode refuses a tree that is not a data directory"
# shellcheck disable=SC2086
run_ss noraw differential $AG "localhost:$SRC" "$DST"
expect_rc noraw 2
# (before PostgreSQL mode through the agent: "needs --raw")
grep -q -e "needs --raw" -e "not a data directory" "$T/noraw.err" ||
    { show "$T/noraw.err"; fail "no error saying the source is not a data directory"; }
assert_identical "$SRC" "$DST"

log "a missing source directory on the agent's side"
# shellcheck disable=SC2086
run_ss missing differential --raw $AG "localhost:$T/no-such-dir" "$DST"
expect_rc missing 3
error_line "$T/missing.err" "source localhost:" "no-such-dir"
assert_identical "$SRC" "$DST"

log "an unreachable agent (--remote-path to nothing)"
run_ss badpath differential --raw --rsh="$RSH" --remote-path="$T/no-segsync" "localhost:$SRC" "$DST"
expect_rc badpath 3
error_line "$T/badpath.err" "source localhost:"

if [ -n "$_PY" ]; then
    log "hostile: a RANGE_REQ for ../secret handed to serve"
    echo "TOPSECRET-TOPSECRET" >"$T/secret"
    "$_PY" - "$T/req.bin" <<'EOF'
import struct, sys
def frame(t, p): return struct.pack(">IBB", len(p), t, 0) + p
def s(x): return struct.pack(">H", len(x)) + x
hello = struct.pack(">IHIII", 0x53475359, 1, 0, 8192, 1 << 20)
req = struct.pack(">Q", 7) + s(b"../secret") + struct.pack(">QQQIBI", 20, 0, 20, 8192, 1, 0)
open(sys.argv[1], "wb").write(frame(1, hello) + frame(8, req))
EOF
    rc=0
    timeout 60 "$SS" serve --compress=none "$SRC" <"$T/req.bin" >"$T/serve.out" 2>"$T/serve.err" || rc=$?
    [ "$rc" != 0 ] || fail "serve answered a request for ../secret without failing"
    [ "$rc" != 124 ] || fail "serve hung on a hostile request"
    if grep -q TOPSECRET "$T/serve.out"; then fail "serve sent the contents of a file outside ROOT"; fi
    grep -q "path" "$T/serve.out" || { od -c "$T/serve.out" | head; fail "no ERROR about the path in the reply"; }
    grep -q '^segsync serve: error: .*path' "$T/serve.err" || { show "$T/serve.err"; fail "serve did not say why"; }
    if grep -q '^segsync: error:' "$T/serve.err"; then fail "serve's messages look like the client's"; fi
fi

log "the agent killed in the middle of a run"
rm -rf "$DST"
mkdir "$DST"
CUT_BYTES=1000000
export CUT_BYTES
run_ss killed full --raw --json --rsh="$KRSH" --remote-path="$SS" "localhost:$SRC" "$DST"
expect_rc killed 3
error_line "$T/killed.err" "source localhost:"
cat "$T/killed.err"
[ "$(json_field "$T/killed.out" status)" = error ] || fail "JSON status is not error"
# shellcheck disable=SC2086
run_ss rerun differential --raw --json $AG "localhost:$SRC" "$DST"
expect_rc rerun 0
assert_identical "$SRC" "$DST"
log "$n differential cases, full, quoting, and the hostile cases checked"
