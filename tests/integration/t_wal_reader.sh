#!/bin/sh
# t_wal_reader: segsync's WAL reader against pg_waldump on real PostgreSQL 15
# WAL. A server is made to write >100 MB of varied WAL (bulk loads, pgbench,
# indexes, vacuum, truncate, a tablespace, CREATE DATABASE, full-page images
# compressed with pglz, lz4 and zstd); then both tools read the same LSN
# range and their (LSN, rmgr, length, xid, prev, block references) lists
# must be identical.
set -eu
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
B=${SEGSYNC_BUILD:?SEGSYNC_BUILD not set}
DUMP=$B/tools/waldump
[ -x "$PGBIN/pg_ctl" ] || { echo "skip: no PostgreSQL 15 in $PGBIN"; exit 77; }
[ -x "$DUMP" ] || { echo "skip: $DUMP not built"; exit 77; }
id postgres >/dev/null 2>&1 || { echo "skip: no postgres user"; exit 77; }

T=$(mktemp -d)
chown postgres "$T"
D=$T/data
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop() { as_pg "$PGBIN/pg_ctl" -D "$D" -m fast -w stop >/dev/null 2>&1 || true; }
trap 'stop; rm -rf "$T"' EXIT INT TERM

as_pg "$PGBIN/initdb" -D "$D" --data-checksums -A trust -U postgres >/dev/null
cat >>"$D/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$T'
wal_level = replica
full_page_writes = on
wal_compression = pglz
max_wal_size = 4GB
min_wal_size = 1GB
wal_keep_size = 4GB
checkpoint_timeout = 1h
fsync = off
synchronous_commit = off
autovacuum = off
CONF
as_pg "$PGBIN/pg_ctl" -D "$D" -l "$T/server.log" -w start >/dev/null
psql() { as_pg "$PGBIN/psql" -h "$T" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }
sql() { psql -At -c "$1"; }
# Pick a compression method if this build has it (lz4 and zstd are optional).
METHODS=pglz
compress() {
    if sql "ALTER SYSTEM SET wal_compression = $1" 2>/dev/null; then
        sql "SELECT pg_reload_conf()" >/dev/null; METHODS="$METHODS $1"
    else echo "note: wal_compression=$1 not available"; fi
}

START=$(sql "SELECT pg_current_wal_insert_lsn()")
t0=$(date +%s)

# pglz phase: bulk load, indexes, then FPIs after a checkpoint.
as_pg "$PGBIN/pgbench" -h "$T" -U postgres -i -s 6 -q postgres >/dev/null 2>&1
sql "CHECKPOINT"
as_pg "$PGBIN/pgbench" -h "$T" -U postgres -n -c 2 -T 8 postgres >/dev/null 2>&1

# lz4 phase: tablespace, COPY, secondary indexes, deletes, vacuum.
compress lz4
mkdir "$T/ts" && chown postgres "$T/ts"
psql <<SQL
CREATE TABLESPACE ts LOCATION '$T/ts';
CREATE TABLE big (id int, t text, f float8) TABLESPACE ts;
INSERT INTO big SELECT g, md5(g::text) || repeat('x', g % 200), random() FROM generate_series(1, 200000) g;
CREATE INDEX big_t ON big (t) TABLESPACE ts;
CREATE INDEX big_f ON big USING hash (f);
CHECKPOINT;
UPDATE big SET f = f + 1 WHERE id % 7 = 0;
DELETE FROM big WHERE id % 5 = 0;
VACUUM big;
CREATE TABLE arr (id serial primary key, a int[], j jsonb);
INSERT INTO arr (a, j) SELECT ARRAY[g, g+1, g+2], jsonb_build_object('g', g) FROM generate_series(1, 50000) g;
CREATE INDEX arr_gin ON arr USING gin (a);
CREATE INDEX arr_brin ON arr USING brin (id);
CREATE SEQUENCE s; SELECT nextval('s') FROM generate_series(1, 100) \g /dev/null
SQL

# zstd phase: truncate, a new database (WAL-logged copy), more FPIs.
compress zstd
psql <<SQL
CHECKPOINT;
TRUNCATE pgbench_history;
CREATE DATABASE db2;
CREATE UNLOGGED TABLE u (x int);
INSERT INTO u SELECT generate_series(1, 1000);
CREATE TABLE gist_t (p point);
INSERT INTO gist_t SELECT point(g % 1000, g / 1000) FROM generate_series(1, 50000) g;
CREATE INDEX ON gist_t USING gist (p);
VACUUM FULL pgbench_branches;
SELECT pg_switch_wal() \g /dev/null
SQL
as_pg "$PGBIN/pgbench" -h "$T" -U postgres -n -c 2 -T 5 postgres >/dev/null 2>&1
psql -d db2 -c "CREATE TABLE t2 AS SELECT g FROM generate_series(1, 100000) g"

