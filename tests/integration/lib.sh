# lib.sh — helpers for the raw-mode integration tests (POSIX sh, sourced).
#
# Sets: SS (segsync binary), MKTREE, MUTATE, BLOCKDIFF, T (a private temp dir
# removed on exit, with everything mounted under it unmounted first), RC (exit
# code of the last run_ss). Binaries always come from $SEGSYNC_BUILD so the
# same scripts run against build/ and build-asan/. At the end: the
# transports (SS_VIA: the source read locally or through the agent over a
# pipe, TCP or ssh) and the test sshd (sshd_start/sshd_stop).
set -eu

: "${SEGSYNC_BUILD:?SEGSYNC_BUILD must name the build directory}"
SS=$SEGSYNC_BUILD/segsync
TOOLS=$SEGSYNC_BUILD/tools
MKTREE=$TOOLS/mktree
MUTATE=$TOOLS/mutate
BLOCKDIFF=$TOOLS/blockdiff
SS_TIMEOUT=${SS_TIMEOUT:-300}
RC=0
IS_ROOT=0
[ "$(id -u)" = 0 ] && IS_ROOT=1
# Compare owners in listings (root preserves them, as rsync -a).
CHECK_OWNER=${CHECK_OWNER:-$IS_ROOT}

for _b in "$SS" "$MKTREE" "$MUTATE" "$BLOCKDIFF"; do
    if [ ! -x "$_b" ]; then
        echo "FAIL: $_b is missing (build first)" >&2
        exit 1
    fi
done

T=$(mktemp -d /tmp/segsync-test.XXXXXX)
chmod 755 "$T"
_MOUNTS=""
_BGPIDS=""

_cleanup() {
    _rc=$?
    set +e
    _via_stop_all "$_rc"
    for _p in $_BGPIDS; do kill -9 "$_p" 2>/dev/null; wait "$_p" 2>/dev/null; done
    for _m in $_MOUNTS; do umount "$_m" 2>/dev/null || umount -l "$_m"; done
    if [ "$IS_ROOT" = 0 ]; then chmod -R u+rwx "$T" 2>/dev/null; fi
    rm -rf "$T"
    case $_rc in
        0) echo "PASS";;
        77) ;;
        *) echo "FAILED (rc=$_rc)";;
    esac
    exit "$_rc"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM HUP

