#!/bin/sh
# segsync incremental (a WAL-driven rewind) of a former primary after a
# failover, against PostgreSQL 15, with pg_rewind on a copy as the yardstick.
#
# Primary (checksums, wal_log_hints) + streaming mirror; the mirror is
# promoted; both sides write (pgbench, inserts, a new table each, a dropped
# table and a TRUNCATE on the old primary); the old primary is stopped
# cleanly and copied twice. Checks:
#  - unrelated clusters: exit 2, target untouched;
#  - -n prints the blocks per file that would travel, changes nothing;
#  - `segsync incremental --source-server=<new primary> -R --json NEW OLD`:
#    exit 0, far fewer bytes than the tree; the old primary starts as a
#    standby, streams, every table equals the new primary's, pg_amcheck,
#    pg_checksums --check after a clean stop;
#  - pg_rewind --source-server on copy 1: same table contents; byte counts
#    compared;
#  - copy 2 without the WAL segment of the divergence: exit 3 naming the
#    segment and --fallback=differential; with it: a differential recovery,
#    a standby that streams;
#  - a target stopped with -m immediate: exit 2 with a clear message;
#  - the same timeline: "no rewind required", exit 0.
. "$(dirname "$0")/pglib.sh"

P=$W/oldprimary M=$W/newprimary P2=$W/rewound_by_pg_rewind P3=$W/nowal U=$W/unrelated
PP=$(free_port) MP=$(free_port) P2P=$(free_port) P3P=$(free_port)

log "primary on port $PP (pgbench -s 5, checksums, wal_log_hints)"
make_primary "$P"
echo "wal_log_hints = on" | $AS sh -c "cat >>'$P/postgresql.conf'"
pg_start "$P" "$PP" || fail "primary did not start"
psql_at "$PP" postgres "CREATE EXTENSION amcheck" >/dev/null
pgbench_run "$PP" -i -q -s 5 postgres >"$W/pgbench-init.log" 2>&1 || { cat "$W/pgbench-init.log"; fail "pgbench -i"; }
psql_file "$PP" postgres <<'EOF'
CREATE TABLE dropme AS SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 20000) g;
CREATE TABLE truncme AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g;
CREATE TABLE grow (id int PRIMARY KEY, v text);
INSERT INTO grow SELECT g, md5(g::text) FROM generate_series(1, 10000) g;
EOF

log "mirror on port $MP, promoted"
make_mirror "$PP" "$M"
pg_start "$M" "$MP" || fail "mirror did not start"
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
EOF
psql_file "$MP" postgres <<'EOF'
INSERT INTO grow SELECT g, 'new ' || g FROM generate_series(10001, 20000) g;
UPDATE grow SET v = 'changed on new' WHERE id % 97 = 0;
CREATE TABLE only_on_new AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 30000) g;
EOF
pg_stop "$P"

$AS cp -a "$P" "$P2"
$AS cp -a "$P" "$P3"
SRC=$(conninfo "$MP")

log "unrelated clusters: exit 2, target untouched"
$AS "$PGBIN/initdb" -D "$U" -A trust -U postgres --data-checksums --no-sync >"$W/initdb.u.log" 2>&1 || fail "initdb unrelated"
before=$(tree_sum "$P")
run_ss unrelated incremental "$U" "$P"
expect_rc unrelated 2
err_mentions "$W/unrelated.err" "not the same cluster"
[ "$(tree_sum "$P")" = "$before" ] || fail "unrelated: the target was changed"

log "dry run: blocks per file printed, target untouched"
before=$(tree_sum "$P")
run_ss dry incremental --source-server="$SRC" -n "$M" "$P"
expect_rc dry 0
grep -E "would (update|copy)" "$W/dry.out" | head -n 8
grep -q "would update base/.*blocks" "$W/dry.out" || { show "$W/dry.out"; fail "dry run printed no relation file update"; }
[ "$(tree_sum "$P")" = "$before" ] || fail "dry run changed the target"

log "segsync incremental --source-server -R --json"
run_ss inc incremental --source-server="$SRC" -R --json -v "$M" "$P"
expect_rc inc 0
cat "$W/inc.out"; grep -i "diverged\|checkpoint\|blocks in\|pg_control written\|pg_wal" "$W/inc.err" || true
total=$(num_field "$W/inc.out" bytes_total)
sent=$(num_field "$W/inc.out" bytes_transferred)
echo "segsync incremental: bytes_transferred=$sent bytes_total=$total"
[ "$sent" -gt 0 ] || fail "incremental transferred nothing"
# Half of what travels is the new timeline's WAL segment (16 MB).
[ $((sent * 4)) -lt "$total" ] || fail "incremental sent more than a quarter of the tree ($sent of $total)"
grep -q "BACKUP METHOD: pg_rewind" "$P/backup_label" || { cat "$P/backup_label"; fail "backup_label"; }
[ -f "$P/standby.signal" ] || fail "-R: no standby.signal"
owned_by_cluster_user "$P"

log "pg_rewind --source-server on the copy"
$AS "$PGBIN/pg_rewind" --target-pgdata="$P2" --source-server="$SRC" -R --progress >"$W/pg_rewind.out" 2>&1 || {
    cat "$W/pg_rewind.out"; fail "pg_rewind"; }
rw_kb=$(grep -o '[0-9]*/[0-9]* kB' "$W/pg_rewind.out" | tail -n1 | cut -d/ -f1)
echo "pg_rewind copied ${rw_kb:-?} kB; segsync incremental sent $((sent / 1024)) kB"
[ -z "$rw_kb" ] || [ $((sent / 1024)) -lt "$rw_kb" ] || fail "segsync sent more than pg_rewind copied"

log "old primary starts as a standby of the new primary"
start_mirror_check "$M" "$MP" "$P" "$PP"

log "the pg_rewind copy: same tables"
pg_start "$P2" "$P2P" || fail "pg_rewind'd copy did not start"
wait_streaming "$MP" "$P2P"
compare_tables "$MP" "$P2P"
pg_stop "$P2"

log "missing WAL: the segment of the divergence removed"
hist=$(ls "$M"/pg_wal/*.history | tail -n1)
sw=$(awk '$1 ~ /^[0-9]+$/ { print $2 }' "$hist" | tail -n1)
hi=${sw%%/*} lo=${sw#*/}
seg=$(printf '00000001%08X%08X' "0x$hi" $(( 0x$lo / 0x1000000 )))
echo "divergence at $sw: segment $seg"
[ -f "$P3/pg_wal/$seg" ] || fail "no $seg in the copy's pg_wal"
$AS rm -f "$P3/pg_wal/$seg"
run_ss nowal incremental --source-server="$SRC" -R "$M" "$P3"
expect_rc nowal 3
err_mentions "$W/nowal.err" "$seg" "--fallback=differential"
run_ss nowal_fb incremental --source-server="$SRC" -R --fallback=differential --json "$M" "$P3"
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
finish
