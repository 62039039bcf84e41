#!/bin/sh
# Recovery while the primary keeps writing: a stopped mirror is recovered with
# `segsync differential --source-server --slot -R` while pgbench runs on the
# primary (background, bounded with -T) and a second client keeps creating,
# filling, VACUUM FULL-ing and dropping tables (files appear and vanish under
# segsync's walk). With SEGSYNC_PG_LONG=1 also `segsync full` into a new
# directory under the same load. Each recovered mirror must start, stream, catch up after the load
# ends, and have every table equal; pg_amcheck and pg_checksums pass.
. "$(dirname "$0")/pglib.sh"

P=$W/primary M=$W/mirror
PP=$(free_port) MP=$(free_port)
SRC=$(conninfo "$PP")
LOAD_S=${LOAD_S:-12}

log "primary on port $PP (pgbench -s 5), mirror from pg_basebackup"
setup_primary "$P" "$PP" 5
base_objects "$PP"
make_mirror "$PP" "$M"
pg_start "$M" "$MP" || fail "initial mirror did not start"
wait_streaming "$PP" "$MP"
pg_stop "$M"
primary_writes "$PP" 1

# start_load SECONDS: pgbench and a table churner in the background (both
# end by themselves after SECONDS; killed on exit anyway).
GEN=0
start_load() {
    GEN=$((GEN + 1))
    pgbench_run "$PP" -n -c 2 -j 1 -T "$1" postgres >"$W/pgbench.load.log" 2>&1 &
    PGB=$!
    track_pid "$PGB"
    (
        end=$(( $(date +%s) + $1 ))
        i=2
        while [ "$(date +%s)" -lt "$end" ]; do
            i=$((i + 1))
            psql_file "$PP" postgres >>"$W/churn.log" 2>&1 <<EOF || { cat "$W/churn.log"; exit 1; }
SET client_min_messages = warning;
CREATE TABLE churn_${GEN}_$i AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g;
DELETE FROM churn_${GEN}_$i WHERE id % 2 = 0;
VACUUM FULL churn_${GEN}_$i;
DROP TABLE IF EXISTS churn_${GEN}_$((i - 2));
EOF
        done
    ) &
    CHURN=$!
    track_pid "$CHURN"
    LOADING=1
}

# stop_load: wait (bounded by the load's own -T) for both to finish. (Not
# killed: pgbench runs under runuser in a subshell, killing the subshell
# would leave it writing while the tables are compared.)
LOADING=0
stop_load() {
    [ "$LOADING" = 1 ] || return 0
    LOADING=0
    wait "$PGB" || { cat "$W/pgbench.load.log"; fail "background pgbench failed"; }
    untrack_pid "$PGB"
    wait "$CHURN" || fail "background table churn failed"
    untrack_pid "$CHURN"
    grep -E 'number of transactions actually processed|tps' "$W/pgbench.load.log" | head -n 2
}

# recover_under_load NAME TARGET ARGS...: segsync while the load runs; it must
# succeed. If it does not, that is a failed check; then the target must be
# unstartable (no global/pg_control), the primary must have no backup left
# in progress, and the same command, rerun once the load has ended, must
# finish the job (so the remaining checks still run).
recover_under_load() {
    _name=$1 _tgt=$2; shift 2
    run_ss "$_name" "$@"
    [ "$RC" = 0 ] && return 0
    check_fail "segsync bug: '$*' under write load on the source: exit $RC: $(grep 'error:' "$W/$_name.err")"
    [ ! -e "$_tgt/global/pg_control" ] || check_fail "the failed run left $_tgt/global/pg_control (startable)"
    no_backup_in_progress "$PP"
    stop_load
    log "rerun of the same command without load"
    run_ss "$_name.rerun" "$@"
    expect_rc "$_name.rerun" 0
    cp "$W/$_name.rerun.out" "$W/$_name.out"
}

log "differential under load (${LOAD_S}s of pgbench + table churn)"
start_load "$LOAD_S"
sleep 2
recover_under_load diff "$M" differential --json -P --source-server="$SRC" --slot=mirror1 -R $(ts_opts m) "$P" "$M"
cat "$W/diff.out"
[ "$(json_field "$W/diff.out" status)" = ok ] || fail "status is not ok"
[ "$LOADING" = 0 ] || kill -0 "$PGB" 2>/dev/null || echo "(note: the load ended before segsync did: raise LOAD_S)"
check_tablespace_map "$M" $(ts_pairs m)
pg_start "$M" "$MP" || fail "recovered mirror did not start"
wait_streaming "$PP" "$MP"
[ "$LOADING" = 0 ] || log "mirror streams while the load goes on"
stop_load
compare_tables "$PP" "$MP"
amcheck "$MP"
pg_stop "$M"
checksums_check "$M"
assert_tblspc_separate "$M" $_TS

if [ "${SEGSYNC_PG_LONG:-0}" != 1 ]; then
    echo "(full under load skipped: set SEGSYNC_PG_LONG=1 to run it)"
    finish
fi
A=$W/mirror_new
log "full into a new directory under load"
start_load "$LOAD_S"
sleep 2
recover_under_load full "$A" full --json --source-server="$SRC" --slot=mirror2 -R $(ts_opts a) "$P" "$A"
cat "$W/full.out"
# mirror1 is no longer used: drop it so it does not hold WAL
psql_at "$PP" postgres "SELECT pg_drop_replication_slot('mirror1')" >/dev/null
check_tablespace_map "$A" $(ts_pairs a)
pg_start "$A" "$MP" || fail "mirror from full did not start"
wait_streaming "$PP" "$MP"
stop_load
compare_tables "$PP" "$MP"
amcheck "$MP"
pg_stop "$A"
checksums_check "$A"
assert_tblspc_separate "$A" $_TS
finish
