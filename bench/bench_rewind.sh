#!/bin/bash
# bench/bench_rewind.sh: incremental recovery after a failover, segsync
# incremental vs pg_rewind --source-server (issue 5). Results go to
# docs/BENCHMARKS.md by hand.
#
#   bench/bench_rewind.sh                             # scale 300 (~4.5 GiB), 3 rounds
#   BENCH_SCALE=10 BENCH_RUNS=1 bench/bench_rewind.sh # quick validation (~2 min)
#
# What it does (unix sockets in $BENCH_DIR only, listen_addresses=''):
#   1. primary P: initdb --data-checksums, wal_log_hints = on,
#      wal_keep_size = $BENCH_WAL_KEEP, max_wal_size = $BENCH_MAX_WAL,
#      checkpoint_timeout = 30min, autovacuum off; a streaming mirror M made
#      right away (pg_basebackup -R) so that the load below streams to it and
#      both sides retain WAL as a long-lived pair does (wal_keep_size applies
#      to the mirror's restartpoints too)
#   2. pgbench -i -s $BENCH_SCALE on P; CHECKPOINT on P, M caught up,
#      CHECKPOINT on M (restartpoint): the last common checkpoint
#   3. failover: M promoted (the new primary N, timeline 2); pgbench
#      -c 2 -t $BENCH_NEW_TXNS on N, CHECKPOINT on N (so its pg_control shows
#      timeline 2, which pg_rewind needs)
#   4. small divergence: the old primary P goes on writing: pgbench -c 2
#      -t $BENCH_SMALL_TXNS (random single-row TPC-B updates) + a marker
#      row; stopped cleanly (fast); saved as tpl_small (cp -a)
#   5. large divergence: P restarted (still timeline 1), UPDATE of
#      $BENCH_LARGE_PCT % of pgbench_accounts in contiguous ranges of 10,000
#      aids (non-HOT: fillfactor 100, so new row versions go to new pages at
#      the end and every index leaf of the range is touched) + the same pgbench;
#      stopped cleanly; saved as tpl_large. It contains the small divergence.
#      The WAL written by P since the divergence point is printed and must stay
#      below wal_keep_size (else P's shutdown checkpoint removes the WAL both
#      tools need; the script refuses to go on).
#   6. per divergence size, $BENCH_RUNS rounds; in each round every contender
#      gets a fresh cp -a of the template (outside the timing, followed by
#      sync), N gets a CHECKPOINT (outside the timing; the tools then find
#      nothing to flush), the page cache is dropped (cold; BENCH_DROP_CACHES=0
#      for warm), then the timed command. The order of the contenders rotates
#      per round so that load noise hits each of them.
#      In round 1 every result is started as a standby of N: it must reach
#      streaming with replay_lsn >= N's current LSN and equal data (branch /
#      teller / account sums, history count, marker rows).
#   7. one untimed dry run per size: segsync -n -v (what it would send, per
#      file) and pg_rewind -n --debug (its file map), kept in results/.
#
# Contenders ($BENCH_CONTENDERS, default "segsync pg_rewind"):
#   segsync        segsync incremental --source-server=CONN -R --json N TARGET
#                  (reads N's files directly from its data directory on this
#                  host; the connection is used for CHECKPOINT, the WAL insert
#                  position and primary_conninfo)
#   segsync_libpq  segsync incremental --source-server=CONN -R --json TARGET
#                  (no source directory: everything through libpq; only when
#                  segsync has that mode)
#   pg_rewind      pg_rewind --target-pgdata=TARGET --source-server=CONN -R -P
#                  (everything through libpq)
#
# Measured per run (results.tsv):
#   t_cmd    wall time of the command
#   t_sync   the command + a following `sync` (both tools fsync already)
#   fetched  bytes brought from the source: segsync's bytes_transferred
#            (--json); pg_rewind's final "N/M kB copied" progress line (-P),
#            which counts every byte it wrote from fetched chunks
#   wire     segsync's bytes_on_wire (--json); - for pg_rewind
#   rd, wr   read_bytes / write_bytes - cancelled of the command's process
#            tree (/proc/PID/io, reaped children folded in by the kernel) plus
#            the change over N's postmaster and children (pg_rewind's reads
#            happen in a backend of N)
#
# Environment knobs (defaults in brackets):
#   BENCH_DIR [/work/bench-rewind]  BENCH_SCALE [300]  BENCH_RUNS [3]
#   BENCH_SIZES ["small large"]  BENCH_CONTENDERS ["segsync pg_rewind"]
#   BENCH_SMALL_TXNS [500 per client, 2 clients]  BENCH_NEW_TXNS [500]
#   BENCH_LARGE_PCT [10]  BENCH_WAL_KEEP [2GB]  BENCH_MAX_WAL [4GB]
#   BENCH_DROP_CACHES [1]  BENCH_KEEP [0: remove the clusters at the end]
#   BENCH_REUSE [0; 1: reuse N and the templates kept by BENCH_KEEP=1]
#   BENCH_MIN_FREE_GB [40]  BENCH_PORT [55451]  BENCH_RES [results: under BENCH_DIR]
#   BENCH_DRYRUN [1; 0: skip the untimed dry runs of step 7]
#   BENCH_VERIFY [1; 0: do not start the rewound copies (a re-run of a set already checked)]
#   SEGSYNC [build/segsync, copied into BENCH_DIR so rebuilds cannot change it]
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
BIN=/usr/lib/postgresql/15/bin
DIR=${BENCH_DIR:-/work/bench-rewind}
SCALE=${BENCH_SCALE:-300}
RUNS=${BENCH_RUNS:-3}
SIZES=${BENCH_SIZES:-small large}
CONTENDERS=${BENCH_CONTENDERS:-segsync pg_rewind}
SMALL_TXNS=${BENCH_SMALL_TXNS:-500}
NEW_TXNS=${BENCH_NEW_TXNS:-500}
LARGE_PCT=${BENCH_LARGE_PCT:-10}
WAL_KEEP=${BENCH_WAL_KEEP:-2GB}
MAX_WAL=${BENCH_MAX_WAL:-4GB}
DROP=${BENCH_DROP_CACHES:-1}
KEEP=${BENCH_KEEP:-0}
REUSE=${BENCH_REUSE:-0}
MIN_FREE_GB=${BENCH_MIN_FREE_GB:-40}
PP=${BENCH_PORT:-55451}
NP=$((PP + 1)) WP=$((PP + 2))
RES=$DIR/${BENCH_RES:-results}
P=$DIR/oldprimary N=$DIR/newprimary T=$DIR/target
CONN="host=$DIR port=$NP user=postgres dbname=postgres"

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
psqlp() { as_pg "$BIN/psql" -h "$DIR" -p "$1" -U postgres -Atq -X -v ON_ERROR_STOP=1 -c "$2" postgres; }

