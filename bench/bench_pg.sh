#!/bin/bash
# bench/bench_pg.sh: PostgreSQL full and differential recovery, segsync vs the
# tools gprecoverseg uses today.  Results go to docs/BENCHMARKS.md by hand.
#
#   bench/bench_pg.sh                  # scale 300 (~4.5 GiB), 3 rounds
#   BENCH_SCALE=20 BENCH_RUNS=1 bench/bench_pg.sh   # quick validation
#
# What it does (everything on unix sockets in $BENCH_DIR, listen_addresses=''):
#   1. primary: initdb --data-checksums, pgbench -i -s $BENCH_SCALE, autovacuum off
#   2. mirror: pg_basebackup -R, started as a streaming standby, then stopped
#   3. workload on the primary while the mirror is down: pgbench -c 2 -t N
#      (random single-row updates) + an UPDATE of $BENCH_UPDATE_PCT % of
#      pgbench_accounts in contiguous aid ranges, then VACUUM ANALYZE and
#      CHECKPOINT (so that later reads set no hint bits: the primary stays
#      byte-stable across all runs)
#   4. the stopped mirror is the "broken mirror" template; every differential
#      contender starts from a fresh cp -a of it
#   5. $BENCH_RUNS rounds, each: segsync full | pg_basebackup | cp -a |
#      segsync differential | rsync recipe, page cache dropped before each
#      (cold), the primary running and idle.
#
# Measured per run:
#   t_cmd    wall time of the command
#   t_sync   wall time of the command + a following `sync` (time to durable:
#            cp -a and rsync do not fsync, segsync and pg_basebackup do)
#   rd, wr   bytes read from / written to storage by the command's process tree
#            (read_bytes, write_bytes - cancelled_write_bytes of /proc/PID/io,
#            children folded in by the kernel when reaped) plus the primary
#            server's processes (postmaster + children delta: walsender,
#            backup checkpoint)
#   dk_rd, dk_wr  device-level sectors*512 from /proc/diskstats over t_sync
#            (includes anything else running on the machine)
#   segsync: bytes_transferred, bytes_written, blocks_changed from --json
#
# Environment knobs (defaults in brackets):
#   BENCH_DIR [/work/bench-pg]  BENCH_SCALE [300]  BENCH_RUNS [3]
#   BENCH_TXNS [17*scale, per client, 2 clients]  BENCH_UPDATE_PCT [1]
#   BENCH_WAL_KEEP [2GB]  BENCH_MAX_WAL [8GB]  BENCH_DROP_CACHES [1]
#   BENCH_CACHE [cold]: one or more of "cold warm pwarm" (each round runs
#     every contender once per state, in that order). cold: sync, drop the
#     page cache. warm: sync, then read every file of the primary and of the
#     target (the broken mirror copy, for the differential contenders) once,
#     so that the command reads only from the page cache (24 GiB RAM holds
#     both trees and pg_wal). pwarm: drop the cache, then read the primary's
#     files only: a live primary whose data is in its host's memory and a
#     mirror that was down (its files cold).  Result rows are named
#     CONTENDER@STATE.
#   BENCH_WAIT_RAW [2700 s: wait while bench_raw.sh runs]  BENCH_KEEP [0]
#   BENCH_PORT [55431]  SEGSYNC [build/segsync, copied into BENCH_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
BIN=/usr/lib/postgresql/15/bin
DIR=${BENCH_DIR:-/work/bench-pg}
SCALE=${BENCH_SCALE:-300}
RUNS=${BENCH_RUNS:-3}
TXNS=${BENCH_TXNS:-$((SCALE * 17))}
UPCT=${BENCH_UPDATE_PCT:-1}
WAL_KEEP=${BENCH_WAL_KEEP:-2GB}
MAX_WAL=${BENCH_MAX_WAL:-8GB}
DROP=${BENCH_DROP_CACHES:-1}
CACHES=${BENCH_CACHE:-cold}
WAIT_RAW=${BENCH_WAIT_RAW:-2700}
KEEP=${BENCH_KEEP:-0}
PP=${BENCH_PORT:-55431}
MP=$((PP + 1))
RES=$DIR/results
P=$DIR/primary TPL=$DIR/broken-mirror M=$DIR/mirror
CONN="host=$DIR port=$PP user=postgres"

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
psqlp() { as_pg "$BIN/psql" -h "$DIR" -p "$1" -U postgres -Atq -X -c "$2" postgres; }

