#!/bin/sh
# segsync incremental (a WAL-driven rewind) of a former primary after a
# failover, against PostgreSQL 15, with pg_rewind on a copy as the yardstick.
#
# Primary (checksums, wal_log_hints, autovacuum off so that nothing writes
# behind the test's back) with a tablespace ts_common (mapped with -T for
# the mirror) + streaming mirror; the mirror is promoted; both sides then
# diverge in the ways a rewind must undo or keep:
#   old primary (the target): pgbench, inserts, a new table, DROP TABLE,
#     TRUNCATE, VACUUM FULL (new relfilenodes) in base/ and in ts_common,
#     a new table in ts_common, CREATE DATABASE ... STRATEGY file_copy, a
#     new tablespace (ts_old, its own location) with a table;
#   new primary (the source): pgbench, inserts and updates, a new table,
#     DROP TABLE, TRUNCATE, VACUUM FULL, updates in ts_common, CREATE
#     DATABASE (wal_log) with a table, a new table and index in ts_common.
#     (No new tablespace on this side: on one host the rewound standby would
#     replay CREATE TABLESPACE at the primary's own location, and pg_rewind
#     15 --source-server refuses an in-place tablespace: "file pg_tblspc/N
#     is of different type in source and target".)
# The old primary is stopped cleanly and copied twice (each copy with its
# own copy of ts_common). Checks:
#  - unrelated clusters: exit 2, target untouched;
#  - -n prints the blocks per file that would travel, changes nothing;
#  - `segsync incremental --source-server=<new primary> -R -T --json NEW OLD`:
#    exit 0, less than half the tree and less than pg_rewind copies;
#  - pg_rewind --source-server on copy 1;
#  - both rewound trees start as standbys of the new primary and stream
#    (their WAL receivers); after a CHECKPOINT on the primary both replay up
#    to its WAL position and are stopped cleanly; then every relation file
#    (all forks, base/, global/, tablespaces) of the two trees is compared
#    block by block with tests/tools/relcmp: same files, sizes and bytes;
#  - the segsync tree again: every table equals the new primary's,
#    pg_amcheck, pg_checksums --check after a clean stop;
#  - copy 2 without the WAL segment of the divergence: exit 3 naming the
#    segment and --fallback=differential; with it: a differential recovery,
#    a standby that streams, same tables;
#  - a target stopped with -m immediate: exit 2 with a clear message;
#  - the same timeline: "no rewind required", exit 0;
#  - a copy of the mirror stopped before the failover (an ancestor of the
#    new primary): "no rewind required", exit 0, and with -R it starts as a
#    standby of the new primary, streams, same tables.
. "$(dirname "$0")/pglib.sh"

P=$W/oldprimary M=$W/newprimary P2=$W/rewound_by_pg_rewind P3=$W/nowal U=$W/unrelated
MA=$W/ancestor
PP=$(free_port) MP=$(free_port) P2P=$(free_port) P3P=$(free_port) MAP=$(free_port)
RELCMP=$SEGSYNC_BUILD/tools/relcmp
[ -x "$RELCMP" ] || fail "$RELCMP is missing (build first)"
TSC=$W/ts_common TSO=$W/ts_old

log "primary on port $PP (pgbench -s 5, checksums, wal_log_hints, tablespace ts_common)"
make_primary "$P"
$AS sh -c "cat >>'$P/postgresql.conf'" <<'EOF'
wal_log_hints = on
autovacuum = off
EOF
pg_start "$P" "$PP" || fail "primary did not start"
psql_at "$PP" template1 "CREATE EXTENSION amcheck" >/dev/null
psql_at "$PP" postgres "CREATE EXTENSION amcheck" >/dev/null
pgbench_run "$PP" -i -q -s 5 postgres >"$W/pgbench-init.log" 2>&1 || { cat "$W/pgbench-init.log"; fail "pgbench -i"; }
mkdir_pg "$TSC"
psql_at "$PP" postgres "CREATE TABLESPACE ts_common LOCATION '$TSC'" >/dev/null
psql_file "$PP" postgres <<'EOF'
CREATE TABLE dropme AS SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 20000) g;
CREATE TABLE truncme AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g;
CREATE TABLE grow (id int PRIMARY KEY, v text);
INSERT INTO grow SELECT g, md5(g::text) FROM generate_series(1, 10000) g;
CREATE TABLE vf_old AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 30000) g;
CREATE INDEX vf_old_id ON vf_old (id);
CREATE TABLE vf_new AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 30000) g;
CREATE INDEX vf_new_id ON vf_new (id);
CREATE TABLE drop_new AS SELECT g AS id FROM generate_series(1, 20000) g;
CREATE TABLE trunc_new AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g;
CREATE TABLE in_tsc (id int PRIMARY KEY, v text) TABLESPACE ts_common;
INSERT INTO in_tsc SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
CREATE TABLE vf_tsc TABLESPACE ts_common AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g;
EOF