[ -x "$BIN/pg_rewind" ] || die "PostgreSQL 15 not found in $BIN"
command -v jq >/dev/null || die "jq is needed"
if [ -z "${SEGSYNC:-}" ]; then
    [ -x build/segsync ] || make -s -j2 >/dev/null
    SEGSYNC=$REPO/build/segsync
fi

RUNNING=()
stop_all() {
    local d
    for d in "${RUNNING[@]}" "$T" "$P" "$N"; do
        [ -n "$d" ] && [ -f "$d/postmaster.pid" ] &&
            as_pg "$BIN/pg_ctl" -D "$d" -m fast -w -t 600 stop >/dev/null 2>&1 || true
    done
}
cleanup() {
    stop_all
    rm -rf "$T"
    if [ "$KEEP" != 1 ]; then rm -rf "$P" "$N" "$DIR"/tpl_*; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pg_start() { # DIR PORT LOG
    as_pg "$BIN/pg_ctl" -D "$1" -l "$3" -w -t 600 \
        -o "-p $2 -c listen_addresses='' -c unix_socket_directories='$DIR'" start >/dev/null
    RUNNING+=("$1")
}
pg_stop() {
    as_pg "$BIN/pg_ctl" -D "$1" -m fast -w -t 600 stop >/dev/null
    RUNNING=("${RUNNING[@]/$1}")
}

# wait_caught_up PRIMARY_PORT: a walsender streams and has replayed up to the
# primary's current LSN (bounded: 20 min, for the scale-300 load).
wait_caught_up() {
    local i
    for i in $(seq 1 2400); do
        [ "$(psqlp "$1" "select count(*) from pg_stat_replication where state = 'streaming'
                         and replay_lsn >= pg_current_wal_lsn()" 2>/dev/null || echo 0)" -ge 1 ] && return 0
        sleep 0.5
    done
    psqlp "$1" "table pg_stat_replication" >&2 || true
    return 1
}

drop_caches() {
    sync
    if [ "$DROP" = 1 ]; then echo 3 > /proc/sys/vm/drop_caches 2>/dev/null ||
        { log "cannot drop caches: warm runs"; DROP=0; }; fi
}
proc_io() { # PID... -> "read_bytes write_bytes-cancelled" summed
    local p f=()
    for p in "$@"; do f+=("/proc/$p/io"); done
    cat "${f[@]}" 2>/dev/null | awk '/^read_bytes/ {r += $2} /^write_bytes/ {w += $2}
        /^cancelled_write_bytes/ {c += $2} END {printf "%.0f %.0f\n", r, w - c}'
}
server_io() {
    local pm
    pm=$(head -1 "$N/postmaster.pid")
    # shellcheck disable=SC2046
    proc_io "$pm" $(pgrep -P "$pm" || true)
}
pressure() { awk '/^some/ {sub("avg10=", "", $2); print $2}' /proc/pressure/cpu 2>/dev/null || echo -; }
jget() { jq -r ".$2 // \"-\"" "$1" 2>/dev/null || echo -; }
median() { sort -g | awk '{a[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2];
                                          else printf "%.15g\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
gib() { awk -v b="$1" 'BEGIN {printf "%.2f GiB", b / 1073741824}'; }

# contender_cmd NAME: the command line (as an array in CMD)
contender_cmd() {
    case $1 in
        segsync)       CMD=(as_pg "$SEG" incremental --source-server="$CONN" -R --json "$N" "$T");;
        segsync_libpq) CMD=(as_pg "$SEG" incremental --source-server="$CONN" -R --json "$T");;
        pg_rewind)     CMD=(as_pg "$BIN/pg_rewind" --target-pgdata="$T" --source-server="$CONN" -R -P);;
        *) die "unknown contender $1";;
    esac
}

