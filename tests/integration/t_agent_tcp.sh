#!/bin/sh
# t_agent_tcp.sh — raw mode from an agent listening on TCP:
# `segsync serve --listen 127.0.0.1:PORT --token-file FILE ROOT` in the
# background (tracked, stopped at the end, killed by the trap on failure),
# SOURCE segsync://127.0.0.1:PORT/DIR.
#
# Checks: differential (two cases) and full through TCP leave the trees
# identical, with bytes_transferred / blocks_changed / bytes_total equal to
# blockdiff's and bytes_on_wire > 0; DIR "/" serves ROOT itself; a wrong
# token is refused (exit 3, "authentication failed", the agent logs the
# refusal, the target untouched); a missing token file and a 0644 token
# file are refused with a clear message (client and serve); "../" in DIR is
# refused; a symlink out of ROOT is not followed; an authenticated hostile
# client asking for ../secret gets an ERROR and no data; a silent client is
# dropped after --timeout; a fifth concurrent client is refused with a
# reason; --max-rate bounds the transfer rate; the agent
# binds only the address it was given; [::1] when the machine has it; one
# log line per connection; SIGTERM stops the agent.
. "$(dirname "$0")/lib.sh"

SCALE=${SCALE:-0.3}
ROOT=$T/root SRC=$T/root/src DST=$T/dst OUT=$T/outside
mkdir -p "$ROOT"
echo "TOPSECRET-TOPSECRET" >"$T/secret"
ln -s "$T" "$ROOT/escape"            # a way out of ROOT that must not be followed

TOK=$T/token BAD=$T/bad-token OPEN=$T/open-token
head -c 32 /dev/urandom | base64 >"$TOK"
head -c 32 /dev/urandom | base64 >"$BAD"
cp "$TOK" "$OPEN"
chmod 600 "$TOK" "$BAD"
chmod 644 "$OPEN"

# start_agent NAME ADDR [serve options]: serve ROOT on ADDR:<free port>; sets
# PORT and AGPID (tracked). Bounded: a few ports, 10 s each to come up.
start_agent() {
    _name=$1 _addr=$2; shift 2
    for _try in 1 2 3 4 5; do
        PORT=$((20000 + $(rand_below 40000)))
        case $_addr in *:*) _la="[$_addr]:$PORT";; *) _la="$_addr:$PORT";; esac
        "$SS" serve --listen="$_la" --token-file="$TOK" "$@" "$ROOT" 2>"$T/$_name.log" &
        AGPID=$!
        track_pid "$AGPID"
        _i=0
        while [ $_i -lt 100 ]; do
            grep -q "listening on" "$T/$_name.log" && return 0
            kill -0 "$AGPID" 2>/dev/null || break
            sleep 0.1
            _i=$((_i + 1))
        done
        kill -9 "$AGPID" 2>/dev/null; wait "$AGPID" 2>/dev/null || true
        untrack_pid "$AGPID"
        grep -q "cannot listen" "$T/$_name.log" || { show "$T/$_name.log"; fail "serve did not start"; }
    done
    fail "no free port found for serve"
}

# stop_agent NAME: SIGTERM, bounded wait, the log says it stopped.
stop_agent() {
    kill -TERM "$AGPID"
    _i=0
    while kill -0 "$AGPID" 2>/dev/null && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
    kill -0 "$AGPID" 2>/dev/null && fail "serve did not stop within 10 s of SIGTERM"
    wait "$AGPID" 2>/dev/null || true
    untrack_pid "$AGPID"
    grep -q "stopping" "$T/$1.log" || { show "$T/$1.log"; fail "serve did not log its stop"; }
}

check_counts() { # JSON blockdiff-output
    for k in bytes_total bytes_transferred blocks_changed; do
        got=$(num_field "$1" "$k")
        want=$(bd_field "$2" "$k")
        [ "$got" = "$want" ] || { cat "$1"; fail "$k: segsync says $got, blockdiff computes $want"; }
    done
    [ "$(num_field "$1" bytes_on_wire)" -gt 0 ] || fail "bytes_on_wire is 0"
}