log "mirror on port $MP (ts_common at ${TSC}_m), promoted"
make_mirror "$PP" "$M" -T "$TSC=${TSC}_m"
pg_start "$M" "$MP" || fail "mirror did not start"
wait_streaming "$PP" "$MP"
wait_caught_up "$PP" "$MP"
# A copy of the mirror stopped before the failover (a second mirror that
# was down): its WAL ends before the new timeline begins, an ancestor of
# the new primary, which pg_rewind leaves alone ("no rewind required").
pg_stop "$M"
$AS cp -a "$M" "$MA"
$AS cp -a "${TSC}_m" "${TSC}_anc"
for _l in "$MA"/pg_tblspc/*; do $AS ln -sfn "${TSC}_anc" "$_l"; done
pg_start "$M" "$MP" || fail "mirror did not restart"
psql_at "$PP" postgres "INSERT INTO grow SELECT g, 'before failover' FROM generate_series(50001, 50100) g" >/dev/null
wait_streaming "$PP" "$MP"
wait_caught_up "$PP" "$MP"
$AS "$PGBIN/pg_ctl" -D "$M" -w -t "$WAIT_S" promote >/dev/null || fail "promote"
[ "$(psql_at "$MP" postgres "SELECT pg_is_in_recovery()")" = f ] || fail "mirror still in recovery after promote"

log "writes on both sides"
pgbench_run "$PP" -n -c 2 -t 300 postgres >"$W/pgbench.old.log" 2>&1 || { cat "$W/pgbench.old.log"; fail "pgbench old primary"; }
pgbench_run "$MP" -n -c 2 -t 300 postgres >"$W/pgbench.new.log" 2>&1 || { cat "$W/pgbench.new.log"; fail "pgbench new primary"; }
psql_file "$PP" postgres <<'EOF'
INSERT INTO grow SELECT g, 'old ' || g FROM generate_series(10001, 40000) g;
CREATE TABLE only_on_old AS SELECT g AS id FROM generate_series(1, 30000) g;
DROP TABLE dropme;
TRUNCATE truncme;
DELETE FROM vf_old WHERE id % 3 = 0;
VACUUM FULL vf_old;
INSERT INTO in_tsc SELECT g, 'old' FROM generate_series(20001, 25000) g;
VACUUM FULL vf_tsc;
CREATE TABLE old_in_tsc TABLESPACE ts_common AS SELECT g AS id FROM generate_series(1, 10000) g;
CREATE DATABASE olddb STRATEGY file_copy;
EOF
mkdir_pg "$TSO"
psql_at "$PP" postgres "CREATE TABLESPACE ts_old LOCATION '$TSO'" >/dev/null
psql_at "$PP" postgres "CREATE TABLE in_ts_old TABLESPACE ts_old AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g" >/dev/null
psql_at "$PP" olddb "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 5000) g" >/dev/null
psql_file "$MP" postgres <<'EOF'
INSERT INTO grow SELECT g, 'new ' || g FROM generate_series(10001, 20000) g;
UPDATE grow SET v = 'changed on new' WHERE id % 97 = 0;
CREATE TABLE only_on_new AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 30000) g;
DROP TABLE drop_new;
TRUNCATE trunc_new;
INSERT INTO trunc_new VALUES (1, 'after truncate');
UPDATE vf_new SET v = 'x' WHERE id % 4 = 0;
VACUUM FULL vf_new;
UPDATE in_tsc SET v = 'new' WHERE id % 10 = 0;
CREATE DATABASE newdb;
CREATE TABLE new_in_tsc TABLESPACE ts_common AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g;
CREATE INDEX new_in_tsc_id ON new_in_tsc (id) TABLESPACE ts_common;
EOF
psql_file "$MP" newdb <<'EOF'
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 10000) g;
EOF
pg_stop "$P"

# copy_target DIR: a copy of the stopped old primary with its own copy of
# ts_common (a copy that shared the old primary's location would write into
# it). ts_old is left shared: it exists on the old side only, so a rewind
# removes the link and never writes there.
copy_target() {
    $AS cp -a "$P" "$1"
    _oid=$(for _l in "$P"/pg_tblspc/*; do [ "$(readlink "$_l")" != "$TSC" ] || basename "$_l"; done)
    [ -n "$_oid" ] || fail "no pg_tblspc link to $TSC in $P"
    $AS cp -a "$TSC" "${TSC}_$(basename "$1")"
    $AS ln -sfn "${TSC}_$(basename "$1")" "$1/pg_tblspc/$_oid"
}
copy_target "$P2"
copy_target "$P3"
SRC=$(conninfo "$MP")

# wait_receiving PORT: the standby there has a WAL receiver that streams (a
# rewound tree also holds WAL in its own pg_wal, so catching up alone does
# not prove it streams).
wait_receiving() {
    _end=$(( $(date +%s) + WAIT_S ))
    while :; do
        _st=$(psql_at "$1" postgres "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null || echo "")
        [ "$_st" = streaming ] && { echo "standby on port $1: WAL receiver streaming"; return 0; }
        [ "$(date +%s)" -lt "$_end" ] || fail "standby on port $1 does not stream after ${WAIT_S}s (receiver: '$_st')"
        sleep 0.3
    done
}

# compare_rewound A B: every relation file of the two stopped trees, block
# by block (relcmp follows the pg_tblspc links).
compare_rewound() {
    "$RELCMP" "$1" "$2" >"$W/relcmp.out" 2>"$W/relcmp.err" && _rc=0 || _rc=$?
    [ "$_rc" -le 1 ] || { cat "$W/relcmp.err"; fail "relcmp failed"; }
    grep -v '^[A-Z0-9]* ' "$W/relcmp.out" | tr '\n' ' '; echo
    if [ "$_rc" != 0 ]; then
        grep '^[A-Z0-9]* ' "$W/relcmp.out" | head -n 40
        fail "the trees rewound by segsync and by pg_rewind differ (relation files above)"
    fi
    # the tablespace (ts_common) was compared too
    [ "$(awk '$1 == "files_compared_tblspc" { print $2 }' "$W/relcmp.out")" -gt 0 ] ||
        fail "relcmp compared no relation file in a tablespace"
    echo "relation files of both rewound trees are identical"
}

log "unrelated clusters: exit 2, target untouched"
$AS "$PGBIN/initdb" -D "$U" -A trust -U postgres --data-checksums --no-sync >"$W/initdb.u.log" 2>&1 || fail "initdb unrelated"
before=$(tree_sum "$P")
run_ss unrelated incremental "$U" "$P"
expect_rc unrelated 2
err_mentions "$W/unrelated.err" "not the same cluster"
[ "$(tree_sum "$P")" = "$before" ] || fail "unrelated: the target was changed"

log "dry run: blocks per file printed, target untouched"
before=$(tree_sum "$P")
run_ss dry incremental --source-server="$SRC" -n -T "${TSC}_m=$TSC" "$M" "$P"
expect_rc dry 0
grep -E "would (update|copy)" "$W/dry.out" | head -n 8
grep -q "would update base/.*blocks" "$W/dry.out" || { show "$W/dry.out"; fail "dry run printed no relation file update"; }
[ "$(tree_sum "$P")" = "$before" ] || fail "dry run changed the target"

log "segsync incremental --source-server -R --json"
run_ss inc incremental --source-server="$SRC" -R --json -v -T "${TSC}_m=$TSC" "$M" "$P"
expect_rc inc 0
cat "$W/inc.out"; grep -i "diverged\|checkpoint\|blocks in\|pg_control written\|pg_wal" "$W/inc.err" || true
total=$(num_field "$W/inc.out" bytes_total)
sent=$(num_field "$W/inc.out" bytes_transferred)
echo "segsync incremental: bytes_transferred=$sent bytes_total=$total"
[ "$sent" -gt 0 ] || fail "incremental transferred nothing"
# Most of what travels is the new timeline's WAL (two 16 MB segments) and
# the new database (a copy of template1); the real yardstick is pg_rewind's
# byte count below.
[ $((sent * 2)) -lt "$total" ] || fail "incremental sent more than half of the tree ($sent of $total)"
grep -q "BACKUP METHOD: pg_rewind" "$P/backup_label" || { cat "$P/backup_label"; fail "backup_label"; }
[ -f "$P/standby.signal" ] || fail "-R: no standby.signal"
owned_by_cluster_user "$P"

log "pg_rewind --source-server on the copy"
$AS "$PGBIN/pg_rewind" --target-pgdata="$P2" --source-server="$SRC" -R --progress >"$W/pg_rewind.out" 2>&1 || {
    cat "$W/pg_rewind.out"; fail "pg_rewind"; }
rw_kb=$(grep -o '[0-9]*/[0-9]* kB' "$W/pg_rewind.out" | tail -n1 | cut -d/ -f1)
echo "pg_rewind copied ${rw_kb:-?} kB; segsync incremental sent $((sent / 1024)) kB"
[ -z "$rw_kb" ] || [ $((sent / 1024)) -lt "$rw_kb" ] || fail "segsync sent more than pg_rewind copied"

