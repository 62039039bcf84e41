#!/bin/sh
# t_libpq_source.sh — engine/source_libpq against a running PostgreSQL 15
# server: the listing through libpq equals a find(1) listing of the real
# directory (data directory and a tablespace), files read through range()
# and read_file() equal the real ones (cmp), block comparison against a
# local copy finds exactly the blocks changed in it, a missing or vanished
# file is reported as such, a shrunk one is padded with zeros (errors when
# the source is not live), the engine syncs through it, unsafe paths
# are refused, and a role without the grants gets an error that names them
# (while a role with only the grants pg_rewind documents can read).
. "$(dirname "$0")/pglib.sh"

DUMP=$SEGSYNC_BUILD/tools/libpq_source_dump
[ -x "$DUMP" ] || fail "$DUMP is missing (build first)"

P=$W/primary
PORT=$(free_port)
log "primary on port $PORT (pgbench scale 1, a tablespace)"
setup_primary "$P" "$PORT" 1
add_tablespace "$PORT" ts1 >/dev/null
# Nothing may change the files while they are compared: no autovacuum,
# hint bits and visibility maps set now, everything flushed below.
psql_file "$PORT" postgres >/dev/null <<'EOF'
ALTER SYSTEM SET autovacuum = off;
SELECT pg_reload_conf();
VACUUM ANALYZE;
CREATE ROLE nopriv LOGIN;
CREATE ROLE reader LOGIN;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO reader;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO reader;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO reader;
EOF
ACC=$(psql_at "$PORT" postgres "SELECT pg_relation_filepath('pgbench_accounts')")
IDX=$(psql_at "$PORT" postgres "SELECT pg_relation_filepath('pgbench_accounts_pkey')")
CLS=$(psql_at "$PORT" postgres "SELECT pg_relation_filepath('pg_class')")
TSREL=$(psql_at "$PORT" postgres "SELECT pg_relation_filepath('in_ts1')")
OID=$(psql_at "$PORT" postgres "SELECT oid FROM pg_tablespace WHERE spcname = 'ts1'")
psql_at "$PORT" postgres "CHECKPOINT"
CI=$(conninfo "$PORT")
TS=$W/ts1

# dump NAME ARGS...: the tool; stdout in $W/NAME.out, stderr in $W/NAME.err,
# exit code in RC.
dump() {
    _n=$1; shift
    timeout 120 "$DUMP" "$@" >"$W/$_n.out" 2>"$W/$_n.err" && RC=0 || RC=$?
    [ "$RC" = 124 ] && fail "libpq_source_dump $* hung"
    return 0
}
dump_ok() {
    dump "$@"
    [ "$RC" = 0 ] || { cat "$W/$1.err"; fail "libpq_source_dump ${2:-} ... exit $RC"; }
}

# find_list DIR: what the tool prints, from the real directory. Sizes of
# directories and links are 0 (not visible through SQL); the tablespace
# link is not entered (find does not follow links).
find_list() {
    find "$1" -mindepth 1 -printf '%y|%m|%s|%P|%l\n' | awk -F'|' '
        { s = ($1 == "f") ? $3 : 0;
          printf "%s %s %s %s%s\n", $1, $2, s, $4, ($1 == "l") ? " -> " $5 : "" }' | sort
}
# What changes on an idle server, or exists only while it runs.
VOLATILE='^[fdl] [0-7]+ [0-9]+ (pg_wal|pg_stat_tmp|pg_logical|pg_replslot|pg_stat|pg_subtrans|pg_xact|pg_multixact|pg_notify|pg_snapshots|pg_serial|pg_dynshmem)(/|$)|^f [0-7]+ [0-9]+ (postmaster\.pid|postmaster\.opts|current_logfiles)$|/pgsql_tmp'

log "list the data directory through libpq"
dump_ok list list "$CI"
find_list "$P" | grep -Ev "$VOLATILE" >"$W/find.all"
sort "$W/list.out" | grep -Ev "$VOLATILE" >"$W/list.all"
[ "$(wc -l <"$W/find.all")" -gt 900 ] || fail "find listed only $(wc -l <"$W/find.all") entries"
if ! cmp -s "$W/find.all" "$W/list.all"; then
    diff "$W/find.all" "$W/list.all" | head -n 20
    fail "the libpq listing differs from find's"