log "serve refuses to start with a token file others can read"
run_ss openserve serve --listen=127.0.0.1:1 --token-file="$OPEN" "$ROOT"
expect_rc openserve 2
grep -q "chmod 600" "$T/openserve.err" || { show "$T/openserve.err"; fail "no hint about the mode"; }
run_ss noserve serve --listen=127.0.0.1:1 --token-file="$T/no-such-token" "$ROOT"
expect_rc noserve 2
run_ss notok serve --listen=127.0.0.1:1 "$ROOT"
expect_rc notok 2

start_agent agent 127.0.0.1
A=127.0.0.1:$PORT
URL=segsync://$A
log "agent listening on $A (pid $AGPID)"
if command -v ss >/dev/null 2>&1; then
    ss -ltnH "sport = :$PORT" >"$T/ss.out" 2>/dev/null || true
    if [ -s "$T/ss.out" ]; then
        grep -q "127.0.0.1:$PORT" "$T/ss.out" || { cat "$T/ss.out"; fail "not bound to 127.0.0.1"; }
        if grep -Eq '(\*|0\.0\.0\.0|\[::\]):'"$PORT" "$T/ss.out"; then
            cat "$T/ss.out"; fail "bound to every address"
        fi
    fi
fi

n=0
for c in 11:zstd 22:none; do
    seed=${c%%:*} z=${c#*:}
    n=$((n + 1))
    log "differential over TCP: seed $seed, --compress=$z"
    rm -rf "$SRC" "$DST" "$OUT"
    mk_tree "$seed" "$SRC" "$SCALE"
    cp -a "$SRC" "$DST"
    mutate_tree "$((seed * 100 + n))" "$DST" "$OUT"
    out_before=$(tree_sum "$OUT")
    "$BLOCKDIFF" 8192 "$SRC" "$DST" >"$T/bd"
    run_ss diff differential --raw --json --compress="$z" --token-file="$TOK" "$URL/src" "$DST"
    expect_rc diff 0
    json_check "$T/diff.out"
    cat "$T/diff.out"
    assert_identical "$SRC" "$DST"
    [ "$(tree_sum "$OUT")" = "$out_before" ] || fail "the directory outside the target was written"
    check_counts "$T/diff.out" "$T/bd"
    run_ss verify verify --raw --token-file="$TOK" "$URL/src/" "$DST"
    expect_rc verify 0
done

log "full over TCP into an empty target"
rm -rf "$DST"
run_ss full full --raw --json --token-file="$TOK" "$URL/src" "$DST"
expect_rc full 0
assert_identical "$SRC" "$DST"
[ "$(num_field "$T/full.out" bytes_transferred)" = "$(sum_sizes "$SRC")" ] ||
    fail "full: bytes_transferred is not the tree's size"

log "DIR / is the agent's ROOT itself"
mkdir -p "$T/rootcopy"
run_ss rootdir full --raw --token-file="$TOK" "$URL/" "$T/rootcopy"
expect_rc rootdir 0
[ -f "$T/rootcopy/src/$(cd "$SRC" && find . -type f | head -n 1)" ] || fail "ROOT was not served"
[ -L "$T/rootcopy/escape" ] || fail "the symlink in ROOT was not copied as a symlink"
[ ! -e "$T/rootcopy/secret" ] || fail "a file outside ROOT was copied"
rm -rf "$T/rootcopy"

log "a wrong token: refused, nothing written"
before=$(tree_sum "$DST")
run_ss wrong differential --raw --token-file="$BAD" "$URL/src" "$DST"
expect_rc wrong 3
error_line "$T/wrong.err" "source $A: authentication failed"
[ "$(tree_sum "$DST")" = "$before" ] || fail "the target changed after a refused token"
run_ss wrongfull full --raw --token-file="$BAD" "$URL/src" "$T/newdst"
expect_rc wrongfull 3
[ ! -e "$T/newdst" ] || [ -z "$(ls -A "$T/newdst")" ] || fail "full wrote into the target after a refused token"

log "a missing token file, a token file others can read"
run_ss missing differential --raw --token-file="$T/no-such-token" "$URL/src" "$DST"
expect_rc missing 2
error_line "$T/missing.err" "token file" "no-such-token"
run_ss open differential --raw --token-file="$OPEN" "$URL/src" "$DST"
expect_rc open 2
error_line "$T/open.err" "token file" "chmod 600"
run_ss none differential --raw "$URL/src" "$DST"
expect_rc none 2
error_line "$T/none.err" "--token-file"
[ "$(tree_sum "$DST")" = "$before" ] || fail "the target changed after a refused token file"

log "path safety: ../ in DIR, a symlink out of ROOT"
run_ss dotdot differential --raw --token-file="$TOK" "$URL/src/../.." "$DST"
expect_rc dotdot 2
run_ss escape differential --raw --token-file="$TOK" "$URL/escape" "$DST"
expect_rc escape 3
error_line "$T/escape.err" "source $A:" "escape"
[ "$(tree_sum "$DST")" = "$before" ] || fail "the target changed after a refused DIR"

if [ -n "$_PY" ]; then
    log "an authenticated client asks for ../secret and escape/secret"
    "$_PY" - "$PORT" "$TOK" >"$T/hostile.out" 2>&1 <<'EOF' || { cat "$T/hostile.out"; fail "hostile client"; }
import hashlib, hmac, os, socket, struct, sys
port, tokfile = int(sys.argv[1]), sys.argv[2]
tok = open(tokfile, "rb").read().rstrip(b"\r\n\t ")
def frame(t, p): return struct.pack(">IBB", len(p), t, 0) + p
def s(x): return struct.pack(">H", len(x)) + x
c = socket.create_connection(("127.0.0.1", port), timeout=20)
buf = b""
def recv_frame():
    global buf
    while True:
        if len(buf) >= 6:
            n, t, _ = struct.unpack(">IBB", buf[:6])
            if len(buf) >= 6 + n:
                p = buf[6:6 + n]; buf = buf[6 + n:]
                return t, p
        d = c.recv(65536)
        if not d: return None, b""
        buf += d
c.sendall(frame(1, struct.pack(">IHIII", 0x53475359, 1, 0, 8192, 1 << 20)))
t, p = recv_frame(); assert t == 1, t
t, sn = recv_frame(); assert t == 2, t
cn = os.urandom(32)
mac = hmac.new(tok, b"segsync-auth-v1 client" + sn + cn, hashlib.sha256).digest()
c.sendall(frame(3, cn + mac))
t, p = recv_frame(); assert t == 4, ("no AUTH_OK", t, p)
assert p == hmac.new(tok, b"segsync-auth-v1 server" + sn + cn, hashlib.sha256).digest()
everything = b""
for i, path in enumerate([b"../secret", b"escape/secret"]):
    req = struct.pack(">Q", i + 1) + s(path) + struct.pack(">QQQIBI", 20, 0, 20, 8192, 1, 0)
    c.sendall(frame(8, req))
while True:
    t, p = recv_frame()
    if t is None: break
    everything += p
    print("got", t, p[:120])
assert b"TOPSECRET" not in everything, "data from outside ROOT was sent"
print("ok")
EOF
    cat "$T/hostile.out"
    grep -q "^ok" "$T/hostile.out" || fail "hostile client check"

    log "a client that connects and says nothing is dropped after --timeout"
    MAINPID=$AGPID MAINPORT=$PORT
    start_agent idle 127.0.0.1 --timeout=2
    "$_PY" - "$PORT" <<'EOF' || fail "the silent client was not dropped within 15 s"
import socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
t0 = time.time()
try:
    while c.recv(4096): pass
except socket.timeout:
    sys.exit(1)
print("dropped after %.1f s" % (time.time() - t0))
EOF
    [ "$(grep -c ": dropped: connection idle" "$T/idle.log")" = 1 ] || {
        show "$T/idle.log"; fail "the silent client's drop was not logged"; }

    log "a fifth connection while four are served is refused with a reason"
    "$_PY" - "$PORT" >"$T/busy.out" 2>&1 <<'EOF' || { cat "$T/busy.out"; fail "busy refusal"; }
import socket, struct, sys, time
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(4)]
time.sleep(0.5)
c = socket.create_connection(("127.0.0.1", port), timeout=10)
c.sendall(struct.pack(">IBB", 18, 1, 0) + struct.pack(">IHIII", 0x53475359, 1, 0, 8192, 1 << 20))
data = b""
while True:
    d = c.recv(4096)
    if not d: break
    data += d