restore() { # SIZE: a fresh copy of the diverged old primary in $T
    rm -rf "$T"
    cp -a "$DIR/tpl_$1" "$T"
    sync
}

# run_timed SIZE ROUND NAME: one timed run on a fresh $T; appends to results.tsv
run_timed() {
    local size=$1 r=$2 name=$3
    local out=$RES/$size.$name.r$r.out err=$RES/$size.$name.r$r.err iof=$RES/$size.$name.r$r.io
    local s0 s1 t0 t1 t2 rc=0 load psi
    contender_cmd "$name"
    restore "$size"
    psqlp $NP "checkpoint"
    drop_caches
    load=$(cut -d' ' -f1-3 /proc/loadavg); psi=$(pressure)
    log "$size r$r $name (loadavg $load, cpu pressure $psi%)"
    s0=$(server_io)
    t0=$(date +%s.%N)
    OUTF=$out ERRF=$err IOF=$iof bash -c \
        '"$@" >"$OUTF" 2>"$ERRF"; rc=$?; cat /proc/$$/io >"$IOF"; exit $rc' _ "${CMD[@]}" || rc=$?
    t1=$(date +%s.%N)
    sync
    t2=$(date +%s.%N)
    s1=$(server_io)
    if [ $rc != 0 ]; then tail -20 "$err" >&2; die "$size $name r$r failed (exit $rc)"; fi
    local cr cw fetched wire
    cr=$(awk '/^read_bytes/ {print $2}' "$iof")
    cw=$(awk '/^write_bytes/ {w=$2} /^cancelled_write_bytes/ {c=$2} END {printf "%.0f\n", w - c}' "$iof")
    case $name in
        segsync*)
            [ "$(jget "$out" outcome)" = rewound ] || { cat "$out" >&2; die "$name did not rewind"; }
            fetched=$(jget "$out" bytes_transferred); wire=$(jget "$out" bytes_on_wire);;
        pg_rewind)
            # progress lines end in \r; the last "done/total kB" is the total copied
            fetched=$(tr '\r' '\n' <"$err" | grep -o '[0-9]*/[0-9]* kB' | tail -n1 | cut -d/ -f1)
            [ -n "$fetched" ] || die "no progress line in $err"
            fetched=$((fetched * 1024)); wire=-;;
    esac
    set -- $s0 $s1
    printf '%s\t%s\t%s\t%.2f\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$r" "$name" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" \
        "$(awk -v a="$t0" -v b="$t2" 'BEGIN {print b - a}')" \
        "$fetched" "$wire" "$((cr + $3 - $1))" "$((cw + $4 - $2))" "$load" "$psi" \
        | tee -a "$RES/results.tsv" >&2
}