_T0=$(date +%s)
log() { echo "== [$(( $(date +%s) - _T0 ))s] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

# Register a background pid / mount point to be cleaned up on exit.
track_pid() { _BGPIDS="$_BGPIDS $1"; }
untrack_pid() { _BGPIDS=$(echo "$_BGPIDS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ' || true); }
track_mount() { _MOUNTS="$1 $_MOUNTS"; }
untrack_mount() { _MOUNTS=$(echo "$_MOUNTS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ' || true); }

# run_ss NAME ARGS...: run segsync with stdout in $T/NAME.out, stderr in
# $T/NAME.err, exit code in RC. Never aborts the script. SOURCE goes through
# the transport in SS_VIA (see "Transports" below).
run_ss() {
    _n=$1; shift
    _via_args "" "$SS" "$@"
    if [ "$_VIA_DID" = 1 ]; then eval "set -- $_VIA_ARGS"; fi
    echo "\$ segsync $*"
    _t0=$(date +%s%N)
    timeout "$SS_TIMEOUT" "$SS" "$@" >"$T/$_n.out" 2>"$T/$_n.err" && RC=0 || RC=$?
    echo "  (exit $RC, $(( ($(date +%s%N) - _t0) / 1000000 )) ms)"
    [ "$RC" = 124 ] && fail "segsync $* hung (killed after ${SS_TIMEOUT}s)"
    return 0
}

# Same, as another user (runuser keeps the environment small).
run_ss_as() {
    _u=$1; _n=$2; shift 2
    _via_args "$_u" "${SS_USER:-$SS}" "$@"
    if [ "$_VIA_DID" = 1 ]; then eval "set -- $_VIA_ARGS"; fi
    echo "\$ (as $_u) segsync $*"
    timeout "$SS_TIMEOUT" runuser -u "$_u" -- "${SS_USER:-$SS}" "$@" >"$T/$_n.out" 2>"$T/$_n.err" \
        && RC=0 || RC=$?
    [ "$RC" = 124 ] && fail "segsync $* (as $_u) hung"
    return 0
}

show() { echo "--- $1:"; sed -n '1,40p' "$1"; }

# expect_rc NAME "0" or "2 3": RC must be one of them.
expect_rc() {
    for _w in $2; do [ "$RC" = "$_w" ] && return 0; done
    show "$T/$1.out"; show "$T/$1.err"
    fail "$1: exit code $RC, expected one of: $2"
}

# json_field FILE NAME: a top-level scalar field of the JSON object in FILE.
json_field() {
    tr -d '\n' <"$1" | sed -n "s/.*\"$2\"[[:space:]]*:[[:space:]]*\"\{0,1\}\([^,}\"]*\).*/\1/p"
}

# json_check FILE: exactly one JSON object on stdout.
_PY=""
for _p in /usr/bin/python3 /usr/local/bin/python3; do
    [ -x "$_p" ] && { _PY=$_p; break; }
done
json_check() {
    if [ -n "$_PY" ]; then
        "$_PY" -c '
import json, sys
s = open(sys.argv[1]).read()
o, end = json.JSONDecoder().raw_decode(s.lstrip())
assert isinstance(o, dict), "not an object"
assert s.lstrip()[end:].strip() == "", "trailing text after the object"
' "$1" || { show "$1"; fail "$1 is not exactly one JSON object"; }
    else
        _c=$(tr -d ' \n\t' <"$1")
        case $_c in \{*\}) ;; *) show "$1"; fail "$1 is not a JSON object";; esac
    fi
}

# need_json_field FILE NAME: print it, fail when absent or not a number.
num_field() {
    _v=$(json_field "$1" "$2")
    case $_v in
        ''|*[!0-9.]*) show "$1"; fail "JSON field $2 missing or not a number in $1";;
    esac
    echo "$_v"
}

# bd_field FILE KEY: a value from blockdiff's output.
bd_field() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }

# sum_sizes DIR: total bytes of regular files.
sum_sizes() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
count_files() { find "$1" -type f -printf 'x\n' | wc -l | tr -d ' '; }

# listing DIR: one line per entry below DIR, sorted; type, mode, size and
# mtime of files, symlink targets, owners when CHECK_OWNER=1. Newlines in
# names become '?' after sorting (NUL-separated sort).
listing() {
    if [ "$CHECK_OWNER" = 1 ]; then _o=' %U:%G'; else _o=''; fi
    find "$1" -mindepth 1 \
        \( -type f -printf "f %m %s %T@$_o |%P\\0" \) -o \
        \( -type d -printf "d %m$_o |%P\\0" \) -o \
        \( -type l -printf "l$_o |%P -> %l\\0" \) -o \
        -printf '%y %m |%P\0' | sort -z | tr '\n\0' '?\n'
}

# assert_identical SRC DST: contents (diff -r, symlinks not followed) and
# metadata listings equal (the top directories' mode and owner too),
# no temporary files left.
assert_identical() {
    _root_meta_check "$1" "$2"
    if ! diff -r --no-dereference "$1" "$2" >"$T/_diffr.out" 2>&1; then
        sed -n '1,30p' "$T/_diffr.out"
        fail "diff -r: $2 differs from $1"
    fi
    listing "$1" >"$T/_list.src"
    listing "$2" >"$T/_list.dst"
    if ! cmp -s "$T/_list.src" "$T/_list.dst"; then
        diff "$T/_list.src" "$T/_list.dst" | sed -n '1,40p'
        fail "metadata (type/mode/size/mtime/owner/link) of $2 differs from $1"
    fi
    assert_no_tmp "$2"
}

# _root_meta_check SRC DST: the top directories' mode (and owner); like
# listing, directories' mtimes are not compared. (Through the agent these
# come with the listing's end, SS_CAP_EXT.)
_root_meta_check() {
    if [ "$CHECK_OWNER" = 1 ]; then _o=' %U:%G'; else _o=''; fi
    _a=$(find "$1" -maxdepth 0 -printf "%m$_o")
    _b=$(find "$2" -maxdepth 0 -printf "%m$_o")
    [ "$_a" = "$_b" ] || fail "the top directory of $2 ($_b) differs from $1's ($_a)"
}

assert_no_tmp() {
    _t=$(find "$1" -name '.segsync.*.tmp' -print | head -n 5)
    [ -z "$_t" ] || fail "temporary files left in $1: $_t"
}

# rsync_check SRC DST: rsync with checksums finds nothing to do.
rsync_check() {
    command -v rsync >/dev/null 2>&1 || { echo "(rsync missing: cross-check skipped)"; return 0; }
    _ro=""; [ "$CHECK_OWNER" = 1 ] || _ro="--no-o --no-g"
    # shellcheck disable=SC2086
    rsync -a $_ro -n -c -i -O --delete "$1/" "$2/" >"$T/_rsync.out" 2>&1 || {
        show "$T/_rsync.out"; fail "rsync -n failed"; }
    if [ -s "$T/_rsync.out" ]; then
        show "$T/_rsync.out"
        fail "rsync -a -c -n --delete finds differences between $1 and $2"
    fi
}

# tree_sum DIR: one hash over every entry's metadata (directories' mtimes
# included) and every file's content. Equal before/after = untouched.
tree_sum() {
    {
        find "$1" -printf '%P|%y|%m|%s|%T@|%U:%G|%l\0' | sort -z
        (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
    } | sha256sum | cut -d' ' -f1
}

# error_line ERRFILE SUBSTRING...: exactly one "segsync: error:" line, and it
# contains every SUBSTRING (fixed strings).
error_line() {
    _f=$1; shift
    _n=$(grep -c '^segsync: error: ' "$_f" || true)
    if [ "$_n" != 1 ]; then show "$_f"; fail "expected exactly one 'segsync: error:' line in $_f, got $_n"; fi
    _l=$(grep '^segsync: error: ' "$_f")
    for _s in "$@"; do
        case $_l in
            *"$_s"*) ;;
            *) show "$_f"; fail "error line does not mention '$_s': $_l";;
        esac
    done
}

