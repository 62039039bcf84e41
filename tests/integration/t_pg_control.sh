#!/bin/sh
# pg_control as segsync reads it must agree with pg_controldata, on real
# PostgreSQL 15 clusters: with and without data checksums, with a 64 MB WAL
# segment size, and before/after a server start + stop (new shutdown
# checkpoint). A damaged copy must be refused.
set -u
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
TOOL=${SEGSYNC_BUILD:?SEGSYNC_BUILD not set}/tools/pgcontrol_dump

[ -x "$PGBIN/initdb" ] || { echo "skip: no PostgreSQL 15 in $PGBIN"; exit 77; }
[ -x "$TOOL" ] || { echo "FAIL: $TOOL not built"; exit 1; }

export LC_ALL=C
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "skip: running as root and no postgres user"; exit 77; }
    AS="runuser -u postgres --"
else
    AS=""
fi

WORK=$(mktemp -d)
chmod 755 "$WORK"
[ -n "$AS" ] && chown postgres "$WORK"
RUNNING=""
cleanup() {
    for d in $RUNNING; do $AS "$PGBIN/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# value of a pg_controldata line ("Label:   value")
cd_get() { grep -F "$2:" "$1" | head -n1 | sed 's/^[^:]*:[[:space:]]*//'; }
# value of a pgcontrol_dump line ("name: value")
tool_get() { grep "^$2: " "$1" | head -n1 | sed 's/^[^:]*: //'; }

# compare DATADIR LABEL: every field both tools print must agree
compare() {
    d=$1; tag=$2; fails_before=$fails
    $AS "$PGBIN/pg_controldata" "$d" >"$WORK/cd.out" 2>&1 || { fail "$tag: pg_controldata failed"; cat "$WORK/cd.out"; return; }
    "$TOOL" "$d" >"$WORK/tool.out" 2>&1 || { fail "$tag: pgcontrol_dump failed: $(cat "$WORK/tool.out")"; return; }
    while IFS='|' read -r label name; do
        want=$(cd_get "$WORK/cd.out" "$label")
        got=$(tool_get "$WORK/tool.out" "$name")
        if [ -z "$want" ] || [ "$want" != "$got" ]; then
            fail "$tag: $name: pg_controldata says '$want', segsync says '$got'"
        fi
    done <<'EOF'
pg_control version number|pg_control_version
Catalog version number|catalog_version_no
Database system identifier|system_identifier
Database cluster state|state
Latest checkpoint location|checkpoint
Latest checkpoint's REDO location|checkpoint_redo
Latest checkpoint's TimeLineID|checkpoint_tli
Latest checkpoint's PrevTimeLineID|checkpoint_prev_tli
Latest checkpoint's full_page_writes|full_page_writes
Minimum recovery ending location|min_recovery_point
Min recovery ending loc's timeline|min_recovery_point_tli
Backup start location|backup_start_point
Backup end location|backup_end_point
End-of-backup record required|backup_end_required
wal_log_hints setting|wal_log_hints
max_connections setting|max_connections
Database block size|blcksz
Blocks per segment of large relation|relseg_size
WAL block size|xlog_blcksz
Bytes per WAL segment|xlog_seg_size
Data page checksum version|data_checksum_version
EOF
    [ "$fails" = "$fails_before" ] && echo "ok: $tag: $(tool_get "$WORK/tool.out" state), checkpoint $(tool_get "$WORK/tool.out" checkpoint)"
}

n=0
for opts in "--data-checksums" "" "--wal-segsize=64"; do
    n=$((n + 1))
    d=$WORK/c$n
    if ! $AS "$PGBIN/initdb" -D "$d" -A trust -U postgres --no-sync $opts >"$WORK/initdb$n.log" 2>&1; then
        fail "initdb $opts"; cat "$WORK/initdb$n.log"; continue
    fi
    tag="initdb${opts:+ $opts}"
    compare "$d" "$tag"

    # The options must have reached pg_control (as read by segsync).
    "$TOOL" "$d" >"$WORK/t.out"
    case "$opts" in
        --data-checksums) [ "$(tool_get "$WORK/t.out" data_checksum_version)" = 1 ] || fail "$tag: checksums not on" ;;
        "") [ "$(tool_get "$WORK/t.out" data_checksum_version)" = 0 ] || fail "$tag: checksums on" ;;
        --wal-segsize=64) [ "$(tool_get "$WORK/t.out" xlog_seg_size)" = $((64 * 1024 * 1024)) ] || fail "$tag: WAL segment size" ;;
    esac
    [ "$(tool_get "$WORK/t.out" state)" = "shut down" ] || fail "$tag: state after initdb"
    before=$(tool_get "$WORK/t.out" checkpoint)
    sysid=$(tool_get "$WORK/t.out" system_identifier)
done

# Start and stop the last cluster: in production while up, then a new
# shutdown checkpoint.
d=$WORK/c$n
sock=$WORK/sock
mkdir "$sock" && { [ -z "$AS" ] || chown postgres "$sock"; }
if $AS "$PGBIN/pg_ctl" -D "$d" -l "$WORK/server.log" -w -t 60 \
        -o "-k $sock -c listen_addresses='' -c port=54329" start >/dev/null 2>&1; then
    RUNNING=$d
    compare "$d" "running"
    [ "$(tool_get "$WORK/tool.out" state)" = "in production" ] || fail "running: state is not 'in production'"
    $AS "$PGBIN/psql" -h "$sock" -p 54329 -U postgres -d postgres -qAt \
        -c "create table t as select g from generate_series(1, 10000) g" >/dev/null 2>&1 ||
        fail "psql against the started server"
    $AS "$PGBIN/pg_ctl" -D "$d" -m fast -w stop >/dev/null 2>&1 || fail "pg_ctl stop"
    RUNNING=""
    compare "$d" "stopped"
    [ "$(tool_get "$WORK/tool.out" state)" = "shut down" ] || fail "stopped: state is not 'shut down'"
    after=$(tool_get "$WORK/tool.out" checkpoint)
    [ "$after" != "$before" ] || fail "stopped: checkpoint did not move ($before)"
    [ "$(tool_get "$WORK/tool.out" system_identifier)" = "$sysid" ] || fail "stopped: system identifier changed"
else
    fail "pg_ctl start"; cat "$WORK/server.log"
fi

# A damaged copy is refused, naming the file and the reason.
bad=$WORK/bad
mkdir -p "$bad/global"
cp "$d/global/pg_control" "$bad/global/pg_control"
printf '\377' | dd of="$bad/global/pg_control" bs=1 seek=220 conv=notrunc 2>/dev/null
if "$TOOL" "$bad" >"$WORK/bad.out" 2>&1; then
    fail "damaged pg_control accepted"
else
    grep -q "bad CRC" "$WORK/bad.out" || fail "damaged pg_control: unexpected message: $(cat "$WORK/bad.out")"
fi
head -c 100 "$d/global/pg_control" >"$bad/global/pg_control"
if "$TOOL" "$bad" >"$WORK/bad.out" 2>&1; then fail "truncated pg_control accepted"; fi

[ "$fails" = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all pg_control checks passed"
exit 0
