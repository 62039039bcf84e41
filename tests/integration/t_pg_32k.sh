#!/bin/sh
# segsync against real Greenplum-shaped clusters: PostgreSQL 15 built with
# 32 KiB data pages and 32 KiB WAL pages (tests/pg32k/build.sh; cached in
# $PG32K_PREFIX, default /var/cache/segsync/pg15-32k).
#
# Skipped (77) when that build is missing, unless SEGSYNC_PG32K=build (then
# the build runs first, as root: DESIGN.md says about 5 minutes on 2 idle
# cores; 59 minutes were measured while the machine ran other tests).
#
#  1. primary: checksums, wal_log_hints; SHOW block_size / wal_block_size
#     and pg_controldata say 32768; pgbench -i; a streaming mirror from
#     pg_basebackup -R, stopped;
#  2. writes on the primary (pgbench, inserts, updates, a new table, a
#     dropped table, VACUUM FULL, a new database); `segsync differential
#     --source-server --slot -R --json`: fewer bytes than the tree, the
#     mirror starts, streams, every table equal, pg_amcheck, pg_checksums;
#  3. more writes; `segsync full`: every byte, same checks;
#  4. block size mismatch: differential from the 32 KiB primary into an
#     8 KiB cluster's directory refuses with exit 2 and leaves it untouched,
#     both for an unrelated cluster and for one whose pg_control carries the
#     primary's system identifier (so only the block sizes differ); and
#     one byte changed in a relation file of a stopped copy: a
#     differential sends one 32 KiB block;
#  5. failover: the mirror is promoted, both sides write, the old primary
#     is stopped and rewound with `segsync incremental --source-server -R`
#     (the WAL reader on 32 KiB WAL pages): no more bytes than pg_rewind
#     copies on a copy of it; it starts as a standby, streams, every table
#     equal, pg_amcheck, pg_checksums.
set -eu
PG32K_PREFIX=${PG32K_PREFIX:-/var/cache/segsync/pg15-32k}
if [ ! -x "$PG32K_PREFIX/bin/postgres" ]; then
    if [ "${SEGSYNC_PG32K:-}" = build ]; then
        sh "$(dirname "$0")/../pg32k/build.sh" || { echo "FAIL: tests/pg32k/build.sh failed" >&2; exit 1; }
    else
        echo "SKIP: no 32 KiB PostgreSQL build in $PG32K_PREFIX: run tests/pg32k/build.sh (as root; 5 to 60 min, depending on the machine's load), or set SEGSYNC_PG32K=build"
        exit 77
    fi
fi
PGBIN8=${PGBIN8:-/usr/lib/postgresql/15/bin}   # the distribution's 8 KiB build
PGBIN=$PG32K_PREFIX/bin
. "$(dirname "$0")/pglib.sh"

P=$W/primary M=$W/mirror E=$W/eightk E2=$W/eightk_sameid
PP=$(free_port) MP=$(free_port)
SRC=$(conninfo "$PP")

# ---- 1 -----------------------------------------------------------------------
log "32 KiB primary on port $PP (checksums, wal_log_hints, pgbench -s 3)"
make_primary "$P"
echo "wal_log_hints = on" | $AS sh -c "cat >>'$P/postgresql.conf'"
pg_start "$P" "$PP" || fail "primary did not start"
bs=$(psql_at "$PP" postgres "SHOW block_size")
wbs=$(psql_at "$PP" postgres "SHOW wal_block_size")
echo "block_size=$bs wal_block_size=$wbs"
[ "$bs" = 32768 ] || fail "SHOW block_size = $bs, expected 32768 (is $PGBIN a 32 KiB build?)"
[ "$wbs" = 32768 ] || fail "SHOW wal_block_size = $wbs, expected 32768"
$AS "$PGBIN/pg_controldata" -D "$P" >"$W/controldata.p" || fail "pg_controldata $P"
grep -Eq '^Database block size: +32768$' "$W/controldata.p" || { cat "$W/controldata.p"; fail "pg_controldata: data block size"; }
grep -Eq '^WAL block size: +32768$' "$W/controldata.p" || { cat "$W/controldata.p"; fail "pg_controldata: WAL block size"; }
psql_at "$PP" template1 "CREATE EXTENSION amcheck" >/dev/null
psql_at "$PP" postgres "CREATE EXTENSION amcheck" >/dev/null
pgbench_run "$PP" -i -q -s 3 postgres >"$W/pgbench-init.log" 2>&1 || { cat "$W/pgbench-init.log"; fail "pgbench -i"; }
psql_file "$PP" postgres <<'EOF'
CREATE TABLE grow (id int PRIMARY KEY, v text);
INSERT INTO grow SELECT g, md5(g::text) FROM generate_series(1, 10000) g;
CREATE TABLE vf AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 60000) g;
CREATE INDEX vf_id ON vf (id);
CREATE TABLE dropme AS SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 20000) g;
-- rows wider than 8 KiB stay inline on 32 KiB pages (TOAST threshold ~ page/4)
CREATE TABLE wide AS SELECT g AS id, repeat(md5(g::text), 200) AS v FROM generate_series(1, 500) g;
EOF

