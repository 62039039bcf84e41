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

SSHD=/usr/sbin/sshd
[ -x "$SSHD" ] || skip "no $SSHD (run: make deps)"
command -v ssh >/dev/null 2>&1 || skip "no ssh client (run: make deps)"
command -v ssh-keygen >/dev/null 2>&1 || skip "no ssh-keygen (run: make deps)"
[ "$IS_ROOT" = 1 ] || skip "sshd needs root here"

SCALE=${SCALE:-0.3}
SRC=$T/src DST=$T/dst K=$T/ssh
mkdir -p "$K" /run/sshd
chmod 700 "$K"
ssh-keygen -q -t ed25519 -N '' -f "$K/host_key" >/dev/null
ssh-keygen -q -t ed25519 -N '' -f "$K/id" >/dev/null
cp "$K/id.pub" "$K/authorized_keys"

# start sshd on 127.0.0.1:<free port>; sets PORT, SSHD_PID. Bounded.
for _try in 1 2 3 4 5; do
    PORT=$((20000 + $(rand_below 40000)))
    cat >"$K/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $PORT
HostKey $K/host_key
AuthorizedKeysFile $K/authorized_keys
PidFile $K/sshd.pid
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
LogLevel VERBOSE
EOF
    "$SSHD" -D -e -f "$K/sshd_config" 2>"$K/sshd.log" &
    SSHD_PID=$!
    track_pid "$SSHD_PID"
    _i=0 up=0
    while [ $_i -lt 100 ]; do
        grep -q "Server listening" "$K/sshd.log" && { up=1; break; }
        kill -0 "$SSHD_PID" 2>/dev/null || break
        sleep 0.1
        _i=$((_i + 1))
    done
    [ "$up" = 1 ] && break
    kill -9 "$SSHD_PID" 2>/dev/null; wait "$SSHD_PID" 2>/dev/null || true
    untrack_pid "$SSHD_PID"
    grep -qi "address already in use" "$K/sshd.log" || { show "$K/sshd.log"; skip "sshd cannot start here"; }
done
[ "$up" = 1 ] || fail "no free port for sshd"
log "sshd on 127.0.0.1:$PORT (pid $SSHD_PID)"

RSH="ssh -p $PORT -i $K/id -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR"
# The login works at all (a clear failure here is about sshd, not segsync).
timeout 30 $RSH 127.0.0.1 true >"$T/probe.out" 2>&1 || { show "$T/probe.out"; show "$K/sshd.log"; fail "cannot log in through the test's sshd"; }

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
kill -TERM "$SSHD_PID"
_i=0
while kill -0 "$SSHD_PID" 2>/dev/null && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
kill -0 "$SSHD_PID" 2>/dev/null && fail "sshd did not stop"
wait "$SSHD_PID" 2>/dev/null || true
untrack_pid "$SSHD_PID"
grep -c "Accepted publickey" "$K/sshd.log" | sed 's/^/logins: /'
log "ssh transport: differential, full and a missing directory checked"