DATAQ="select (select sum(bbalance) from pgbench_branches) || '/' || (select sum(tbalance) from pgbench_tellers)
    || '/' || (select count(*) from pgbench_history) || '/' || (select count(*) || ':' || sum(v) from bench_marker)
    || '/' || (select count(*) || ':' || sum(abalance) from pgbench_accounts)"

# verify SIZE NAME: start the rewound $T as a standby of N (both tools wrote
# -R settings), wait for streaming and replay up to N's LSN, compare data.
verify() {
    local label="$1 $2" ok=0 a b
    pg_start "$T" $WP "$RES/verify.$1.$2.log"
    wait_caught_up $NP && ok=1
    [ $ok = 1 ] || { tail -20 "$RES/verify.$1.$2.log" >&2; die "$label: the rewound copy does not catch up"; }
    [ "$(psqlp $WP "select pg_is_in_recovery()")" = t ] || die "$label: not in recovery"
    a=$(psqlp $NP "$DATAQ"); b=$(psqlp $WP "$DATAQ")
    [ "$a" = "$b" ] || die "$label: data differs: new primary $a, rewound $b"
    log "$label: starts, streams, replayed to the new primary's LSN, data equal ($b)"
    printf '%s\t%s\tstreaming\t%s\n' "$1" "$2" "$b" >> "$RES/verify.tsv"
    pg_stop "$T"
}

# ---------------------------------------------------------------- setup
mkdir -p "$DIR"
chmod 755 "$DIR"
[ "$(id -u)" = 0 ] && chown postgres: "$DIR"
stop_all
rm -rf "$T" "$RES"
mkdir -p "$RES"
[ "$(id -u)" = 0 ] && chown postgres: "$RES"      # server logs of the checks go there
cp "$SEGSYNC" "$DIR/segsync"
SEG=$DIR/segsync
chmod 755 "$SEG"
export -f as_pg
DEV=$(basename "$(df --output=source "$DIR" | tail -1)")
{
    echo "date: $(date -Is)"
    echo "host: $(nproc) cores, $(free -g | awk '/^Mem/ {print $2}') GiB RAM, kernel $(uname -r)"
    echo "disk: $DEV ($(df -h --output=size,avail "$DIR" | tail -1 | xargs), $(findmnt -no FSTYPE -T "$DIR"))"
    echo "postgres: $("$BIN/postgres" --version)"
    echo "segsync: $("$SEG" --version) $(git -C "$REPO" describe --always --dirty 2>/dev/null)"
    echo "scale: $SCALE, runs: $RUNS, sizes: $SIZES, contenders: $CONTENDERS"
    echo "small: pgbench -c 2 -t $SMALL_TXNS on the old primary; large: + UPDATE $LARGE_PCT% of accounts; new primary: pgbench -c 2 -t $NEW_TXNS"
    echo "wal_keep_size: $WAL_KEEP, max_wal_size: $MAX_WAL, drop caches: $DROP"
} | tee "$RES/env.txt" >&2
cd "$DIR"     # the postgres user runs commands from here

if [ "$REUSE" = 1 ] && [ -d "$N" ] && [ -d "$DIR/tpl_small" ]; then
    log "reusing $N and the templates (BENCH_REUSE=1)"
    pg_start "$N" $NP "$DIR/newprimary.log"
else
    rm -rf "$P" "$N" "$DIR"/tpl_*
    free_gb=$(df --output=avail -BG "$DIR" | tail -1 | tr -dc 0-9)
    [ "$free_gb" -ge "$MIN_FREE_GB" ] ||
        die "only ${free_gb} GB free in $DIR, need $MIN_FREE_GB (BENCH_MIN_FREE_GB)"

    log "primary: initdb --data-checksums"
    as_pg "$BIN/initdb" -D "$P" --data-checksums -U postgres -A trust >/dev/null
    cat >> "$P/postgresql.conf" <<EOC