log "mirror on port $MP from pg_basebackup -R, streams, stopped"
make_mirror "$PP" "$M"
pg_start "$M" "$MP" || fail "initial mirror did not start"
wait_streaming "$PP" "$MP"
pg_stop "$M"

# writes N: one round of changes on the primary (port $1).
writes() {
    pgbench_run "$1" -n -c 2 -t 200 postgres >"$W/pgbench.$2.log" 2>&1 || { cat "$W/pgbench.$2.log"; fail "pgbench round $2"; }
    psql_file "$1" postgres <<EOF
INSERT INTO grow SELECT g, md5(g::text) FROM generate_series($2 * 100000, $2 * 100000 + 20000) g;
UPDATE grow SET v = 'round $2' WHERE id % 89 = $2;
UPDATE wide SET v = repeat('r$2', 3000) WHERE id % 7 = $2;
CREATE TABLE new_$2 AS SELECT g AS id, repeat(md5(g::text), 3) AS v FROM generate_series(1, 20000) g;
DELETE FROM vf WHERE id % 5 = $2 % 5;
VACUUM FULL vf;
CREATE DATABASE db$2;
EOF
    psql_file "$1" "db$2" <<'EOF'
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 10000) g;
EOF
}

# ---- 2 -----------------------------------------------------------------------
log "writes on the primary while the mirror is down"
writes "$PP" 1
psql_at "$PP" postgres "DROP TABLE dropme"

log "segsync differential (32 KiB pages)"
run_ss diff differential --json --source-server="$SRC" --slot=mirror1 -R "$P" "$M"
expect_rc diff 0
cat "$W/diff.out"
total=$(num_field "$W/diff.out" bytes_total)
sent=$(num_field "$W/diff.out" bytes_transferred)
blocks=$(num_field "$W/diff.out" blocks_changed)
echo "differential: bytes_transferred=$sent bytes_total=$total blocks_changed=$blocks"
# The engine compares in the cluster's BLCKSZ (engine/recovery/pgcommon.c);
# the summary's block_size field says so.
jbs=$(json_field "$W/diff.out" block_size)
[ "$jbs" = 32768 ] || fail "the JSON summary says block_size=$jbs on a 32 KiB cluster (expected the cluster's BLCKSZ, 32768)"
[ "$sent" -gt 0 ] || fail "differential transferred nothing"
[ $((sent * 2)) -lt "$total" ] || fail "differential sent more than half of the tree ($sent of $total)"
[ -f "$M/standby.signal" ] || fail "-R: no standby.signal"
grep -q "primary_slot_name *= *'mirror1'" "$M/postgresql.auto.conf" || {
    cat "$M/postgresql.auto.conf"; fail "-R: primary_slot_name is not mirror1"; }
owned_by_cluster_user "$M"
start_mirror_check "$P" "$PP" "$M" "$MP"
[ "$(psql_at "$PP" postgres "SELECT count(*) FROM pg_class WHERE relname = 'dropme'")" = 0 ] || fail "dropme still on the primary"

# ---- 3 -----------------------------------------------------------------------
log "more writes; segsync full over the stopped mirror"
writes "$PP" 2
run_ss full full --json --source-server="$SRC" --slot=mirror1 -R "$P" "$M"
expect_rc full 0
cat "$W/full.out"
total=$(num_field "$W/full.out" bytes_total)
sent=$(num_field "$W/full.out" bytes_transferred)
[ "$sent" = "$total" ] || check_fail "full sent $sent of $total bytes (full copies every byte)"
owned_by_cluster_user "$M"
start_mirror_check "$P" "$PP" "$M" "$MP"

# ---- 4 -----------------------------------------------------------------------
log "block size mismatch: differential from the 32 KiB primary into 8 KiB clusters"
$AS "$PGBIN8/initdb" -D "$E" -A trust -U postgres --data-checksums --no-sync >"$W/initdb.e.log" 2>&1 || {
    cat "$W/initdb.e.log"; fail "initdb (8 KiB) $E"; }
