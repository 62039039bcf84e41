#!/bin/sh
# segsync full of a PostgreSQL 15 mirror from a live primary, three ways:
#  (a) into a target that does not exist yet, run directly by the invoking
#      user (root in CI: the new data directory and every file must belong
#      to the owner of the directory it is made in, the cluster user);
#  (b) over an old, stopped mirror (from pg_basebackup) after writes on the
#      primary: full replaces it (a stray file is gone, every byte is sent);
#  (c) `full --differential` in place over that mirror after more writes:
#      only changed blocks are sent.
# Each round of writes: pgbench updates, inserts, a new table, a dropped
# table, VACUUM FULL, a new database, a new tablespace (mapped with -T).
# After each recovery the mirror starts, streams through the slot, every
# table is equal after catch-up, pg_amcheck passes, pg_checksums --check
# passes on the stopped mirror, no tablespace link points at the primary.
. "$(dirname "$0")/pglib.sh"

P=$W/primary
PP=$(free_port) MP=$(free_port)
SRC=$(conninfo "$PP")

log "primary on port $PP (pgbench -s 5) with tablespace ts0"
setup_primary "$P" "$PP" 5
base_objects "$PP"
add_tablespace "$PP" ts0

# --- (a) ---------------------------------------------------------------------
A=$W/mirror_a
log "(a) segsync full into a new directory $A, as $(id -un)"
run_ss_root full_a full --json -P --source-server="$SRC" --slot=mirror1 -R $(ts_opts a) "$P" "$A"
if [ "$RC" != 0 ] && [ "$IS_ROOT" = 1 ] && grep -q 'parent directory is missing' "$W/full_a.err"; then
    # Known segsync bug (engine/recovery/pgsync.c target_owner: stat of
    # "TARGET/.." fails when TARGET does not exist). Keep the check failing,
    # go on with an empty existing directory so the rest is still covered.
    check_fail "segsync bug: as root, full into a nonexistent target whose parent exists: exit $RC, $(grep 'error:' "$W/full_a.err")"
    [ ! -e "$A" ] || check_fail "(a) the failed run left $A behind"
    mkdir_pg "$A"
    chmod 700 "$A"
    run_ss_root full_a full --json -P --source-server="$SRC" --slot=mirror1 -R $(ts_opts a) "$P" "$A"
fi
expect_rc full_a 0
cat "$W/full_a.out"
total=$(num_field "$W/full_a.out" bytes_total)
sent=$(num_field "$W/full_a.out" bytes_transferred)
[ "$sent" = "$total" ] || check_fail "(a) full into an empty target sent $sent of $total bytes"
grep -q '%\|MB\|kB' "$W/full_a.err" || echo "(note: -P printed no progress on stderr)"
owned_by_cluster_user "$A" $(ts_mirror_dirs a)
[ "$(stat -c %a "$A")" = 700 ] || check_fail "(a) new data directory has mode $(stat -c %a "$A"), PostgreSQL wants 700"
check_tablespace_map "$A" $(ts_pairs a)
start_mirror_check "$P" "$PP" "$A" "$MP"

# --- (b) ---------------------------------------------------------------------
M=$W/mirror
log "(b) pg_basebackup mirror, stopped, writes, then segsync full over it"
make_mirror "$PP" "$M" $(ts_opts m)
primary_writes "$PP" 1
echo "stray" | $AS sh -c "cat >'$M/base/stray_file'"
$AS mkdir "$M/stray_dir"
run_ss full_b full --json --source-server="$SRC" --slot=mirror1 -R $(ts_opts m) "$P" "$M"
expect_rc full_b 0
cat "$W/full_b.out"
total=$(num_field "$W/full_b.out" bytes_total)
sent=$(num_field "$W/full_b.out" bytes_transferred)
[ "$sent" = "$total" ] || check_fail "(b) full sent $sent of $total bytes (full copies every byte)"
[ ! -e "$M/base/stray_file" ] || check_fail "(b) full left base/stray_file in the target"
[ ! -e "$M/stray_dir" ] || check_fail "(b) full left stray_dir in the target"
owned_by_cluster_user "$M" $(ts_mirror_dirs m)
check_tablespace_map "$M" $(ts_pairs m)
start_mirror_check "$P" "$PP" "$M" "$MP"

# --- (c) ---------------------------------------------------------------------
log "(c) more writes, then segsync full --differential in place"
primary_writes "$PP" 2
run_ss full_c full --differential --json --source-server="$SRC" --slot=mirror1 -R $(ts_opts m) "$P" "$M"
expect_rc full_c 0
cat "$W/full_c.out"
total=$(num_field "$W/full_c.out" bytes_total)
sent=$(num_field "$W/full_c.out" bytes_transferred)
[ "$sent" -gt 0 ] || check_fail "(c) full --differential sent nothing"
[ $((sent * 2)) -lt "$total" ] || check_fail "(c) full --differential sent $sent of $total bytes: not only the changes"
owned_by_cluster_user "$M" $(ts_mirror_dirs m)
check_tablespace_map "$M" $(ts_pairs m)
start_mirror_check "$P" "$PP" "$M" "$MP"
finish