log "both rewound trees start as standbys of the new primary and stream"
pg_start "$P" "$PP" || fail "the old primary rewound by segsync did not start"
pg_start "$P2" "$P2P" || fail "the copy rewound by pg_rewind did not start"
wait_receiving "$PP"
wait_receiving "$P2P"

log "both replay to the new primary's position after a CHECKPOINT, then stop cleanly"
# Nothing writes on the new primary from here on (autovacuum is off); the
# standbys are not queried before the comparison, so neither has hint bits
# set by its own readers on pages made dirty by replay.
psql_at "$MP" postgres "CHECKPOINT" >/dev/null
wait_caught_up "$MP" "$PP"
wait_caught_up "$MP" "$P2P"
echo "replayed: segsync tree $(psql_at "$PP" postgres "SELECT pg_last_wal_replay_lsn()"), pg_rewind tree $(psql_at "$P2P" postgres "SELECT pg_last_wal_replay_lsn()")"
pg_stop "$P"
pg_stop "$P2"
compare_rewound "$P" "$P2"

log "the old primary rewound by segsync: tables, amcheck, checksums"
start_mirror_check "$M" "$MP" "$P" "$PP"

log "missing WAL: the segment of the divergence removed"
hist=$(ls "$M"/pg_wal/*.history | tail -n1)
sw=$(awk '$1 ~ /^[0-9]+$/ { print $2 }' "$hist" | tail -n1)
hi=${sw%%/*} lo=${sw#*/}
seg=$(printf '00000001%08X%08X' "0x$hi" $(( 0x$lo / 0x1000000 )))
echo "divergence at $sw: segment $seg"
[ -f "$P3/pg_wal/$seg" ] || fail "no $seg in the copy's pg_wal"
$AS rm -f "$P3/pg_wal/$seg"
run_ss nowal incremental --source-server="$SRC" -R -T "${TSC}_m=${TSC}_nowal" "$M" "$P3"
expect_rc nowal 3
err_mentions "$W/nowal.err" "$seg" "--fallback=differential"
run_ss nowal_fb incremental --source-server="$SRC" -R --fallback=differential --json \
    -T "${TSC}_m=${TSC}_nowal" "$M" "$P3"