$AS "$PGBIN8/pg_controldata" -D "$E" | grep -Eq '^Database block size: +8192$' || fail "$E is not an 8 KiB cluster"
before=$(tree_sum "$E")
run_ss bs_unrel differential --source-server="$SRC" "$P" "$E"
expect_rc bs_unrel 2
err_mentions "$W/bs_unrel.err" "not the same cluster"
[ "$(tree_sum "$E")" = "$before" ] || fail "differential into an unrelated 8 KiB cluster changed it"

# An 8 KiB pg_control that carries the primary's system identifier (and a
# recomputed CRC-32C over the 288 bytes before the crc field of PostgreSQL
# 15's ControlFileData): only the page sizes tell the clusters apart.
$AS cp -a "$E" "$E2"
sysid=$(sed -n 's/^Database system identifier: *//p' "$W/controldata.p")
case $sysid in ''|*[!0-9]*) fail "no system identifier in pg_controldata of $P";; esac
$AS perl -e '
    my ($f, $id) = @ARGV;
    open(my $h, "+<", $f) or die "$f: $!"; binmode $h;
    read($h, my $b, 8192) == 8192 or die "short $f";
    substr($b, 0, 8) = pack("Q<", $id);
    my @t; for my $i (0 .. 255) { my $c = $i; $c = $c & 1 ? ($c >> 1) ^ 0x82F63B78 : $c >> 1 for 1 .. 8; $t[$i] = $c; }
    my $crc = 0xFFFFFFFF;
    $crc = $t[($crc ^ $_) & 0xFF] ^ ($crc >> 8) for unpack("C*", substr($b, 0, 288));
    substr($b, 288, 4) = pack("V", $crc ^ 0xFFFFFFFF);
    seek($h, 0, 0); print $h $b; close($h) or die "$f: $!";' "$E2/global/pg_control" "$sysid" ||
    fail "patching $E2/global/pg_control"
# The distribution's pg_controldata is the oracle: same identifier, valid CRC.
$AS "$PGBIN8/pg_controldata" -D "$E2" >"$W/controldata.e2" 2>&1 || { cat "$W/controldata.e2"; fail "pg_controldata $E2"; }
if grep -qi 'crc' "$W/controldata.e2" || ! grep -Eq "^Database system identifier: +$sysid\$" "$W/controldata.e2"; then
    head -n 5 "$W/controldata.e2"; fail "the patched pg_control of $E2 is not valid with the primary's identifier"
fi
before=$(tree_sum "$E2")
run_ss bs_same differential --source-server="$SRC" "$P" "$E2"
expect_rc bs_same 2
err_mentions "$W/bs_same.err" "block size" "32768" "8192"
[ "$(tree_sum "$E2")" = "$before" ] || fail "differential into an 8 KiB cluster with the same identifier changed it"

# The unit of comparison is the cluster's 32 KiB page: between two stopped
# copies of a fresh 32 KiB cluster that differ in one byte of one relation
# file (offset 40000: block 1 of 32 KiB, block 4 of 8 KiB), a differential
# sends exactly one 32 KiB block; cmp is the oracle for the result.
U1=$W/unit_src U2=$W/unit_dst
$AS "$PGBIN/initdb" -D "$U1" -A trust -U postgres --data-checksums --no-sync >"$W/initdb.u.log" 2>&1 || {
    cat "$W/initdb.u.log"; fail "initdb $U1"; }
$AS cp -a "$U1" "$U2"
rel=$(cd "$U1" && find base/1 -type f -size +96k ! -name '*_*' | sort | head -n 1)
[ -n "$rel" ] || fail "no relation file over 96 KiB in $U1/base/1"
printf 'X' | $AS dd of="$U2/$rel" bs=1 seek=40000 conv=notrunc status=none
! cmp -s "$U1/$rel" "$U2/$rel" || fail "the byte flip in $U2/$rel did not change it"
run_ss unit differential --json "$U1" "$U2"
expect_rc unit 0
sent=$(num_field "$W/unit.out" bytes_transferred)
blocks=$(num_field "$W/unit.out" blocks_changed)
echo "one byte changed in $rel: bytes_transferred=$sent blocks_changed=$blocks"
[ "$sent" = 32768 ] && [ "$blocks" = 1 ] ||
    fail "one changed byte should send one 32 KiB block, sent $sent bytes in $blocks blocks"
