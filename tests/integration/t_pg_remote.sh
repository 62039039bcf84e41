#!/bin/sh
# t_pg_remote.sh — PostgreSQL mode with the source on "another host".
#
# A primary (data checksums, pgbench, a tablespace) and a streaming mirror.
#  1. differential through the agent over an --rsh stand-in (HOST:DIR), the
#     tablespace mapped with -T: the agent follows pg_tblspc/<oid>;
#  2. full through a listening agent (segsync://127.0.0.1:PORT/, token);
#  3. failover (the mirror promoted, writes on both), the old primary
#     rewound with `incremental --source-server=CONNINFO TARGET`: no SOURCE,
#     the files read through libpq;
#  4. failover back, the other one rewound with incremental through the
#     agent (HOST:DIR).
# After each: the recovered server starts, streams from the primary, every
# table is equal, pg_amcheck passes, and pg_checksums --check on it stopped.
# Also: bytes_on_wire > 0 through the agent, fewer bytes than the tree for
# differential and incremental, a wrong host command fails cleanly (exit 3,
# target untouched).
. "$(dirname "$0")/pglib.sh"

P=$W/primary M=$W/mirror
PP=$(free_port) MP=$(free_port)

# The --rsh stand-in: HOST is dropped, the rest runs through sh -c, as sshd
# runs the command line it is given.
RSH=$W/fake-rsh
cat >"$RSH" <<'EOS'
#!/bin/sh
shift
exec sh -c "$*"
EOS
chmod 755 "$RSH"
AG="--rsh=$RSH --remote-path=$SS"

log "primary on port $PP (pgbench -s 3), tablespace ts0"
setup_primary "$P" "$PP" 3
base_objects "$PP"
add_tablespace "$PP" ts0
log "mirror on port $MP"
# shellcheck disable=SC2046
make_mirror "$PP" "$M" $(ts_opts m)
pg_start "$M" "$MP" || fail "initial mirror did not start"
wait_streaming "$PP" "$MP"
pg_stop "$M"

log "1. differential through the agent over --rsh (HOST:DIR)"
PGBENCH_TX=100 primary_writes "$PP" 1
before=$(tree_sum "$M")
log "an agent that cannot start: clear error, target untouched"
run_ss badrsh differential --source-server="$(conninfo "$PP")" --rsh=/bin/false \
    --remote-path="$SS" "localhost:$P" "$M"
expect_rc badrsh 3
err_mentions "$W/badrsh.err" "source localhost"
[ "$(tree_sum "$M")" = "$before" ] || fail "a failed connection changed the target"

# shellcheck disable=SC2046,SC2086
run_ss diff differential --json -v --source-server="$(conninfo "$PP")" --slot=m1 -R \
    $(ts_opts m) $AG "localhost:$P" "$M"
expect_rc diff 0
cat "$W/diff.out"
# The mirror was hashed ahead while the agent started and the backup began
# (presig, at idle priority: how much depends on the machine's load); the
# end state below is checked the same either way.
grep -E "hashed [0-9]+ target files" "$W/diff.err" ||
    fail "no target hashing ahead reported by -v (presig not started?)"
total=$(num_field "$W/diff.out" bytes_total)
sent=$(num_field "$W/diff.out" bytes_transferred)
wire=$(num_field "$W/diff.out" bytes_on_wire)
[ "$wire" -gt 0 ] || fail "bytes_on_wire is $wire through the agent"
[ $((sent * 2)) -lt "$total" ] || fail "differential through the agent sent $sent of $total bytes"
[ -f "$M/backup_label" ] || fail "no backup_label"
grep -q "primary_slot_name *= *'m1'" "$M/postgresql.auto.conf" || fail "-R: no primary_slot_name"
owned_by_cluster_user "$M" $(ts_mirror_dirs m)
check_tablespace_map "$M" $(ts_pairs m)
start_mirror_check "$P" "$PP" "$M" "$MP"
[ -n "$(find "$W/ts1_m" -mindepth 1 -maxdepth 1 -type d -name 'PG_15_*')" ] ||
    fail "tablespace ts1 (created while the mirror was down) not synced to $W/ts1_m"

log "2. full through a listening agent (segsync://)"
TOK=$W/token
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TOK"
chmod 600 "$TOK"
[ "$IS_ROOT" = 1 ] && chown postgres: "$TOK"
AP=$(free_port)
$AS "$SS" serve --listen="127.0.0.1:$AP" --token-file="$TOK" "$P" 2>"$W/agent.log" &
APID=$!
track_pid "$APID"
_end=$(( $(date +%s) + 20 ))
until [ -n "$(ss -Hltn "sport = :$AP" 2>/dev/null)" ]; do
    kill -0 "$APID" 2>/dev/null || { cat "$W/agent.log"; fail "serve --listen did not start"; }
    [ "$(date +%s)" -lt "$_end" ] || fail "serve --listen not listening after 20 s"
    sleep 0.2
