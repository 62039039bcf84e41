#!/bin/sh
# segsync differential of a stopped PostgreSQL 15 mirror from a live primary.
#
# Primary with data checksums + pgbench data + a tablespace; mirror from
# pg_basebackup -R (-T for the tablespace); the mirror is stopped; on the
# primary: pgbench updates, inserts, a new table, a dropped table, VACUUM FULL,
# a new database with data, a new tablespace, writes in the old tablespace.
# Then `segsync differential --source-server --slot -R -T ... --json` (as the
# cluster user) must: send fewer payload bytes than the tree holds, leave
# every file owned by the cluster user, map both tablespaces to the mirror's
# own locations, and give a mirror that starts, streams through the slot,
# has every table equal after catch-up, passes pg_amcheck and (stopped)
# pg_checksums --check. A second round runs segsync as the invoking user
# (root in CI) directly: files must still belong to the cluster user.
. "$(dirname "$0")/pglib.sh"

P=$W/primary M=$W/mirror
TS1=$W/ts1 TS1M=$W/ts1_mirror TS2=$W/ts2 TS2M=$W/ts2_mirror
PP=$(free_port) MP=$(free_port)
mkdir_pg "$TS1" "$TS2"

log "primary on port $PP (pgbench -s 5), tablespace ts1"
setup_primary "$P" "$PP" 5
psql_file "$PP" postgres <<EOF
CREATE TABLESPACE ts1 LOCATION '$TS1';
CREATE TABLE in_ts1 TABLESPACE ts1 AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 50000) g;
CREATE INDEX in_ts1_id ON in_ts1 (id) TABLESPACE ts1;
CREATE TABLE dropme AS SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 20000) g;
CREATE TABLE vf AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 100000) g;
CREATE INDEX vf_id ON vf (id);
CREATE TABLE grow (id int PRIMARY KEY, v text);
INSERT INTO grow SELECT g, md5(g::text) FROM generate_series(1, 10000) g;
EOF

log "mirror on port $MP from pg_basebackup -R"
make_mirror "$PP" "$M" -T "$TS1=$TS1M"
pg_start "$M" "$MP" || fail "initial mirror did not start"
wait_streaming "$PP" "$MP"
pg_stop "$M"

log "writes on the primary while the mirror is down"
pgbench_run "$PP" -n -c 2 -t 300 postgres >"$W/pgbench.log" 2>&1 || { cat "$W/pgbench.log"; fail "pgbench"; }
mkdir_pg "$W/unused"
psql_file "$PP" postgres <<EOF
INSERT INTO grow SELECT g, md5(g::text) FROM generate_series(10001, 60000) g;
UPDATE grow SET v = 'changed' WHERE id % 97 = 0;
CREATE TABLE newtab AS SELECT g AS id, repeat(md5(g::text), 3) AS v FROM generate_series(1, 30000) g;
DROP TABLE dropme;
DELETE FROM vf WHERE id % 3 = 0;
VACUUM FULL vf;
UPDATE in_ts1 SET v = 'ts1-changed' WHERE id % 10 = 0;
CREATE TABLESPACE ts2 LOCATION '$TS2';
CREATE TABLE in_ts2 TABLESPACE ts2 AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g;
CREATE DATABASE db2;
EOF
psql_file "$PP" db2 <<'EOF'
CREATE TABLE t2 (id int PRIMARY KEY, v text);
INSERT INTO t2 SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
EOF

log "segsync differential (as $PGUSER_OS)"
SRC="$(conninfo "$PP")"
run_ss diff1 differential --json --source-server="$SRC" --slot=mirror1 -R \
    -T "$TS1=$TS1M" -T "$TS2=$TS2M" "$P" "$M"
expect_rc diff1 0
cat "$W/diff1.out"
total=$(num_field "$W/diff1.out" bytes_total)
sent=$(num_field "$W/diff1.out" bytes_transferred)
echo "bytes_transferred=$sent bytes_total=$total"
[ "$sent" -gt 0 ] || fail "differential transferred nothing"
[ "$sent" -lt "$total" ] || fail "differential sent every byte ($sent of $total): not differential"
# pgbench -s 5 is ~75 MB; the changes are a few MB plus the new database.
[ $((sent * 2)) -lt "$total" ] || fail "differential sent more than half of the tree ($sent of $total)"