cmp "$U1/$rel" "$U2/$rel" || fail "$rel differs after the differential"

# ---- 5 -----------------------------------------------------------------------
log "failover: mirror promoted, writes on both sides, old primary stopped"
pg_start "$M" "$MP" || fail "mirror did not start for the failover"
wait_streaming "$PP" "$MP"
wait_caught_up "$PP" "$MP"
$AS "$PGBIN/pg_ctl" -D "$M" -w -t "$WAIT_S" promote >/dev/null || fail "promote"
[ "$(psql_at "$MP" postgres "SELECT pg_is_in_recovery()")" = f ] || fail "mirror still in recovery after promote"
# The new primary's postgresql.auto.conf names primary_slot_name 'mirror1'
# (segsync -R --slot above); a rewind copies that file to the old primary
# (as pg_rewind does), so the old primary will stream through a slot of
# that name on the new primary, as a Greenplum mirror uses its slot.
psql_at "$MP" postgres "SELECT 1 FROM pg_create_physical_replication_slot('mirror1', true)" >/dev/null
pgbench_run "$PP" -n -c 2 -t 300 postgres >"$W/pgbench.old.log" 2>&1 || { cat "$W/pgbench.old.log"; fail "pgbench old primary"; }
pgbench_run "$MP" -n -c 2 -t 300 postgres >"$W/pgbench.new.log" 2>&1 || { cat "$W/pgbench.new.log"; fail "pgbench new primary"; }
psql_file "$PP" postgres <<'EOF'
INSERT INTO grow SELECT g, 'old ' || g FROM generate_series(500001, 530000) g;
UPDATE wide SET v = repeat('old', 4000) WHERE id % 3 = 0;
CREATE TABLE only_on_old AS SELECT g AS id FROM generate_series(1, 30000) g;
DROP TABLE new_1;
TRUNCATE new_2;
EOF
psql_file "$MP" postgres <<'EOF'
INSERT INTO grow SELECT g, 'new ' || g FROM generate_series(600001, 610000) g;
UPDATE grow SET v = 'changed on new' WHERE id % 97 = 0;
UPDATE wide SET v = repeat('new', 4000) WHERE id % 5 = 0;
CREATE TABLE only_on_new AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 30000) g;
EOF
pg_stop "$P"
P2=$W/rewound_by_pg_rewind
$AS cp -a "$P" "$P2"

log "segsync incremental (32 KiB WAL pages) of the old primary from the new one"
SRC2=$(conninfo "$MP")
run_ss inc incremental --source-server="$SRC2" -R --json -v "$M" "$P"
expect_rc inc 0
cat "$W/inc.out"
grep -i "diverged\|checkpoint\|blocks in\|pg_control written" "$W/inc.err" || true
[ "$(json_field "$W/inc.out" outcome)" = rewound ] ||
    fail "incremental did not rewind (outcome '$(json_field "$W/inc.out" outcome)'): $(cat "$W/inc.out")"
total=$(num_field "$W/inc.out" bytes_total)
sent=$(num_field "$W/inc.out" bytes_transferred)
echo "incremental: bytes_transferred=$sent bytes_total=$total"
[ "$sent" -gt 0 ] || fail "incremental transferred nothing"
[ $((sent * 2)) -lt "$total" ] || fail "incremental sent more than half of the tree ($sent of $total)"
grep -q "BACKUP METHOD: pg_rewind" "$P/backup_label" || { cat "$P/backup_label"; fail "backup_label"; }
[ -f "$P/standby.signal" ] || fail "-R: no standby.signal"
owned_by_cluster_user "$P"

# pg_rewind (of the same 32 KiB build) on a copy: the yardstick for the
# amount copied.
$AS "$PGBIN/pg_rewind" --target-pgdata="$P2" --source-server="$SRC2" --progress >"$W/pg_rewind.out" 2>&1 || {
    cat "$W/pg_rewind.out"; fail "pg_rewind of the copy"; }
rw_kb=$(grep -o '[0-9]*/[0-9]* kB' "$W/pg_rewind.out" | tail -n1 | cut -d/ -f1)
echo "pg_rewind copied ${rw_kb:-?} kB; segsync incremental sent $((sent / 1024)) kB"
[ -z "$rw_kb" ] || [ $((sent / 1024)) -le "$rw_kb" ] || fail "segsync incremental sent more than pg_rewind copied"
start_mirror_check "$M" "$MP" "$P" "$PP"
pg_stop "$M"
finish