done
PGBENCH_TX=100 primary_writes "$PP" 2
# shellcheck disable=SC2046
run_ss full full --json --source-server="$(conninfo "$PP")" --slot=m1 -R $(ts_opts m) \
    --token-file="$TOK" "segsync://127.0.0.1:$AP/" "$M"
expect_rc full 0
[ "$(num_field "$W/full.out" bytes_on_wire)" -gt 0 ] || fail "full: nothing on the wire"
kill "$APID" 2>/dev/null; wait "$APID" 2>/dev/null || true
untrack_pid "$APID"
start_mirror_check "$P" "$PP" "$M" "$MP"

# rewound_check PRIMARY_DIR PRIMARY_PORT DIR PORT: start_mirror_check
# without its tablespace assertion (which assumes DIR is the mirror); the
# callers check the links themselves.
rewound_check() {
    log "rewound $3 starts on port $4: streaming, tables, amcheck, checksums"
    pg_start "$3" "$4" || fail "rewound server $3 did not start"
    wait_streaming "$2" "$4"
    compare_tables "$2" "$4"
    amcheck "$4"
    pg_stop "$3"
    checksums_check "$3"
}

# ts_opts_rev TAG: -T options from the mirror's locations back to the
# primary's (a rewind of the old primary from the promoted mirror).
ts_opts_rev() { for _t in $_TS; do printf -- '-T %s_%s=%s ' "$_t" "$1" "$_t"; done; }

# diverge OLD_PORT NEW_PORT OLD_DIR TAG: NEW is promoted, both write, OLD is
# stopped. No new tablespace: on one host the new primary's would have the
# same location for both servers.
diverge() {
    psql_at "$2" postgres "SELECT pg_promote(true, 60)" >/dev/null
    psql_at "$2" postgres "CHECKPOINT" >/dev/null
    pgbench_run "$1" -n -c 2 -t 100 postgres >"$W/pgb.old.$4.log" 2>&1 || fail "pgbench on the old primary"
    psql_file "$1" postgres <<EOS
CREATE TABLE old_only_$4 AS SELECT g AS id FROM generate_series(1, 20000) g;
UPDATE grow SET v = 'old side $4' WHERE id % 7 = 0;
TRUNCATE new_2;
EOS
    pgbench_run "$2" -n -c 2 -t 100 postgres >"$W/pgb.new.$4.log" 2>&1 || fail "pgbench on the new primary"
    psql_file "$2" postgres <<EOS
CREATE TABLE new_side_$4 AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 30000) g;
UPDATE grow SET v = 'new side $4' WHERE id % 11 = 0;
DELETE FROM vf WHERE id % 7 = 0;
VACUUM FULL vf;
CREATE DATABASE dbnew_$4;
EOS
    pg_stop "$3"
}

log "3. failover: $M promoted; $P rewound with incremental through libpq (no SOURCE)"
pg_start "$M" "$MP" || fail "mirror did not start"
wait_streaming "$PP" "$MP"
diverge "$PP" "$MP" "$P" a
# shellcheck disable=SC2046
run_ss inc1 incremental --json -R --slot=p1 $(ts_opts_rev m) --source-server="$(conninfo "$MP")" "$P"
expect_rc inc1 0
cat "$W/inc1.out"
[ "$(json_field "$W/inc1.out" outcome)" = rewound ] || fail "incremental through libpq did not rewind"
itotal=$(num_field "$W/inc1.out" bytes_total)
isent=$(num_field "$W/inc1.out" bytes_transferred)
[ "$(num_field "$W/inc1.out" bytes_on_wire)" -gt 0 ] || fail "libpq: bytes_on_wire is 0"
[ "$isent" -lt "$itotal" ] || fail "incremental through libpq sent every byte ($isent of $itotal)"
# the old primary's tablespace links keep pointing at its own locations
# shellcheck disable=SC2046
assert_tblspc_separate "$P" $(ts_mirror_dirs m)
rewound_check "$M" "$MP" "$P" "$PP"

log "4. failover back: $P promoted; $M rewound with incremental through the agent (HOST:DIR)"
pg_start "$P" "$PP" || fail "rewound server did not start"
wait_streaming "$MP" "$PP"
diverge "$MP" "$PP" "$M" b
# shellcheck disable=SC2046,SC2086
run_ss inc2 incremental --json -R $(ts_opts m) --source-server="$(conninfo "$PP")" \
    $AG "localhost:$P" "$M"
expect_rc inc2 0
cat "$W/inc2.out"
[ "$(json_field "$W/inc2.out" outcome)" = rewound ] || fail "incremental through the agent did not rewind"
[ "$(num_field "$W/inc2.out" bytes_on_wire)" -gt 0 ] || fail "agent: bytes_on_wire is 0"
[ "$(num_field "$W/inc2.out" bytes_transferred)" -lt "$(num_field "$W/inc2.out" bytes_total)" ] ||
    fail "incremental through the agent sent every byte"
start_mirror_check "$P" "$PP" "$M" "$MP"
finish