assert len(data) > 6 and data[4] == 11, ("not an ERROR frame", data)
assert b"connections" in data, data
print("refused:", "".join(ch for ch in data[17:].decode("ascii", "replace") if ch.isprintable()))
EOF
    cat "$T/busy.out"
    grep -q "refused: 4 connections are being served already" "$T/idle.log" || {
        show "$T/idle.log"; fail "the busy refusal was not logged"; }
    stop_agent idle
    AGPID=$MAINPID PORT=$MAINPORT
fi

log "--max-rate bounds the transfer"
mkdir -p "$ROOT/rate"
head -c 3145728 /dev/urandom >"$ROOT/rate/f"
run_ss rate full --raw --json --compress=none --max-rate=1M --token-file="$TOK" "$URL/rate" "$T/rate"
expect_rc rate 0
cmp "$ROOT/rate/f" "$T/rate/f" || fail "rate-limited copy differs"
el=$(num_field "$T/rate.out" elapsed_s)
awk -v e="$el" 'BEGIN { exit !(e >= 2.2) }' || fail "3 MiB at --max-rate=1M took only ${el}s"
echo "3 MiB at 1M/s: ${el}s"
run_ss badrate full --raw --max-rate=10 --token-file="$TOK" "$URL/rate" "$T/rate"
expect_rc badrate 2

