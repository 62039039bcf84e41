#!/bin/sh
# segsync in PostgreSQL mode refuses what it must refuse, before touching
# anything, and recovers from interruptions:
#  - target running (live postmaster): exit 2, names postmaster.pid/running;
#    the running mirror is untouched; a stopped target whose postmaster.pid
#    names a live process: exit 2 and byte-for-byte unchanged;
#  - a target of another cluster (second initdb): differential exit 2 naming
#    the system identifier, unchanged; full is allowed and gives a mirror
#    that streams;
#  - source server unreachable (closed port): non-zero, "source server" in
#    the message, target unchanged;
#  - running source without --source-server: exit 2, target unchanged;
#  - a target whose pg_control says another block size: exit 2, unchanged;
#  - --dry-run changes nothing;
#  - kill -9 of segsync mid-run (after it removed the target's pg_control):
#    PostgreSQL refuses to start the target, no backup is left in progress on
#    the primary, the same command rerun finishes and the mirror streams with
#    equal tables;
#  - the backup bracket broken mid-run (its backend terminated on the
#    primary): failure exit, target unstartable, no backup in progress,
#    rerun finishes.
. "$(dirname "$0")/pglib.sh"

P=$W/primary M=$W/mirror
PP=$(free_port) MP=$(free_port) XP=$(free_port)
SRC=$(conninfo "$PP")

