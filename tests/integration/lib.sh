# lib.sh — helpers for the raw-mode integration tests (POSIX sh, sourced).
#
# Sets: SS (segsync binary), MKTREE, MUTATE, BLOCKDIFF, T (a private temp dir
# removed on exit, with everything mounted under it unmounted first), RC (exit
# code of the last run_ss). Binaries always come from $SEGSYNC_BUILD so the
# same scripts run against build/ and build-asan/.
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
# $T/NAME.err, exit code in RC. Never aborts the script.
run_ss() {
    _n=$1; shift
    echo "\$ segsync $*"
    timeout "$SS_TIMEOUT" "$SS" "$@" >"$T/$_n.out" 2>"$T/$_n.err" && RC=0 || RC=$?
    [ "$RC" = 124 ] && fail "segsync $* hung (killed after ${SS_TIMEOUT}s)"
    return 0
}

# Same, as another user (runuser keeps the environment small).
run_ss_as() {
    _u=$1; _n=$2; shift 2
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
# metadata listings equal, no temporary files left.
assert_identical() {
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