fi
grep -qx "l 777 0 pg_tblspc/$OID -> $TS" "$W/list.out" || fail "pg_tblspc/$OID is not listed as a link to $TS"
grep -q "^. [0-7]* [0-9]* pg_tblspc/$OID/" "$W/list.out" && fail "the tablespace link was entered"
grep -q "^d 700 0 pg_wal$" "$W/list.out" || fail "pg_wal is not listed"
echo "  $(wc -l <"$W/list.all") entries equal to find's (data directory)"

log "a refused directory drops its contents (walk filter)"
dump_ok listx -x base -x global/pg_control list "$CI"
grep -Ev '^d 700 0 base$|^. [0-7]+ [0-9]+ base/|^f 600 [0-9]+ global/pg_control$' "$W/list.out" >"$W/listx.want"
cmp -s "$W/listx.want" "$W/listx.out" || { diff "$W/listx.want" "$W/listx.out" | head; fail "-x base: listing"; }

log "list the tablespace (sub = pg_tblspc/$OID)"
dump_ok tslist -s "pg_tblspc/$OID" list "$CI"
find_list "$TS" >"$W/tsfind"
sort "$W/tslist.out" >"$W/tslist"
cmp -s "$W/tsfind" "$W/tslist" || { diff "$W/tsfind" "$W/tslist" | head; fail "tablespace listing differs"; }
[ "$(wc -l <"$W/tslist")" -ge 4 ] || fail "tablespace listing too short"
echo "  $(wc -l <"$W/tslist") entries equal to find's (tablespace)"

log "read files through range() and compare with cmp"
# 64 KiB chunks on 1 and 3 connections (threads share the pool), and the
# engine's 4 MiB chunks.
for _r in "$ACC" "$IDX" "$CLS" global/pg_control; do
    dump_ok read -j 3 -c 65536 read "$CI" "$_r" "$W/got"
    cmp "$P/$_r" "$W/got" || fail "$_r read with 3 connections differs from the real file"
done
dump_ok read -c 65536 read "$CI" "$IDX" "$W/got"
cmp "$P/$IDX" "$W/got" || fail "$IDX read with 1 connection differs from the real file"
_size=$(stat -c %s "$P/$ACC")
dump_ok accread read "$CI" "$ACC" "$W/got"
_wire=$(sed -n 's/.*wire \([0-9]*\) bytes.*/\1/p' "$W/accread.err")
[ -n "$_wire" ] && [ "$_wire" -ge "$_size" ] || fail "wire bytes ($_wire) below the file's size ($_size)"
dump_ok tsread -s "pg_tblspc/$OID" -j 2 -c 65536 read "$CI" "$(echo "$TSREL" | cut -d/ -f3-)" "$W/got"
cmp "$P/$TSREL" "$W/got" || fail "tablespace relation $TSREL differs"
echo "  $ACC ($_size bytes), $IDX, $CLS, pg_control, $TSREL: equal"

log "read_file"
dump_ok rf readfile "$CI" global/pg_control "$W/ctl"
cmp "$P/global/pg_control" "$W/ctl" || fail "read_file global/pg_control differs"
dump_ok rf2 readfile "$CI" "$TSREL" "$W/tsrel" 100000000
cmp "$P/$TSREL" "$W/tsrel" || fail "read_file through pg_tblspc differs"
dump rfmiss readfile "$CI" base/5/999999999 "$W/x"
[ "$RC" = 3 ] || { cat "$W/rfmiss.err"; fail "read_file of a missing file: exit $RC, expected 3 (does not exist)"; }
dump rfbig readfile "$CI" "$ACC" "$W/x" 8192
[ "$RC" = 1 ] && grep -q "larger than 8192 bytes" "$W/rfbig.err" ||
    { cat "$W/rfbig.err"; fail "read_file over max: exit $RC"; }

