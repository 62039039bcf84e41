#!/bin/sh
# t_agent_ssh.sh — raw mode through a real sshd: HOST:DIR with --rsh=ssh.
#
# The test installs nothing (openssh-server comes from tests/deps.sh). It
# generates a host key and a user key in its temporary directory, writes a
# minimal sshd_config (127.0.0.1 only, a free port, that key only, no
# passwords, no PAM), starts `sshd -D` in the background (tracked: killed
# by the trap, stopped at the end) and runs differential and full through
# `ssh -p PORT -i KEY 127.0.0.1 segsync serve DIR`. Checks: identical
# trees, counts equal to blockdiff's, bytes on the wire; a missing DIR on
# the far side is a clear error. Skipped (77) when sshd is missing or the
# test is not run as root.
. "$(dirname "$0")/lib.sh"

sshd_usable || skip "$SSHD_WHY"

SCALE=${SCALE:-0.3}
SRC=$T/src DST=$T/dst K=$T/ssh
# sshd on 127.0.0.1:<free port> with its keys in $K (lib.sh's sshd_start).
sshd_start "$K" || skip "$SSHD_WHY"
PORT=$SSHD_PORT RSH=$SSH_RSH
# The login works at all (a clear failure here is about sshd, not segsync).
sshd_probe

log "differential over ssh"
mk_tree 31 "$SRC" "$SCALE"
cp -a "$SRC" "$DST"
mutate_tree 3101 "$DST" "$T/outside"
"$BLOCKDIFF" 8192 "$SRC" "$DST" >"$T/bd"
run_ss diff differential --raw --json --rsh="$RSH" --remote-path="$SS" "127.0.0.1:$SRC" "$DST"
expect_rc diff 0
cat "$T/diff.out"
assert_identical "$SRC" "$DST"
for k in bytes_total bytes_transferred blocks_changed; do
    got=$(num_field "$T/diff.out" "$k")
    want=$(bd_field "$T/bd" "$k")
    [ "$got" = "$want" ] || fail "$k: segsync says $got, blockdiff computes $want"
done
[ "$(num_field "$T/diff.out" bytes_on_wire)" -gt 0 ] || fail "bytes_on_wire is 0"

log "full over ssh into an empty target"
rm -rf "$DST"
run_ss full full --raw --json --rsh="$RSH" --remote-path="$SS" "127.0.0.1:$SRC" "$DST"
expect_rc full 0
assert_identical "$SRC" "$DST"
[ "$(num_field "$T/full.out" bytes_transferred)" = "$(sum_sizes "$SRC")" ] ||
    fail "full: bytes_transferred is not the tree's size"

log "a missing directory on the far side"
run_ss missing differential --raw --rsh="$RSH" --remote-path="$SS" "127.0.0.1:$T/no-such-dir" "$DST"
expect_rc missing 3
error_line "$T/missing.err" "source 127.0.0.1:" "no-such-dir"
assert_identical "$SRC" "$DST"

log "stopping sshd"
sshd_stop
grep -c "Accepted publickey" "$K/sshd.log" | sed 's/^/logins: /'
log "ssh transport: differential, full and a missing directory checked"