[ -f "$M/global/pg_control" ] || fail "no global/pg_control after the run"
[ -f "$M/standby.signal" ] || fail "-R: no standby.signal"
[ -f "$M/backup_label" ] || fail "no backup_label written from the bracket"
grep -q "primary_conninfo" "$M/postgresql.auto.conf" || fail "-R: no primary_conninfo"
grep -q "primary_slot_name *= *'mirror1'" "$M/postgresql.auto.conf" || {
    cat "$M/postgresql.auto.conf"; fail "-R: primary_slot_name is not mirror1"; }
[ "$(psql_at "$PP" postgres "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'mirror1' AND restart_lsn IS NOT NULL")" = 1 ] ||
    fail "slot mirror1 missing or not reserving WAL on the primary"
owned_by_cluster_user "$M" "$TS1M" "$TS2M"
tblspc_links "$M"
assert_tblspc_separate "$M" "$TS1" "$TS2"
[ -n "$(find "$TS2M" -mindepth 1 -maxdepth 1 -type d -name 'PG_15_*')" ] || fail "new tablespace ts2 not created in $TS2M"
check_tablespace_map "$M" "$TS1=$TS1M" "$TS2=$TS2M"

log "mirror starts, streams through the slot, tables equal"
pg_start "$M" "$MP" || fail "recovered mirror did not start"
wait_streaming "$PP" "$MP"
[ "$(psql_at "$PP" postgres "SELECT active FROM pg_replication_slots WHERE slot_name = 'mirror1'")" = t ] ||
    fail "the mirror does not stream through slot mirror1"
# Recovery from tablespace_map must not have pointed the mirror at the
# primary's tablespace directories.
assert_tblspc_separate "$M" "$TS1" "$TS2"
compare_tables "$PP" "$MP"
[ "$(psql_at "$MP" db2 "SELECT count(*) FROM t2")" = 20000 ] || fail "db2.t2 on the mirror"
[ "$(psql_at "$MP" postgres "SELECT count(*) FROM pg_class WHERE relname = 'dropme'")" = 0 ] || fail "dropme still on the mirror"
amcheck "$MP"
pg_stop "$M"
checksums_check "$M"

log "second round: more writes, segsync run directly by $(id -un)"
pgbench_run "$PP" -n -c 2 -t 500 postgres >"$W/pgbench2.log" 2>&1 || { cat "$W/pgbench2.log"; fail "pgbench"; }
psql_file "$PP" postgres <<'EOF'
CREATE TABLE round2 AS SELECT g AS id FROM generate_series(1, 10000) g;
INSERT INTO in_ts2 SELECT g, 'r2' FROM generate_series(20001, 25000) g;
EOF
psql_at "$PP" db2 "UPDATE t2 SET v = 'r2' WHERE id < 100" >/dev/null
run_ss_root diff2 differential --json --source-server="$SRC" --slot=mirror1 -R \
    -T "$TS1=$TS1M" -T "$TS2=$TS2M" "$P" "$M"
expect_rc diff2 0
sent2=$(num_field "$W/diff2.out" bytes_transferred)
total2=$(num_field "$W/diff2.out" bytes_total)
echo "bytes_transferred=$sent2 bytes_total=$total2"
[ "$sent2" -lt "$total2" ] || fail "second differential sent every byte"
check_tablespace_map "$M" "$TS1=$TS1M" "$TS2=$TS2M"
if [ "$IS_ROOT" = 1 ]; then
    bad=$(find "$M" "$TS1M" "$TS2M" ! -user postgres -print | head -n 5)
    [ -z "$bad" ] || fail "segsync as root left files not owned by postgres: $bad"
fi
start_mirror_check "$P" "$PP" "$M" "$MP"
assert_tblspc_separate "$M" "$TS1" "$TS2"
finish