wal_level = replica
wal_log_hints = on
max_wal_senders = 10
wal_keep_size = $WAL_KEEP
max_wal_size = $MAX_WAL
checkpoint_timeout = 30min
autovacuum = off
hot_standby = on
EOC
    pg_start "$P" $PP "$DIR/oldprimary.log"
    log "mirror: pg_basebackup -R, streaming before the load"
    as_pg "$BIN/pg_basebackup" -h "$DIR" -p $PP -U postgres -D "$N" -R -X stream -c fast
    pg_start "$N" $NP "$DIR/newprimary.log"
    wait_caught_up $PP || die "mirror does not stream"

    log "primary: pgbench -i -s $SCALE (streams to the mirror)"
    t0=$(date +%s)
    as_pg "$BIN/pgbench" -h "$DIR" -p $PP -U postgres -i -q -s "$SCALE" postgres 2>&1 | tail -1 >&2
    psqlp $PP "create table bench_marker(v int)"
    psqlp $PP "insert into bench_marker values (1)"
    psqlp $PP "checkpoint"
    wait_caught_up $PP || die "mirror does not catch up after the load"
    psqlp $NP "checkpoint"
    log "loaded and replicated in $(( $(date +%s) - t0 )) s: $(psqlp $PP "select pg_size_pretty(pg_database_size('postgres'))")"

    log "failover: promote the mirror"
    as_pg "$BIN/pg_ctl" -D "$N" -w -t 600 promote >/dev/null
    [ "$(psqlp $NP "select pg_is_in_recovery()")" = f ] || die "promotion failed"
    fork=$(awk '$1 ~ /^[0-9]+$/ {print $2}' "$N/pg_wal/00000002.history" | tail -n1)
    log "divergence point (N's history file): $fork"
    as_pg "$BIN/pgbench" -h "$DIR" -p $NP -U postgres -n -c 2 -j 2 -t "$NEW_TXNS" postgres 2>&1 \
        | grep -E '^number of transactions actually' >&2
    psqlp $NP "insert into bench_marker values (100)"
    psqlp $NP "checkpoint"
    echo "new primary: $(psqlp $NP "select pg_wal_lsn_diff(pg_current_wal_lsn(), '$fork')") bytes of WAL since the divergence" \
        | tee -a "$RES/env.txt" >&2

    old_writes() { # how much WAL P wrote since the divergence
        psqlp $PP "select pg_wal_lsn_diff(pg_current_wal_lsn(), '$fork')"
    }
    log "small divergence: pgbench -c 2 -t $SMALL_TXNS on the old primary"
    as_pg "$BIN/pgbench" -h "$DIR" -p $PP -U postgres -n -c 2 -j 2 -t "$SMALL_TXNS" postgres 2>&1 \
        | grep -E '^number of transactions actually' >&2
    psqlp $PP "insert into bench_marker values (-1)"
    small_wal=$(old_writes)
    pg_stop "$P"
    cp -a "$P" "$DIR/tpl_small"
    echo "small: the old primary wrote $small_wal bytes of WAL since the divergence" | tee -a "$RES/env.txt" >&2

    if [[ " $SIZES " == *" large "* ]]; then
        log "large divergence: UPDATE $LARGE_PCT% of pgbench_accounts in ranges + pgbench"
        pg_start "$P" $PP "$DIR/oldprimary.log"
        naccounts=$((SCALE * 100000))
        step=$((100 * 10000 / LARGE_PCT))
        psqlp $PP "update pgbench_accounts set abalance = abalance + 1 where (aid - 1) % $step < 10000"
        as_pg "$BIN/pgbench" -h "$DIR" -p $PP -U postgres -n -c 2 -j 2 -t "$SMALL_TXNS" postgres 2>&1 \
            | grep -E '^number of transactions actually' >&2
        psqlp $PP "insert into bench_marker values (-2)"
        large_wal=$(old_writes)
        keep_b=$(psqlp $PP "select setting::bigint * 1048576 from pg_settings where name = 'wal_keep_size'")
        [ "$large_wal" -lt $((keep_b * 9 / 10)) ] ||
            die "the large divergence wrote $large_wal bytes of WAL, too close to wal_keep_size"
        pg_stop "$P"
        mv "$P" "$DIR/tpl_large"
        echo "large: UPDATE of $((naccounts / step * 10000)) accounts rows; the old primary wrote $large_wal bytes of WAL since the divergence" \
            | tee -a "$RES/env.txt" >&2
    fi
    rm -rf "$P"
fi