log "vanished and shrunk files (live)"
dump gone -z 16384 read "$CI" base/5/999999999 "$W/x"
[ "$RC" = 3 ] || { cat "$W/gone.err"; fail "range of a vanished file: exit $RC, expected 3"; }
_big=$((_size + 3 * 8192))
dump_ok shrunk -z "$_big" -c 65536 read "$CI" "$ACC" "$W/got"
{ cat "$P/$ACC"; head -c $((3 * 8192)) /dev/zero; } >"$W/want"
cmp "$W/want" "$W/got" || fail "a file shorter than listed is not padded with zeros"

log "the same, not live: errors"
dump gone2 -L -z 16384 read "$CI" base/5/999999999 "$W/x"
[ "$RC" = 1 ] && grep -q "vanished while being read" "$W/gone2.err" || { cat "$W/gone2.err"; fail "not live, vanished: exit $RC"; }
dump shrunk2 -L -z "$_big" -c 8192 read "$CI" "$ACC" "$W/got"
[ "$RC" = 1 ] && grep -q "changed size while being read (shrank below" "$W/shrunk2.err" ||
    { cat "$W/shrunk2.err"; fail "not live, shrunk: exit $RC"; }
dump grown2 -L -z $((_size - 8192)) -c 65536 read "$CI" "$ACC" "$W/got"
[ "$RC" = 1 ] && grep -q "($((_size - 8192)) bytes listed, $_size now)" "$W/grown2.err" ||
    { cat "$W/grown2.err"; fail "not live, size changed: exit $RC"; }
dump_ok same2 -L -c 65536 read "$CI" "$ACC" "$W/got"
cmp "$P/$ACC" "$W/got" || fail "not live: $ACC differs"

log "block comparison against a local copy"
cp "$P/$ACC" "$W/copy"
dump_ok same diff "$CI" "$ACC" "$W/copy"
[ "$(cat "$W/same.out")" = "blocks 0 bytes 0" ] || fail "identical copy: $(cat "$W/same.out")"
for _b in 0 7 600; do
    printf 'segsync' | dd of="$W/copy" bs=1 seek=$((_b * 8192 + 100)) conv=notrunc status=none
done
dump_ok mut -c 65536 diff "$CI" "$ACC" "$W/copy"
[ "$(cat "$W/mut.out")" = "blocks 3 bytes 24576" ] || fail "3 changed blocks: $(cat "$W/mut.out")"

log "the engine (ss_sync, 3 workers sharing 3 connections): full, then diff after changing 4 blocks"
# (template0 and template1 left out too: a third of the files is enough)
XV="-x base/1 -x base/4 -x pg_wal -x pg_stat_tmp -x pg_logical -x pg_replslot -x pg_stat -x pg_subtrans -x pg_xact
    -x pg_multixact -x pg_notify -x pg_snapshots -x pg_serial -x pg_dynshmem -x postmaster.pid
    -x postmaster.opts"
C=$W/copy_dd
# shellcheck disable=SC2086
dump_ok syncfull -j 3 $XV sync "$CI" "$C" full
# sums DIR: every quiescent file's sha256.
sums() { (cd "$1" && find . -type f | grep -Ev '^\./base/[14]/|^\./(pg_wal|pg_stat_tmp|pg_logical|pg_replslot|pg_stat|pg_subtrans|pg_xact|pg_multixact|pg_notify|pg_snapshots|pg_serial|pg_dynshmem)/|^\./(postmaster\.pid|postmaster\.opts|current_logfiles)$|/pgsql_tmp' | sort | xargs sha256sum); }
sums "$P" >"$W/sums.p"
sums "$C" >"$W/sums.c"
cmp -s "$W/sums.p" "$W/sums.c" || { diff "$W/sums.p" "$W/sums.c" | head; fail "full sync through libpq: contents differ"; }
find_list "$C" | grep -Ev "$VOLATILE" >"$W/find.copy"
grep -Ev '^. [0-7]+ [0-9]+ base/[14](/|$)' "$W/find.all" >"$W/find.want"
cmp -s "$W/find.want" "$W/find.copy" || { diff "$W/find.want" "$W/find.copy" | head; fail "full sync through libpq: tree differs (types, modes, sizes, links)"; }
for _b in 1 9 1000; do
    printf 'segsync' | dd of="$C/$ACC" bs=1 seek=$((_b * 8192 + 200)) conv=notrunc status=none