log "every connection has one log line"
show "$T/agent.log"
served=$(grep -c ": served (" "$T/agent.log" || true)
refused=$(grep -c ": refused: authentication failed" "$T/agent.log" || true)
[ "$refused" -ge 2 ] || fail "the refused tokens were not logged ($refused lines)"
[ "$served" -ge 7 ] || fail "served connections not logged ($served lines)"
if grep ": failed after" "$T/agent.log" | grep -qv "escape\|unsafe"; then
    fail "a connection failed on the agent's side"
fi
if grep -q ": dropped:" "$T/agent.log"; then fail "a client was dropped as idle"; fi
if grep -q TOPSECRET "$T/agent.log"; then fail "the log holds secret data"; fi
stop_agent agent

if ip -6 addr show dev lo 2>/dev/null | grep -q "::1"; then
    log "IPv6: [::1]"
    start_agent agent6 ::1
    rm -rf "$DST"
    run_ss v6 full --raw --json --token-file="$TOK" "segsync://[::1]:$PORT/src" "$DST"
    expect_rc v6 0
    assert_identical "$SRC" "$DST"
    grep -q "\[::1\]:[0-9]*: served" "$T/agent6.log" || { show "$T/agent6.log"; fail "no [::1] log line"; }
    run_ss v6bad full --raw --token-file="$BAD" "segsync://[::1]:$PORT/src" "$DST"
    expect_rc v6bad 3
    error_line "$T/v6bad.err" "source [::1]:$PORT: authentication failed"
    stop_agent agent6
else
    log "no ::1 on this machine: IPv6 case skipped"
fi

log "nothing listens any more"
run_ss gone full --raw --timeout=5 --token-file="$TOK" "$URL/src" "$T/gone"
expect_rc gone 3
error_line "$T/gone.err" "source $A:" "connect"
log "TCP agent: $n differential cases, full, ROOT, refusals, path safety, timeouts, rate checked"