{
    echo "new primary: $(du -sb --exclude=pg_wal "$N" | cut -f1) bytes without pg_wal," \
        "pg_wal $(du -sb "$N/pg_wal" | cut -f1) bytes ($(ls "$N/pg_wal" | grep -c '^[0-9A-F]\{24\}$') segments)"
    for s in $SIZES; do
        echo "tpl_$s: $(du -sb --exclude=pg_wal "$DIR/tpl_$s" | cut -f1) bytes without pg_wal," \
            "pg_wal $(du -sb "$DIR/tpl_$s/pg_wal" | cut -f1) bytes ($(ls "$DIR/tpl_$s/pg_wal" | grep -c '^[0-9A-F]\{24\}$') segments)"
    done
    echo "free after setup: $(df -h --output=avail "$DIR" | tail -1 | xargs)"
} | tee -a "$RES/env.txt" >&2

# ---------------------------------------------------------------- rounds
printf 'size\tround\tname\tt_cmd\tt_sync\tfetched\twire\trd\twr\tloadavg\tcpu_psi10\n' > "$RES/results.tsv"
: > "$RES/verify.tsv"
read -r -a CONT <<<"$CONTENDERS"
nc=${#CONT[@]}
for size in $SIZES; do
    for r in $(seq 1 "$RUNS"); do
        for k in $(seq 0 $((nc - 1))); do
            name=${CONT[$(( (k + r - 1) % nc ))]}
            run_timed "$size" "$r" "$name"
            [ "$r" = 1 ] && [ "${BENCH_VERIFY:-1}" = 1 ] && verify "$size" "$name"
        done
    done
    # untimed: what each tool would move, per file
    [ "${BENCH_DRYRUN:-1}" = 1 ] || continue
    restore "$size"
    as_pg "$SEG" incremental --source-server="$CONN" -n -v "$N" "$T" \
        >"$RES/$size.segsync.dryrun.out" 2>"$RES/$size.segsync.dryrun.err" || log "segsync -n failed"
    as_pg "$BIN/pg_rewind" --target-pgdata="$T" --source-server="$CONN" -n --debug \
        >"$RES/$size.pg_rewind.dryrun.out" 2>&1 || log "pg_rewind -n failed"
    rm -rf "$T"
done

# ---------------------------------------------------------------- summary
{
    med() { awk -F'\t' -v s="$1" -v n="$2" -v c="$3" '$1 == s && $3 == n && $c != "-" {print $c}' \
            "$RES/results.tsv" | median; }
    mb() { [ "$1" = - ] && echo - || awk -v v="$1" 'BEGIN {printf "%.1f", v / 1e6}'; }
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}'; }
    # paired: ratio pg_rewind / NAME on column C within each round, median
    paired() {
        awk -F'\t' -v s="$1" -v n="$2" -v c="$3" '$1 == s && $3 == "pg_rewind" {p[$2] = $c}
            $1 == s && $3 == n {q[$2] = $c} END {for (r in p) if (q[r] > 0) print p[r] / q[r]}' \
            "$RES/results.tsv" | median | awk '{printf ($1 == "-") ? "-" : "%.2f", $1}'
    }
    for size in $SIZES; do
        echo
        echo "$size divergence: medians of $RUNS (s; MB = 10^6 bytes)"
        printf '| %-14s | %6s | %6s | %10s | %8s | %8s | %8s |\n' contender t_cmd t_sync fetched_MB wire_MB rd_MB wr_MB
        for n in "${CONT[@]}"; do
            printf '| %-14s | %6s | %6s | %10s | %8s | %8s | %8s |\n' "$n" "$(med "$size" "$n" 4)" \
                "$(med "$size" "$n" 5)" "$(mb "$(med "$size" "$n" 6)")" "$(mb "$(med "$size" "$n" 7)")" \
                "$(mb "$(med "$size" "$n" 8)")" "$(mb "$(med "$size" "$n" 9)")"
        done
        [[ " $CONTENDERS " == *" pg_rewind "* ]] || continue
        for n in "${CONT[@]}"; do
            [ "$n" = pg_rewind ] && continue
            echo "  pg_rewind / $n time (t_cmd): $(ratio "$(med "$size" pg_rewind 4)" "$(med "$size" "$n" 4)")x" \
                 "of medians, $(paired "$size" "$n" 4)x paired; t_sync: $(ratio "$(med "$size" pg_rewind 5)" "$(med "$size" "$n" 5)")x"
            echo "  $n / pg_rewind bytes fetched: $(ratio "$(med "$size" "$n" 6)" "$(med "$size" pg_rewind 6)")"
        done
    done
} | tee "$RES/summary.txt" >&2
log "results in $RES"