[ -x "$BIN/postgres" ] || die "PostgreSQL 15 not found in $BIN"
if [ -z "${SEGSYNC:-}" ]; then
    [ -x build/segsync ] || make -s -j2 >/dev/null
    SEGSYNC=$REPO/build/segsync
fi

RUNNING=()
stop_all() {
    local d
    for d in "${RUNNING[@]}" "$M" "$P"; do
        [ -f "$d/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$d" -m fast -w stop >/dev/null 2>&1 || true
    done
}
cleanup() {
    stop_all
    if [ "$KEEP" != 1 ]; then
        rm -rf "$P" "$M" "$TPL" "$DIR"/t_* "$DIR"/*.log
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pg_start() { # DIR PORT LOG
    as_pg "$BIN/pg_ctl" -D "$1" -o "-p $2" -l "$3" -w -t 600 start >/dev/null
    RUNNING+=("$1")
}
pg_stop() { as_pg "$BIN/pg_ctl" -D "$1" -m fast -w -t 600 stop >/dev/null; }

drop_caches() {
    sync
    if [ "$DROP" = 1 ]; then echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || DROP=0; fi
}
# prepare_cache: the page-cache state STATE asks for before a timed command;
# WARM lists the directories the command will read (the primary, and the
# target when it has content).
STATE=cold WARM=()
prepare_cache() {
    case $STATE in
    warm)
        sync
        find "${WARM[@]}" -type f -print0 2>/dev/null | xargs -0 -r -P 2 -n 64 cat >/dev/null 2>&1 || true ;;
    pwarm)
        drop_caches
        find "$P" -type f -print0 2>/dev/null | xargs -0 -r -P 2 -n 64 cat >/dev/null 2>&1 || true ;;
    *)
        drop_caches ;;
    esac
}

disk_io() { awk -v d="$DEV" '$3 == d { printf "%.0f %.0f\n", $6 * 512, $10 * 512; f = 1 }
                             END { if (!f) print "0 0" }' /proc/diskstats; }
proc_io() { # PID... -> "read_bytes write_bytes-cancelled" summed
    local p f=()
    for p in "$@"; do f+=("/proc/$p/io"); done
    cat "${f[@]}" 2>/dev/null | awk '/^read_bytes/ {r += $2} /^write_bytes/ {w += $2}
        /^cancelled_write_bytes/ {c += $2} END {printf "%.0f %.0f\n", r, w - c}'
}
server_io() {
    local pm
    pm=$(head -1 "$P/postmaster.pid")
    # shellcheck disable=SC2046
    proc_io "$pm" $(pgrep -P "$pm" || true)
}

jget() { jq -r ".$2 // \"\"" "$1" 2>/dev/null || true; }

# run_timed NAME ROUND CMD...: one timed, measured run; appends to results.tsv
run_timed() {
    local name=$1@$STATE r=$2; shift 2
    local out=$RES/$name.r$r.out err=$RES/$name.r$r.err iof=$RES/$name.r$r.io
    local s0 s1 d0 d1 t0 t1 t2 rc=0 load
    prepare_cache
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    log "run $r $name (loadavg $load)"
    s0=$(server_io); d0=$(disk_io)
    t0=$(date +%s.%N)
    OUTF=$out ERRF=$err IOF=$iof bash -c \
        '"$@" >"$OUTF" 2>"$ERRF"; rc=$?; cat /proc/$$/io >"$IOF"; exit $rc' _ "$@" || rc=$?
    t1=$(date +%s.%N)
    sync
    t2=$(date +%s.%N)
    s1=$(server_io); d1=$(disk_io)
    if [ $rc != 0 ]; then tail -20 "$err" >&2; die "$name run $r failed (exit $rc)"; fi
    local cr cw
    cr=$(awk '/^read_bytes/ {print $2}' "$iof")
    cw=$(awk '/^write_bytes/ {w=$2} /^cancelled_write_bytes/ {c=$2} END {printf "%.0f\n", w - c}' "$iof")
    set -- $s0 $s1 $d0 $d1
    local xfer="" written="" blocks=""
    if [[ $name == segsync_* ]]; then
        xfer=$(jget "$out" bytes_transferred); written=$(jget "$out" bytes_written)
        blocks=$(jget "$out" blocks_changed)
    fi
    printf '%s\t%s\t%.2f\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$name" "$r" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" \
        "$(awk -v a="$t0" -v b="$t2" 'BEGIN {print b - a}')" \
        "$((cr + $3 - $1))" "$((cw + $4 - $2))" "$cr" "$cw" \
        "$(($7 - $5))" "$(($8 - $6))" "${xfer:--}" "${written:--}" "${blocks:--}" "$load" \
        | tee -a "$RES/results.tsv" >&2
}

# verify_standby DIR LABEL DEEP: start a recovered target as a standby of the
# primary, wait until it streams and has replayed everything, compare data.
verify_standby() {
    local d=$1 label=$2 deep=$3 i ok=0 q
    pg_start "$d" $MP "$DIR/verify.log"
    for i in $(seq 1 600); do
        if [ "$(psqlp $PP "select count(*) from pg_stat_replication where state = 'streaming'
                           and replay_lsn >= pg_current_wal_lsn()")" = 1 ]; then ok=1; break; fi
        sleep 0.5
    done
    [ $ok = 1 ] || { psqlp $PP "table pg_stat_replication" >&2; tail -20 "$DIR/verify.log" >&2; die "$label: standby did not catch up"; }
    [ "$(psqlp $MP "select pg_is_in_recovery()")" = t ] || die "$label: not in recovery"
    q="select (select sum(bbalance) from pgbench_branches) || '/' || (select sum(tbalance) from pgbench_tellers)
        || '/' || (select count(*) from pgbench_history) || '/' || (select count(*) || ':' || sum(v) from bench_marker)"
    if [ "$deep" = 1 ]; then
        q="$q || '/' || (select count(*) || ':' || sum(abalance) from pgbench_accounts)"
    fi
    local a b
    a=$(psqlp $PP "$q"); b=$(psqlp $MP "$q")
    [ "$a" = "$b" ] || die "$label: data differs: primary $a standby $b"
    log "$label: standby streams, replayed to the primary's LSN, data equal ($b)"
    echo "$label	streaming	$b" >> "$RES/verify.tsv"
    pg_stop "$d"
    RUNNING=("${RUNNING[@]/$d}")
}

wait_for_raw() {
    local waited=0
    while pgrep -f bench_raw.sh >/dev/null; do
        [ $waited -ge "$WAIT_RAW" ] && { log "bench_raw.sh still running after ${waited}s; going on"; return; }
        [ $waited = 0 ] && log "waiting for bench_raw.sh to finish (at most ${WAIT_RAW}s)"
        sleep 30; waited=$((waited + 30))
    done
    [ $waited = 0 ] || log "bench_raw.sh finished after ${waited}s of waiting"
}

median() { sort -g | awk '{a[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.15g\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# ---------------------------------------------------------------- setup
mkdir -p "$DIR"
chmod 755 "$DIR"
DEV=$(basename "$(df --output=source "$DIR" | tail -1)")
[ "$(id -u)" = 0 ] && chown postgres: "$DIR"
stop_all
rm -rf "$P" "$M" "$TPL" "$DIR"/t_* "$RES"
mkdir -p "$RES"
cp "$SEGSYNC" "$DIR/segsync"        # immune to rebuilds of build/ during the run
SEG=$DIR/segsync
chmod 755 "$SEG"
export -f as_pg

{
    echo "date: $(date -Is)"
    echo "host: $(nproc) cores, $(free -g | awk '/^Mem/ {print $2}') GiB RAM, kernel $(uname -r)"
    echo "disk: $DEV ($(df -h --output=size,avail "$DIR" | tail -1 | xargs), $(findmnt -no FSTYPE -T "$DIR"), rotational=$(cat /sys/block/"$DEV"/queue/rotational 2>/dev/null))"
    echo "postgres: $("$BIN/postgres" --version)"
    echo "segsync: $("$SEG" --version) $(git -C "$REPO" describe --always --dirty 2>/dev/null)"
    echo "scale: $SCALE, runs: $RUNS, txns/client: $TXNS (2 clients), update_pct: $UPCT"
    echo "wal_keep_size: $WAL_KEEP, max_wal_size: $MAX_WAL, drop caches: $DROP, cache states: $CACHES"
} | tee "$RES/env.txt" >&2

cd "$DIR"     # the postgres user runs commands from here
log "primary: initdb --data-checksums"
as_pg "$BIN/initdb" -D "$P" --data-checksums -U postgres -A trust >/dev/null
cat >> "$P/postgresql.conf" <<EOC
listen_addresses = ''
unix_socket_directories = '$DIR'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = $WAL_KEEP
max_wal_size = $MAX_WAL
checkpoint_timeout = 30min
autovacuum = off
EOC
pg_start "$P" $PP "$DIR/primary.log"
log "primary: pgbench -i -s $SCALE"
t0=$(date +%s)
as_pg "$BIN/pgbench" -h "$DIR" -p $PP -U postgres -i -q -s "$SCALE" postgres 2>&1 | tail -1 >&2
psqlp $PP "create table bench_marker(v int)"
psqlp $PP "insert into bench_marker values (1)"
psqlp $PP "checkpoint"
log "primary loaded in $(( $(date +%s) - t0 )) s: $(psqlp $PP "select pg_size_pretty(pg_database_size('postgres'))")"

log "mirror: pg_basebackup -R, start, stream, stop"
as_pg "$BIN/pg_basebackup" -h "$DIR" -p $PP -U postgres -D "$M" -R -c fast
pg_start "$M" $MP "$DIR/mirror.log"
for _ in $(seq 1 600); do
    [ "$(psqlp $PP "select count(*) from pg_stat_replication where state = 'streaming' and replay_lsn >= pg_current_wal_lsn()")" = 1 ] && break
    sleep 0.5
done
pg_stop "$M"

log "workload while the mirror is down: pgbench -c 2 -t $TXNS, UPDATE $UPCT% of accounts in ranges"
as_pg "$BIN/pgbench" -h "$DIR" -p $PP -U postgres -n -c 2 -j 2 -t "$TXNS" postgres 2>&1 \
    | grep -E 'processed|^tps' >&2
# contiguous ranges of 10000 aids (~164 heap blocks), UPCT% of them
step=$((1000000 / UPCT))
psqlp $PP "update pgbench_accounts set abalance = abalance + 1 where (aid - 1) % $step < 10000"
psqlp $PP "insert into bench_marker values (2)"
psqlp $PP "vacuum analyze"
psqlp $PP "checkpoint"
{
    echo "primary: $(psqlp $PP "select pg_size_pretty(pg_database_size('postgres'))") database," \
         "data dir $(du -sh --exclude=pg_wal "$P" | cut -f1) without pg_wal, pg_wal $(du -sh "$P/pg_wal" | cut -f1)"
} | tee -a "$RES/env.txt" >&2
mv "$M" "$TPL"

restore_broken() { # TARGET
    rm -rf "$1"
    cp -a "$TPL" "$1"
}
drop_slot() {
    psqlp $PP "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = 'bench_mirror' and not active" >/dev/null
}

wait_for_raw
printf 'name\tround\tt_cmd\tt_sync\trd\twr\trd_cmd\twr_cmd\tdk_rd\tdk_wr\tbytes_transferred\tbytes_written\tblocks_changed\tloadavg\n' \
    > "$RES/results.tsv"
: > "$RES/verify.tsv"

for r in $(seq 1 "$RUNS"); do
  for STATE in $CACHES; do
    deep=$([ "$r" = 1 ] && [ "$STATE" = "${CACHES%% *}" ] && echo 1 || echo 0)

    WARM=("$P")
    T=$DIR/t_full
    rm -rf "$T"; as_pg mkdir -m 700 "$T"
    run_timed segsync_full "$r" as_pg "$SEG" full --json --source-server="$CONN" -R "$P" "$T"
    verify_standby "$T" "segsync full r$r" "$deep"
    rm -rf "$T"

    T=$DIR/t_bb
    rm -rf "$T"; as_pg mkdir -m 700 "$T"
    run_timed pg_basebackup "$r" as_pg "$BIN/pg_basebackup" -h "$DIR" -p $PP -U postgres \
        -X stream -c fast -R -D "$T"
    [ "$r" = 1 ] && verify_standby "$T" "pg_basebackup r$r" "$deep"
    rm -rf "$T"

    # floor: cp -a of the live, idle primary's data directory without the
    # contents of pg_wal (segsync and pg_basebackup copy only the backup's WAL)
    T=$DIR/t_cp
    rm -rf "$T"
    run_timed cp_a "$r" as_pg bash -c "mkdir -m 700 '$T' && cd '$P' &&
        cp -a \$(ls -A | grep -vx pg_wal) '$T/' && mkdir -m 700 '$T/pg_wal'"
    rm -rf "$T"

    T=$DIR/t_diff
    restore_broken "$T"
    WARM=("$P" "$T")
    run_timed segsync_differential "$r" as_pg "$SEG" differential --json --source-server="$CONN" \
        --slot=bench_mirror -R "$P" "$T"
    verify_standby "$T" "segsync differential r$r" "$deep"
    drop_slot
    rm -rf "$T"

    # the old recipe, exactly as tests/demo.sh (gprecoverseg --differential)
    T=$DIR/t_rsync
    restore_broken "$T"
    WARM=("$P" "$T")
    run_timed rsync_recipe "$r" as_pg bash -c "$BIN/psql -h '$DIR' -p $PP -U postgres -Atq -X postgres <<SQL
select pg_backup_start('rsync', true);
\\! rsync -a -c --delete --stats --exclude=pg_wal/* --exclude=postmaster.pid --exclude=postmaster.opts '$P/' '$T/'
\\! rsync -a -c --stats '$P/pg_wal/' '$T/pg_wal/'
select 1 from pg_backup_stop(false);
SQL"
    rm -rf "$T"
  done
done

# ---------------------------------------------------------------- summary
{
  for ST in $CACHES; do
    echo
    echo "$ST cache: medians of $RUNS (t in s, bytes in MB = 10^6; rd/wr = command tree + primary server processes)"
    printf '| %-20s | %7s | %7s | %8s | %8s | %8s | %8s | %12s | %10s |\n' contender t_cmd t_sync rd_MB wr_MB disk_rd disk_wr transfer_MB blocks
    for n in segsync_full pg_basebackup cp_a segsync_differential rsync_recipe; do
        col() { awk -F'\t' -v n="$n@$ST" -v c="$1" '$1 == n && $c != "-" {print $c}' "$RES/results.tsv" | median; }
        mb() { local v; v=$(col "$1"); [ "$v" = - ] && echo - || awk -v v="$v" 'BEGIN {printf "%.0f", v / 1e6}'; }
        printf '| %-20s | %7s | %7s | %8s | %8s | %8s | %8s | %12s | %10s |\n' "$n" \
            "$(col 3)" "$(col 4)" "$(mb 5)" "$(mb 6)" "$(mb 9)" "$(mb 10)" "$(mb 11)" "$(col 13)"
    done
    med() { awk -F'\t' -v n="$1@$ST" -v c="$2" '$1 == n {print $c}' "$RES/results.tsv" | median; }
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
    for c in 3 4; do
        [ $c = 3 ] && echo "$ST: ratios on t_cmd:" || echo "$ST: ratios on t_sync:"
        tf=$(med segsync_full $c); b=$(med pg_basebackup $c); p=$(med cp_a $c)
        d=$(med segsync_differential $c); s=$(med rsync_recipe $c)
        echo "  full / pg_basebackup        = $(ratio "$tf" "$b")  (target <= 1)"
        echo "  full / cp -a                = $(ratio "$tf" "$p")  (target <= 1.2)"
        echo "  rsync recipe / differential = $(ratio "$s" "$d")  (target >= 10)"
        echo "  pg_basebackup / differential= $(ratio "$b" "$d")  (target >= 3)"
    done
  done
} | tee "$RES/summary.txt" >&2
log "results in $RES"