expect_rc nowal_fb 0
err_mentions "$W/nowal_fb.err" "differential recovery was done instead" "$seg"
[ "$(json_field "$W/nowal_fb.out" outcome)" = fell_back ] ||
    fail "the JSON summary does not say the run fell back: $(cat "$W/nowal_fb.out")"
pg_start "$P3" "$P3P" || fail "fallback-recovered copy did not start"
wait_streaming "$MP" "$P3P"
compare_tables "$MP" "$P3P"
pg_stop "$P3"

log "target not cleanly shut down: exit 2"
pg_start "$P" "$PP" || fail "restart of the rewound standby"
pg_stop "$P" immediate
before=$(tree_sum "$P")
run_ss unclean incremental --source-server="$SRC" "$M" "$P"
expect_rc unclean 2
err_mentions "$W/unclean.err" "not shut down cleanly"
[ "$(tree_sum "$P")" = "$before" ] || fail "unclean: the target was changed"

log "same timeline: no rewind required"
run_ss same incremental --source-server="$SRC" "$M" "$P2"
expect_rc same 0
err_mentions "$W/same.err" "no rewind required"

log "an ancestor of the new primary (mirror stopped before the failover): no rewind, -R, streams"
run_ss anc incremental --source-server="$SRC" -R -T "${TSC}_m=${TSC}_anc" "$M" "$MA"
expect_rc anc 0
err_mentions "$W/anc.err" "no rewind required"
# its own primary_conninfo named the old primary: -R must point it at the
# new one (the old primary is not running now)
pg_start "$MA" "$MAP" || fail "the ancestor did not start"
wait_receiving "$MAP"
compare_tables "$MP" "$MAP"
pg_stop "$MA"
finish