END=$(sql "SELECT pg_current_wal_insert_lsn()")
MB=$(sql "SELECT (pg_wal_lsn_diff('$END', '$START') / 1048576)::int")
echo "workload: $START .. $END ($MB MB of WAL) in $(( $(date +%s) - t0 ))s"
stop

# pg_waldump: "rmgr: NAME len (rec/tot): R/ T, tx: X, lsn: L, prev P, desc: ..."
# followed by "\tblkref #N: rel S/D/R fork F blk B[ (FPW...)...]" lines.
t1=$(date +%s)
as_pg "$PGBIN/pg_waldump" --bkp-details -p "$D/pg_wal" -s "$START" -e "$END" >"$T/pg.txt" 2>"$T/pg.err" || true
awk '
function flush() { if (cur != "") print cur; cur = "" }
/^rmgr: / {
    flush()
    match($0, /lsn: [0-9A-F]+\/[0-9A-F]+/); lsn = substr($0, RSTART + 5, RLENGTH - 5)
    match($0, /prev [0-9A-F]+\/[0-9A-F]+/); prev = substr($0, RSTART + 5, RLENGTH - 5)
    match($0, /tx: *[0-9]+/); tx = substr($0, RSTART, RLENGTH); sub(/tx: */, "", tx)
    match($0, /\/ *[0-9]+, tx/); tot = substr($0, RSTART, RLENGTH); gsub(/[^0-9]/, "", tot)
    cur = lsn " " $2 " " tot " " tx " " prev
    next
}
/^\tblkref #/ {
    match($0, /#[0-9]+: rel [0-9]+\/[0-9]+\/[0-9]+ fork [a-z]+ blk [0-9]+/)
    cur = cur " " substr($0, RSTART, RLENGTH) (index($0, "(FPW") ? " FPW" : "")
}
END { flush() }' "$T/pg.txt" >"$T/pg.norm"
t2=$(date +%s)
"$DUMP" "$D/pg_wal" "$START" "$END" >"$T/ss.txt" 2>"$T/ss.err"
t3=$(date +%s)
cat "$T/ss.err"
sed -E 's/ len=([0-9]+) tx=([0-9]+) prev=([^ ]+)/ \1 \2 \3/; s/ blkref #/ #/g' "$T/ss.txt" >"$T/ss.norm"

n_pg=$(wc -l <"$T/pg.norm"); n_ss=$(wc -l <"$T/ss.norm")
fpw=$(grep -o ' FPW' "$T/ss.norm" | wc -l)
blkrefs=$(grep -o ' #[0-9]*: rel' "$T/ss.norm" | wc -l)
ts_oid=$(grep -Eo 'rel [0-9]+/' "$T/ss.norm" | sort -u | grep -vc -e 'rel 1663/' -e 'rel 1664/' || true)
echo "records: pg_waldump $n_pg ($((t2 - t1))s), segsync $n_ss ($((t3 - t2))s); FPW $fpw; block refs $blkrefs; other tablespaces $ts_oid"
if ! diff -q "$T/pg.norm" "$T/ss.norm" >/dev/null; then
    echo "FAIL: outputs differ (first differences):"
    diff "$T/pg.norm" "$T/ss.norm" | head -20
    tail -3 "$T/pg.err"
    exit 1
fi
# Measured on this workload: ~120 MB and ~700k records; demand a good part.
[ "$MB" -ge 100 ] || { echo "FAIL: only $MB MB of WAL generated"; exit 1; }
[ "$n_ss" -ge 300000 ] || { echo "FAIL: only $n_ss records"; exit 1; }
[ "$fpw" -ge 1000 ] || { echo "FAIL: only $fpw full-page images"; exit 1; }
for m in $METHODS; do
    c=$(grep -c "method: $m" "$T/pg.txt" || true)
    echo "full-page images compressed with $m: $c"
    [ "$c" -ge 10 ] || { echo "FAIL: too few $m-compressed images"; exit 1; }
done
[ "$ts_oid" -ge 1 ] || { echo "FAIL: no block in a user tablespace"; exit 1; }
echo "ok: $n_ss records identical to pg_waldump over $MB MB"