# mk_tree SEED DIR [SCALE]
mk_tree() { "$MKTREE" "$@"; }
# mutate SEED DIR [OUTSIDE]: log of changes in $T/mutate.<seed>.log
mutate_tree() { "$MUTATE" "$@" >"$T/mutate.$1.log"; }

# random integer in [0, N)
rand_below() { echo $(( $(od -An -N4 -tu4 /dev/urandom | tr -d ' ') % $1 )); }

# An unprivileged user for run_ss_as (postgres when installed, else nobody),
# and a copy of segsync it can surely execute.
pick_user() {
    if id postgres >/dev/null 2>&1; then echo postgres; else echo nobody; fi
}
setup_user_bin() {
    mkdir -p "$T/bin"
    cp "$SS" "$T/bin/segsync"
    for _t in mktree mutate blockdiff; do cp "$TOOLS/$_t" "$T/bin/$_t"; done
    chmod 755 "$T/bin" "$T/bin/"*
    SS_USER=$T/bin/segsync
}

# ---------------------------------------------------------------------------
# Transports. The raw tests run their cases with SOURCE reached the way
# SS_VIA says (set it with via_use):
#   local  SOURCE as given, a directory on this machine
#   pipe   localhost:DIR with --rsh=rsh_local.sh, which runs the agent here
#          through sh -c as sshd would, and --remote-path=the segsync under
#          test
#   tcp    segsync://127.0.0.1:PORT/REL with --token-file, from one
#          `segsync serve --listen` per test whose ROOT is $T (REL = DIR
#          below $T); started on first use, stopped at exit
#   ssh    127.0.0.1:DIR through a real sshd on 127.0.0.1 (sshd_start),
#          logging in as this user; started on first use
# run_ss, run_ss_as and run_ss_bg rewrite SOURCE (the argument before
# TARGET, when the command is differential, full or verify and that argument
# is an absolute path) and put the transport's options after the command
# name; every other command line runs as given. SS_VIAS (environment) limits
# the transports via_select hands out (default all four; SS_VIAS=local is
# the old local-only run).
SS_VIA=local
SS_VIAS=${SS_VIAS:-local pipe tcp ssh}
_VIA_HERE=$(cd "$(dirname "$0")" && pwd)
VIA_TCP_PID="" VIA_TCP_PORT="" VIA_TCP_LOG=$T/via-agent.log
SSHD_PID="" SSHD_PORT="" SSHD_WHY="" SSH_RSH=""

# via_select WANTED...: VIAS = the WANTED transports SS_VIAS allows and this
# machine can run (ssh needs sshd and root; the reason is printed if not).
via_select() {
    VIAS=""
    for _v in "$@"; do
        case " $SS_VIAS " in *" $_v "*) ;; *) continue;; esac
        if [ "$_v" = ssh ] && ! _via_ssh_ready; then
            echo "note: not through ssh: $SSHD_WHY"
            continue
        fi
        VIAS="$VIAS $_v"
    done
}