done
printf 'segsync' | dd of="$C/$CLS" bs=1 seek=300 conv=notrunc status=none
# shellcheck disable=SC2086
dump_ok syncdiff -j 3 $XV sync "$CI" "$C" diff
grep -qx "files_updated 2" "$W/syncdiff.out" && grep -qx "blocks_changed 4" "$W/syncdiff.out" ||
    { cat "$W/syncdiff.out"; fail "diff sync: expected 2 files and 4 blocks updated"; }
sums "$C" >"$W/sums.c"
cmp -s "$W/sums.p" "$W/sums.c" || { diff "$W/sums.p" "$W/sums.c" | head; fail "diff sync through libpq: contents differ"; }
echo "  full: $(wc -l <"$W/sums.p") files equal; diff: $(tr '\n' ' ' <"$W/syncdiff.out")"

log "unsafe paths are refused"
dump unsafe -z 8192 read "$CI" ../postgresql.conf "$W/x"
[ "$RC" = 1 ] && grep -q "unsafe path" "$W/unsafe.err" || { cat "$W/unsafe.err"; fail "../ read: exit $RC"; }
dump unsafe2 readfile "$CI" /etc/passwd "$W/x"
[ "$RC" = 1 ] && grep -q "unsafe path" "$W/unsafe2.err" || { cat "$W/unsafe2.err"; fail "absolute read_file: exit $RC"; }
dump unsafe3 -s ../.. list "$CI"
[ "$RC" = 1 ] || { cat "$W/unsafe3.err"; fail "sub ../..: exit $RC"; }

log "privileges"
dump nopriv list "host=$SOCK port=$PORT user=nopriv dbname=postgres"
[ "$RC" = 1 ] || { cat "$W/nopriv.out"; fail "a role without grants could list (exit $RC)"; }
for _w in 'role "nopriv"' superuser EXECUTE 'pg_catalog.pg_ls_dir(text, boolean, boolean)' \
          'pg_catalog.pg_stat_file(text, boolean)' 'pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)'; do
    grep -qF "$_w" "$W/nopriv.err" || { cat "$W/nopriv.err"; fail "the permission error does not name $_w"; }
done
echo "  -> $(cat "$W/nopriv.err")"
RCI="host=$SOCK port=$PORT user=reader dbname=postgres"
dump_ok rlist list "$RCI"
sort "$W/rlist.out" | grep -Ev "$VOLATILE" | cmp -s - "$W/list.all" || fail "role reader: listing differs"
dump_ok rread -j 2 read "$RCI" "$ACC" "$W/got"
cmp "$P/$ACC" "$W/got" || fail "role reader: $ACC differs"
dump_ok rts -s "pg_tblspc/$OID" read "$RCI" "$(echo "$TSREL" | cut -d/ -f3-)" "$W/got"
cmp "$P/$TSREL" "$W/got" || fail "role reader: tablespace file differs"
echo "  role with EXECUTE on the three functions (no superuser, no pg_read_server_files): reads"
log "more connections wanted than the server allows: the pool goes on with fewer"
psql_at "$PORT" postgres "ALTER ROLE reader CONNECTION LIMIT 1"
dump_ok rlimit -j 3 -c 65536 read "$RCI" "$ACC" "$W/got"
cmp "$P/$ACC" "$W/got" || fail "role reader limited to one connection: $ACC differs"

log "bad conninfo"
dump badconn list "host=$SOCK port=1 user=postgres dbname=postgres"
[ "$RC" = 1 ] && grep -q "source server: cannot connect" "$W/badconn.err" ||
    { cat "$W/badconn.err"; fail "unreachable server: exit $RC"; }

finish