# unchanged NAME DIR BEFORE: DIR's tree_sum still equals BEFORE.
unchanged() {
    [ "$(tree_sum "$2")" = "$3" ] || check_fail "$1: $2 was changed"
}
# no_slot NAME: segsync did not create the slot NAME on the primary.
no_slot() {
    [ "$(psql_at "$PP" postgres "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$1'")" = 0 ] ||
        check_fail "slot $1 was created although segsync refused to run"
}

log "primary on port $PP (pgbench -s 5), mirror on port $MP"
setup_primary "$P" "$PP" 5
make_mirror "$PP" "$M"
pg_start "$M" "$MP" || fail "initial mirror did not start"
wait_streaming "$PP" "$MP"

log "target running"
run_ss running differential --source-server="$SRC" --slot=bad1 -R "$P" "$M"
expect_rc running 2
err_mentions "$W/running.err" "running"
grep -qi 'postmaster' "$W/running.err" || check_fail "the message does not name postmaster.pid: $(cat "$W/running.err")"
[ -f "$M/global/pg_control" ] || check_fail "target running: global/pg_control removed"
[ "$(psql_at "$MP" postgres "SELECT pg_is_in_recovery()")" = t ] || check_fail "running mirror disturbed"
no_slot bad1
pg_stop "$M"

log "stopped target with a postmaster.pid naming a live process"
sleep 300 &
SLEEPER=$!
track_pid "$SLEEPER"
printf '%s\n%s\n' "$SLEEPER" "$M" | $AS sh -c "cat >'$M/postmaster.pid'"
before=$(tree_sum "$M")
run_ss livepid differential --source-server="$SRC" --slot=bad1 -R "$P" "$M"
expect_rc livepid 2
err_mentions "$W/livepid.err" "postmaster.pid"
unchanged "live postmaster.pid" "$M" "$before"
kill "$SLEEPER"; wait "$SLEEPER" 2>/dev/null || true; untrack_pid "$SLEEPER"
$AS rm -f "$M/postmaster.pid"
no_slot bad1

log "a target of another cluster"
X=$W/other
$AS "$PGBIN/initdb" -D "$X" -A trust -U postgres --data-checksums --no-sync >"$W/initdb.other.log" 2>&1 || fail "initdb other"
before=$(tree_sum "$X")
run_ss other differential --source-server="$SRC" --slot=bad1 -R "$P" "$X"
[ "$RC" != 0 ] || fail "differential into another cluster: exit 0"
expect_rc_soft other 2 "differential into a target of another cluster (fresh initdb)"
err_mentions "$W/other.err" "system identifier"
unchanged "other cluster" "$X" "$before"
no_slot bad1
run_ss other_full full --source-server="$SRC" --slot=other1 -R "$P" "$X"
expect_rc other_full 0
[ "$($AS "$PGBIN/pg_controldata" "$X" | grep 'system identifier')" = "$($AS "$PGBIN/pg_controldata" "$P" | grep 'system identifier')" ] ||
    check_fail "full over another cluster: system identifier not the primary's"
pg_start "$X" "$XP" || fail "full over another cluster: mirror does not start"
wait_streaming "$PP" "$XP"
pg_stop "$X" immediate
psql_at "$PP" postgres "SELECT pg_drop_replication_slot('other1')" >/dev/null
$AS rm -rf "$X"

log "source server unreachable"
CLOSED=$(free_port)
before=$(tree_sum "$M")
run_ss unreach differential --source-server="$(conninfo "$CLOSED")" --slot=bad1 -R "$P" "$M"
[ "$RC" != 0 ] || fail "unreachable source server: exit 0"
expect_rc unreach "2 3"
err_mentions "$W/unreach.err" "source server"
unchanged "unreachable source" "$M" "$before"

log "running source without --source-server"
run_ss nosrv differential -R "$P" "$M"
expect_rc nosrv 2
err_mentions "$W/nosrv.err" "--source-server"
unchanged "no --source-server" "$M" "$before"

log "a target with another block size"
# pg_control of the mirror rewritten with BLCKSZ 32768 (CRC-32C fixed): what a
# Greenplum-shaped (32 KiB) data directory would say.
PY=""
for _p in /usr/bin/python3 /usr/local/bin/python3; do [ -x "$_p" ] && { PY=$_p; break; }; done
[ -n "$PY" ] || PY=$(command -v python3 || true)
if [ -n "$PY" ]; then
    cp -p "$M/global/pg_control" "$W/pg_control.saved"
    # rewritten in place (same file, same owner) by the invoking user
    "$PY" - "$M/global/pg_control" 32768 <<'PYEOF'
import struct, sys
def crc32c(b):
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    c = 0xFFFFFFFF
    for x in b:
        c = t[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF
p = sys.argv[1]; new = int(sys.argv[2])
d = bytearray(open(p, 'rb').read())
n = next(n for n in range(100, 512) if struct.pack('<I', crc32c(d[:n])) == d[n:n+4])
f = d.find(struct.pack('<d', 1234567.0))
assert 0 < f < n
old = struct.unpack_from('<I', d, f + 8)[0]
assert old in (8192, 32768, 16384, 4096, 1024, 2048), old
struct.pack_into('<I', d, f + 8, new)
struct.pack_into('<I', d, n, crc32c(d[:n]))
open(p, 'wb').write(d)
print("blcksz %d -> %d (crc at %d)" % (old, new, n))
PYEOF
    before_bs=$(tree_sum "$M")
    run_ss blcksz differential --source-server="$SRC" --slot=bad1 -R "$P" "$M"
    [ "$RC" != 0 ] || fail "differential into a target with another block size: exit 0"
    expect_rc_soft blcksz 2 "differential into a target whose pg_control says BLCKSZ 32768"
    err_mentions "$W/blcksz.err" "block size"
    unchanged "another block size" "$M" "$before_bs"
    no_slot bad1
    $AS cp -p "$W/pg_control.saved" "$M/global/pg_control"
    [ "$(tree_sum "$M")" = "$before" ] || fail "could not restore the mirror's pg_control"
else
    echo "(no python3: block size check skipped)"
fi

log "dry run"
pgbench_run "$PP" -n -c 2 -t 200 postgres >"$W/pgbench.1.log" 2>&1 || fail "pgbench"
run_ss dry differential -n --source-server="$SRC" --slot=bad1 -R "$P" "$M"
expect_rc dry 0
unchanged "--dry-run" "$M" "$before"
no_backup_in_progress "$PP"

# wait_control_gone DIR PID: until segsync (PID) removed DIR/global/pg_control
# (bounded); 1 when it exited first.
wait_control_gone() {
    _end=$(( $(date +%s) + 60 ))
    while [ -e "$1/global/pg_control" ]; do
        kill -0 "$2" 2>/dev/null || return 1
        [ "$(date +%s)" -lt "$_end" ] || fail "segsync did not remove $1/global/pg_control within 60s"
        sleep 0.02
    done
    return 0
}

# refuses_to_start DIR: pg_ctl start fails (pg_control missing).
refuses_to_start() {
    if $AS "$PGBIN/pg_ctl" -D "$1" -l "$W/refuse.log" -w -t 20 \
            -o "-p $MP -k $SOCK -c listen_addresses=''" start >/dev/null 2>&1; then
        _RUNNING="$_RUNNING $1"
        pg_stop "$1" immediate
        check_fail "$2: PostgreSQL started the half-recovered target"
    else
        grep -q 'pg_control' "$W/refuse.log" || { tail -n 5 "$W/refuse.log"; check_fail "$2: start failed but not because of pg_control"; }
        echo "$2: PostgreSQL refuses to start the target: $(grep -m1 'pg_control' "$W/refuse.log")"
    fi
}

# descendants PID: PID and every process below it (from /proc: no pgrep needed).
descendants() {
    echo "$1"
    for _c in $(cat /proc/[0-9]*/stat 2>/dev/null |
                awk -v p="$1" '{ pid = $1; sub(/.*\) /, ""); if ($2 == p) print pid }'); do
        descendants "$_c"
    done
}

log "kill -9 mid-run, then rerun"
killed=0
for attempt in 1 2 3; do
    # a large change: the biggest table rewritten, WAL for all of it
    psql_at "$PP" postgres "VACUUM FULL pgbench_accounts" >/dev/null
    # shellcheck disable=SC2086
    timeout "$SS_TIMEOUT" $AS "$SS" differential --source-server="$SRC" --slot=mirror1 -R -j 1 "$P" "$M" \
        >"$W/killed.out" 2>"$W/killed.err" &
    SSP=$!
    track_pid "$SSP"
    if wait_control_gone "$M" "$SSP"; then
        # under the timeout/runuser wrappers: kill the segsync process itself
        for k in $(descendants "$SSP"); do
            [ "$(cat /proc/"$k"/comm 2>/dev/null)" = segsync ] && kill -9 "$k" 2>/dev/null
        done
        wait "$SSP" 2>/dev/null && rc=0 || rc=$?
        untrack_pid "$SSP"
        if [ ! -e "$M/global/pg_control" ] && [ "$rc" != 0 ]; then killed=1; break; fi
    else
        wait "$SSP" 2>/dev/null || true
        untrack_pid "$SSP"
    fi
    echo "attempt $attempt: segsync finished before it could be killed; again"
done
[ "$killed" = 1 ] || fail "could not kill segsync mid-run in 3 attempts"
echo "segsync killed mid-run; target has no global/pg_control"
refuses_to_start "$M" "after kill -9"
# the killed session's backend ends its backup when its client is gone
end=$(( $(date +%s) + 30 ))
while [ "$(psql_at "$PP" postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")" != 0 ]; do
    [ "$(date +%s)" -lt "$end" ] || { check_fail "segsync's session still open on the primary 30s after kill -9"; break; }
    sleep 0.2
done
no_backup_in_progress "$PP"
run_ss rerun differential --source-server="$SRC" --slot=mirror1 -R "$P" "$M"
expect_rc rerun 0
start_mirror_check "$P" "$PP" "$M" "$MP"

log "backup bracket broken mid-run (backend terminated on the primary)"
psql_at "$PP" postgres "VACUUM FULL pgbench_accounts" >/dev/null
timeout "$SS_TIMEOUT" $AS "$SS" differential --source-server="$SRC" --slot=mirror1 -R -j 1 "$P" "$M" \
    >"$W/broken.out" 2>"$W/broken.err" &
SSP=$!
track_pid "$SSP"
if wait_control_gone "$M" "$SSP"; then
    psql_at "$PP" postgres "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()" >/dev/null
    wait "$SSP" && RC=0 || RC=$?
    untrack_pid "$SSP"
    if [ "$RC" = 0 ]; then
        echo "(segsync finished before its backend was terminated: bracket check not exercised)"
    else
        expect_rc broken 3
        grep -q '^segsync: error: ' "$W/broken.err" || check_fail "broken bracket: no error line: $(cat "$W/broken.err")"
        echo "broken bracket: $(grep '^segsync: error: ' "$W/broken.err")"
        [ ! -e "$M/global/pg_control" ] || check_fail "broken bracket: target left startable (global/pg_control present)"
        no_backup_in_progress "$PP"
        run_ss rerun2 differential --source-server="$SRC" --slot=mirror1 -R "$P" "$M"
        expect_rc rerun2 0
    fi
else
    wait "$SSP" || true
    untrack_pid "$SSP"
    echo "(segsync finished before pg_control could be seen missing: bracket check not exercised)"
fi
start_mirror_check "$P" "$PP" "$M" "$MP"
finish