# via_use VIA: following runs reach SOURCE through VIA (starting its agent
# or sshd when first needed).
via_use() {
    case $1 in
        local) ;;
        pipe) _via_rsh >/dev/null;;
        tcp) [ -n "$VIA_TCP_PID" ] || _via_tcp_start;;
        ssh) _via_ssh_ready || fail "ssh transport: $SSHD_WHY";;
        *) fail "unknown transport '$1' (local, pipe, tcp, ssh)";;
    esac
    SS_VIA=$1
}

via_remote() { [ "$SS_VIA" != local ]; }

# via_who: the name the client gives the source in its messages ("segsync:
# error: source WHO: ...") and in --json "source" (WHO:DIR, or the URL).
via_who() {
    case $SS_VIA in
        pipe) echo localhost;;
        tcp) echo "127.0.0.1:$VIA_TCP_PORT";;
        ssh) echo 127.0.0.1;;
        *) echo "";;
    esac
}

# via_src PATH: PATH (absolute) as a SOURCE through SS_VIA.
via_src() {
    case $SS_VIA in
        local) echo "$1";;
        pipe) echo "localhost:$1";;
        ssh) echo "127.0.0.1:$1";;
        tcp)
            case $1 in
                "$T") echo "segsync://127.0.0.1:$VIA_TCP_PORT/";;
                "$T"/*) echo "segsync://127.0.0.1:$VIA_TCP_PORT/${1#"$T"/}";;
                *) echo "via_src: $1 is not below the agent's ROOT $T" >&2; return 1;;
            esac;;
    esac
}

# wire_check JSON: bytes_on_wire is 0 from a local source, above 0 (and not
# absent) through an agent.
wire_check() {
    _w=$(num_field "$1" bytes_on_wire)
    if via_remote; then
        [ "$_w" -gt 0 ] || { show "$1"; fail "through $SS_VIA: bytes_on_wire is $_w, expected > 0"; }
    else
        [ "$_w" = 0 ] || { show "$1"; fail "local source: bytes_on_wire is $_w, expected 0"; }
    fi
}

# run_ss_bg NAME ARGS...: segsync in the background (through SS_VIA), output
# in $T/NAME.out/.err; BGPID is its pid (tracked: the caller waits for it
# and untracks it).
run_ss_bg() {
    _n=$1; shift
    _via_args "" "$SS" "$@"
    if [ "$_VIA_DID" = 1 ]; then eval "set -- $_VIA_ARGS"; fi
    echo "\$ segsync $* &"
    "$SS" "$@" >"$T/$_n.out" 2>"$T/$_n.err" &
    BGPID=$!
    track_pid "$BGPID"
}

# via_agent_pid: the pid of the agent process serving the run in progress
# (pipe: written by rsh_local.sh to $SS_AGENT_PIDFILE, which the caller
# exported and emptied before the run; tcp: the newest connection process
# serve forked). Waits up to 10 s for it; prints nothing when there is none
# (the run may be over already).
via_agent_pid() {
    _i=0
    while [ $_i -lt 100 ]; do
        case $SS_VIA in
            pipe) _p=$(cat "${SS_AGENT_PIDFILE:?}" 2>/dev/null || true);;
            tcp) _p=$(pgrep -n -P "$VIA_TCP_PID" 2>/dev/null || true);;
            *) fail "via_agent_pid: not available through $SS_VIA";;
        esac
        [ -n "$_p" ] && { echo "$_p"; return 0; }
        kill -0 "$BGPID" 2>/dev/null || return 0
        sleep 0.1
        _i=$((_i + 1))
    done
}

# _shq WORD: WORD single-quoted for eval.
_shq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# _via_args USER BIN ARGS...: when SS_VIA is remote and ARGS read a SOURCE,
# _VIA_DID=1 and _VIA_ARGS holds ARGS quoted for eval with SOURCE rewritten
# and the transport's options (for USER running BIN) after the command.
_via_args() {
    _vu=$1 _vb=$2
    shift 2
    _VIA_ARGS="" _VIA_DID=0 _vs=0
    if [ "$SS_VIA" != local ] && [ $# -ge 3 ]; then
        case $1 in
            differential|full|verify)
                eval "_va=\${$(($# - 1))}"
                case $_va in /*) _vs=$(($# - 1));; esac;;
        esac
    fi
    if [ "$_vs" = 0 ]; then return 0; fi
    _vo=$(_via_opts "$_vu" "$_vb")
    _vi=0
    for _va in "$@"; do
        _vi=$((_vi + 1))
        if [ "$_vi" = "$_vs" ]; then _va=$(via_src "$_va") || fail "cannot reach $_va through $SS_VIA"; fi
        _VIA_ARGS="$_VIA_ARGS $(_shq "$_va")"
        if [ "$_vi" = 1 ]; then _VIA_ARGS="$_VIA_ARGS $_vo"; fi
    done
    _VIA_DID=1
}

# _via_opts USER BIN: the transport's options, quoted for eval.
_via_opts() {
    case $SS_VIA in
        pipe) echo "$(_shq "--rsh=$(_via_rsh)") $(_shq "--remote-path=$2")";;
        ssh)
            [ -z "$1" ] || fail "the ssh transport logs in as $(id -un) only"
            echo "$(_shq "--rsh=$SSH_RSH") $(_shq "--remote-path=$2")";;
        tcp) _shq "--token-file=$(_via_token "$1")";;
    esac
}

# _via_rsh: rsh_local.sh copied into $T (executable whatever the checkout's
# modes, and at a path without spaces, as --rsh is split on blanks).
_via_rsh() {
    if [ ! -x "$T/rsh_local.sh" ]; then
        cp "$_VIA_HERE/rsh_local.sh" "$T/rsh_local.sh"
        chmod 755 "$T/rsh_local.sh"
    fi
    echo "$T/rsh_local.sh"
}

# _via_token USER: the tcp agent's token in a file USER owns (mode 600, as
# the client demands).
_via_token() {
    _f=$T/via-token${1:+.$1}
    if [ ! -f "$_f" ]; then
        cp "$T/via-token" "$_f"
        chmod 600 "$_f"
        chown "$1" "$_f"
    fi
    echo "$_f"
}

# _via_tcp_start: serve $T on 127.0.0.1:<free port>; VIA_TCP_PID (tracked),
# VIA_TCP_PORT. Bounded: five ports, 10 s each to come up.
_via_tcp_start() {
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/via-token"
    chmod 600 "$T/via-token"
    for _try in 1 2 3 4 5; do
        VIA_TCP_PORT=$((20000 + $(rand_below 40000)))
        "$SS" serve --listen="127.0.0.1:$VIA_TCP_PORT" --token-file="$T/via-token" "$T" \
            2>>"$VIA_TCP_LOG" &
        VIA_TCP_PID=$!
        track_pid "$VIA_TCP_PID"
        _i=0
        while [ $_i -lt 100 ]; do
            if grep -q "listening on 127.0.0.1:$VIA_TCP_PORT" "$VIA_TCP_LOG"; then
                log "tcp transport: segsync serve on 127.0.0.1:$VIA_TCP_PORT (pid $VIA_TCP_PID), ROOT $T"
                return 0
            fi
            kill -0 "$VIA_TCP_PID" 2>/dev/null || break
            sleep 0.1
            _i=$((_i + 1))
        done
        kill -9 "$VIA_TCP_PID" 2>/dev/null; wait "$VIA_TCP_PID" 2>/dev/null || true
        untrack_pid "$VIA_TCP_PID"
        VIA_TCP_PID=""
        grep -q "cannot listen" "$VIA_TCP_LOG" || { show "$VIA_TCP_LOG"; fail "segsync serve did not start"; }
    done
    fail "no free port found for segsync serve"
}

# _stop_pid PID WHAT: SIGTERM, then up to 10 s for it to go; 1 if it did not.
_stop_pid() {
    kill -TERM "$1" 2>/dev/null || true
    _i=0
    while kill -0 "$1" 2>/dev/null && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
    if kill -0 "$1" 2>/dev/null; then echo "$2 (pid $1) did not stop within 10 s of SIGTERM" >&2; return 1; fi
    wait "$1" 2>/dev/null || true
    untrack_pid "$1"
}

# _via_stop_all RC: stop the tcp agent and sshd (from the exit trap); after
# a failure, show the agent's log.
_via_stop_all() {
    if [ -n "$VIA_TCP_PID" ]; then
        _stop_pid "$VIA_TCP_PID" "segsync serve"
        if [ "$1" != 0 ] && [ "$1" != 77 ]; then
            echo "--- tcp agent log (last lines):"
            tail -n 15 "$VIA_TCP_LOG"
        fi
        VIA_TCP_PID=""
    fi
    if [ -n "$SSHD_PID" ]; then _stop_pid "$SSHD_PID" sshd; SSHD_PID=""; fi
}

_via_ssh_ready() {
    [ -n "$SSHD_PID" ] && return 0
    [ -z "$SSHD_WHY" ] || return 1      # tried already
    sshd_usable && sshd_start "$T/ssh"
}

# sshd_usable: sshd, ssh and ssh-keygen are installed (tests/deps.sh) and
# this is root; otherwise SSHD_WHY says what is missing and it returns 1.
sshd_usable() {
    SSHD_WHY=""
    if [ ! -x /usr/sbin/sshd ]; then SSHD_WHY="no /usr/sbin/sshd (run: make deps)"
    elif ! command -v ssh >/dev/null 2>&1; then SSHD_WHY="no ssh client (run: make deps)"
    elif ! command -v ssh-keygen >/dev/null 2>&1; then SSHD_WHY="no ssh-keygen (run: make deps)"
    elif [ "$IS_ROOT" != 1 ]; then SSHD_WHY="sshd needs root here"
    fi
    [ -z "$SSHD_WHY" ]
}

# sshd_start DIR: a host key and a user key generated in DIR, a minimal
# sshd_config (127.0.0.1 only, a free port, that key only, no passwords, no
# PAM) and `sshd -D` in the background (tracked; sshd_stop or the exit trap
# stops it). Sets SSHD_PORT, SSHD_PID, SSHD_LOG and SSH_RSH (the ssh
# command line, for --rsh, that logs in there as this user). Returns 1 with
# SSHD_WHY when sshd cannot run here; fails the test when no port is free.
# Bounded.
sshd_start() {
    _k=$1
    mkdir -p "$_k" /run/sshd
    chmod 700 "$_k"
    ssh-keygen -q -t ed25519 -N '' -f "$_k/host_key" >/dev/null
    ssh-keygen -q -t ed25519 -N '' -f "$_k/id" >/dev/null
    cp "$_k/id.pub" "$_k/authorized_keys"
    SSHD_LOG=$_k/sshd.log
    _up=0
    for _try in 1 2 3 4 5; do
        SSHD_PORT=$((20000 + $(rand_below 40000)))
        cat >"$_k/sshd_config" <<EOS
ListenAddress 127.0.0.1
Port $SSHD_PORT
HostKey $_k/host_key
AuthorizedKeysFile $_k/authorized_keys
PidFile $_k/sshd.pid
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
LogLevel VERBOSE
EOS
        /usr/sbin/sshd -D -e -f "$_k/sshd_config" 2>"$SSHD_LOG" &
        SSHD_PID=$!
        track_pid "$SSHD_PID"
        _i=0
        while [ $_i -lt 100 ]; do
            grep -q "Server listening" "$SSHD_LOG" && { _up=1; break; }
            kill -0 "$SSHD_PID" 2>/dev/null || break
            sleep 0.1
            _i=$((_i + 1))
        done
        [ "$_up" = 1 ] && break
        kill -9 "$SSHD_PID" 2>/dev/null; wait "$SSHD_PID" 2>/dev/null || true
        untrack_pid "$SSHD_PID"
        SSHD_PID=""
        if ! grep -qi "address already in use" "$SSHD_LOG"; then
            show "$SSHD_LOG"
            SSHD_WHY="sshd cannot start here"
            return 1
        fi
    done
    [ "$_up" = 1 ] || fail "no free port for sshd"
    SSH_RSH="ssh -p $SSHD_PORT -i $_k/id -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR"
    log "sshd on 127.0.0.1:$SSHD_PORT (pid $SSHD_PID)"
}

# sshd_probe: a login through SSH_RSH works at all (so that a failure there
# is reported as sshd's, not segsync's). Costs one login.
sshd_probe() {
    # shellcheck disable=SC2086
    timeout 30 $SSH_RSH 127.0.0.1 true >"$T/sshd-probe.out" 2>&1 ||
        { show "$T/sshd-probe.out"; show "$SSHD_LOG"; fail "cannot log in through the test's sshd"; }
}

# sshd_stop: SIGTERM to sshd, bounded wait; fails the test if it stays.
sshd_stop() {
    _stop_pid "$SSHD_PID" sshd || fail "sshd did not stop"
    SSHD_PID=""
}
