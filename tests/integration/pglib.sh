# pglib.sh — helpers for the PostgreSQL-mode integration tests (POSIX sh,
# sourced by tests/integration/t_pg_*.sh).
#
# Real PostgreSQL 15 clusters on unix sockets in a private temp dir. The
# servers refuse to run as root, so when the tests run as root (CI) every
# server, client and the segsync runs against their directories go through
# `runuser -u postgres` ($AS); as another user they run directly.
#
# Sets: SS (segsync), PGBIN, AS, W (private temp dir, owned by the cluster
# user, removed on exit), SOCK (socket directory), RC (exit code of the last
# run_ss*). Every server started with pg_start is stopped (immediate) on exit,
# every background pid registered with track_pid is killed.
set -eu

: "${SEGSYNC_BUILD:?SEGSYNC_BUILD must name the build directory}"
SS=$SEGSYNC_BUILD/segsync
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
SS_TIMEOUT=${SS_TIMEOUT:-300}
WAIT_S=${WAIT_S:-120}          # bound of every wait loop, in seconds
export LC_ALL=C PGCONNECT_TIMEOUT=10
unset PGHOST PGPORT PGDATABASE PGUSER PGSERVICE PGPASSFILE 2>/dev/null || true
RC=0

log() { echo "== $(date +%H:%M:%S) $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# check_fail MSG: a failed check that must not stop the remaining ones (the
# test still fails at finish).
_FAILS=0
check_fail() { echo "FAIL: $*" >&2; _FAILS=$((_FAILS + 1)); }
finish() {
    [ "$_FAILS" = 0 ] || { echo "$_FAILS check(s) failed (see FAIL lines above)" >&2; exit 1; }
    exit 0
}
skip() { echo "SKIP: $*"; exit 77; }

[ -x "$SS" ] || fail "$SS is missing (build first)"
for _b in initdb pg_ctl postgres psql pgbench pg_basebackup pg_checksums pg_amcheck; do
    [ -x "$PGBIN/$_b" ] || skip "no PostgreSQL 15 $_b in $PGBIN"
done
[ -f "$("$PGBIN/pg_config" --sharedir 2>/dev/null || echo /usr/share/postgresql/15)/extension/amcheck.control" ] ||
    skip "amcheck extension not installed"

IS_ROOT=0
if [ "$(id -u)" = 0 ]; then
    IS_ROOT=1
    id postgres >/dev/null 2>&1 || skip "running as root and there is no postgres user"
    PGUSER_OS=postgres
    AS="runuser -u postgres --"
else
    PGUSER_OS=$(id -un)
    AS=""
fi

W=$(mktemp -d /tmp/segsync-pg.XXXXXX)
chmod 755 "$W"
[ "$IS_ROOT" = 1 ] && chown postgres: "$W"
SOCK=$W/sock
mkdir "$SOCK"
[ "$IS_ROOT" = 1 ] && chown postgres: "$SOCK"

_RUNNING=""     # data directories of servers started here
_BGPIDS=""
_PORTS=""

_pg_cleanup() {
    _rc=$?
    set +e
    for _p in $_BGPIDS; do kill -9 "$_p" 2>/dev/null; wait "$_p" 2>/dev/null; done
    for _d in $_RUNNING; do
        $AS "$PGBIN/pg_ctl" -D "$_d" -m immediate -w -t 30 stop >/dev/null 2>&1
    done
    if [ "$_rc" != 0 ] && [ "$_rc" != 77 ]; then
        for _l in "$W"/server.*.log; do
            [ -f "$_l" ] || continue
            echo "--- last lines of $_l:"; tail -n 15 "$_l"
        done
    fi
    rm -rf "$W"
    case $_rc in
        0) echo "PASS";;
        77) ;;
        *) echo "FAILED (rc=$_rc)";;
    esac
    exit "$_rc"
}
trap _pg_cleanup EXIT
trap 'exit 130' INT TERM HUP

track_pid() { _BGPIDS="$_BGPIDS $1"; }
untrack_pid() { _BGPIDS=$(echo "$_BGPIDS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ' || true); }

# mkdir_pg DIR...: directories owned by the cluster user.
mkdir_pg() {
    mkdir -p "$@"
    [ "$IS_ROOT" = 0 ] || chown postgres: "$@"
}

# free_port: a TCP port nobody listens on and not handed out before here.
free_port() {
    _i=0
    while [ $_i -lt 200 ]; do
        _i=$((_i + 1))
        _p=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000 ))
        case " $_PORTS " in *" $_p "*) continue;; esac
        if command -v ss >/dev/null 2>&1 && [ -n "$(ss -Hltn "sport = :$_p" 2>/dev/null)" ]; then
            continue
        fi
        [ -e "/tmp/.s.PGSQL.$_p" ] && continue
        _PORTS="$_PORTS $_p"
        echo "$_p"
        return 0
    done
    fail "no free port found"
}

# ---- servers -----------------------------------------------------------------

# make_primary DIR: initdb with data checksums, set up for streaming.
make_primary() {
    $AS "$PGBIN/initdb" -D "$1" -A trust -U postgres --data-checksums --no-sync \
        >"$W/initdb.$(basename "$1").log" 2>&1 || fail "initdb $1"
    $AS sh -c "cat >>'$1/postgresql.conf'" <<'EOF'
# segsync integration tests
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = 512MB
hot_standby = on
shared_buffers = 32MB
max_connections = 40
fsync = off
full_page_writes = on
checkpoint_timeout = 30min
max_wal_size = 1GB
log_min_messages = warning
log_line_prefix = '%m [%p] '
EOF
}

# pg_start DIR PORT: start a server (its port and socket on the command line,
# so a postgresql.conf copied from the primary does not matter).
pg_start() {
    if ! $AS "$PGBIN/pg_ctl" -D "$1" -l "$W/server.$(basename "$1").log" -w -t "$WAIT_S" \
            -o "-p $2 -k $SOCK -c listen_addresses=''" start >"$W/pg_ctl.out" 2>&1; then
        cat "$W/pg_ctl.out"
        return 1
    fi
    case " $_RUNNING " in *" $1 "*) ;; *) _RUNNING="$_RUNNING $1";; esac
}

# pg_stop DIR [MODE]: stop a server (fast by default).
pg_stop() {
    $AS "$PGBIN/pg_ctl" -D "$1" -m "${2:-fast}" -w -t "$WAIT_S" stop >/dev/null 2>&1 ||
        fail "pg_ctl stop $1"
    _RUNNING=$(echo "$_RUNNING" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ' || true)
}

# psql_at PORT DB SQL: one query, unaligned tuples only, errors fatal.
psql_at() {
    $AS "$PGBIN/psql" -h "$SOCK" -p "$1" -U postgres -d "$2" -X -qAt -v ON_ERROR_STOP=1 -c "$3"
}

# psql_file PORT DB < SCRIPT
psql_file() {
    $AS "$PGBIN/psql" -h "$SOCK" -p "$1" -U postgres -d "$2" -X -qAt -v ON_ERROR_STOP=1 -f -
}

pgbench_run() {
    _port=$1; shift
    $AS "$PGBIN/pgbench" -h "$SOCK" -p "$_port" -U postgres "$@"
}

conninfo() { echo "host=$SOCK port=$1 user=postgres dbname=postgres"; }

# setup_primary DIR PORT SCALE: primary started, amcheck in template1 and
# postgres (new databases inherit it), pgbench tables loaded.
setup_primary() {
    make_primary "$1"
    pg_start "$1" "$2" || fail "primary did not start"
    psql_at "$2" template1 "CREATE EXTENSION amcheck" >/dev/null
    psql_at "$2" postgres "CREATE EXTENSION amcheck" >/dev/null
    pgbench_run "$2" -i -q -s "$3" postgres >"$W/pgbench-init.log" 2>&1 || {
        cat "$W/pgbench-init.log"; fail "pgbench -i"; }
}

# make_mirror PRIMARY_PORT DIR [pg_basebackup options]: a streaming copy (-R).
make_mirror() {
    _pp=$1; _md=$2; shift 2
    $AS "$PGBIN/pg_basebackup" -h "$SOCK" -p "$_pp" -U postgres -D "$_md" -R -X stream \
        -c fast --no-sync "$@" >"$W/basebackup.log" 2>&1 || {
        cat "$W/basebackup.log"; fail "pg_basebackup"; }
}

# wait_streaming PRIMARY_PORT MIRROR_PORT: the mirror is a standby and the
# primary has a walsender in state streaming.
wait_streaming() {
    _end=$(( $(date +%s) + WAIT_S ))
    while :; do
        _s=$(psql_at "$1" postgres "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" 2>/dev/null || echo 0)
        _r=$(psql_at "$2" postgres "SELECT pg_is_in_recovery()" 2>/dev/null || echo "")
        [ "$_s" -ge 1 ] 2>/dev/null && [ "$_r" = t ] && return 0
        [ "$(date +%s)" -lt "$_end" ] || {
            psql_at "$1" postgres "SELECT * FROM pg_stat_replication" 2>&1 || true
            fail "mirror on port $2 not streaming from primary on port $1 after ${WAIT_S}s (in recovery: '$_r')"; }
        sleep 0.5
    done
}

# wait_caught_up PRIMARY_PORT MIRROR_PORT: the mirror replayed everything the
# primary had written when this was called.
wait_caught_up() {
    _lsn=$(psql_at "$1" postgres "SELECT pg_current_wal_lsn()")
    _end=$(( $(date +%s) + WAIT_S ))
    while :; do
        _ok=$(psql_at "$2" postgres "SELECT pg_last_wal_replay_lsn() >= '$_lsn'::pg_lsn" 2>/dev/null || echo f)
        [ "$_ok" = t ] && return 0
        [ "$(date +%s)" -lt "$_end" ] ||
            fail "mirror on port $2 did not replay up to $_lsn in ${WAIT_S}s (at $(psql_at "$2" postgres "SELECT pg_last_wal_replay_lsn()" 2>&1))"
        sleep 0.3
    done
}

# table_sums PORT OUT: for every database that allows connections and every
# user table (catalog-driven), "db schema.table rows md5" sorted into OUT.
table_sums() {
    : >"$2.tmp"
    for _db in $(psql_at "$1" postgres "SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1"); do
        psql_file "$1" "$_db" >>"$2.tmp" <<EOF
SELECT format('SELECT %L || '' '' || %L || '' '' || count(*) || '' '' || coalesce(md5(string_agg(t::text, '','' ORDER BY t::text)), ''-'') FROM %s t',
              current_database(), n.nspname || '.' || c.relname, c.oid::regclass)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND c.relpersistence = 'p'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY 1
\gexec
EOF
    done
    sort "$2.tmp" >"$2"
    rm -f "$2.tmp"
}

# compare_tables PRIMARY_PORT MIRROR_PORT: after catch-up, every table equal.
compare_tables() {
    wait_caught_up "$1" "$2"
    # both sides at once: this is the slowest check
    table_sums "$1" "$W/sums.primary" &
    _tp=$!
    track_pid "$_tp"
    table_sums "$2" "$W/sums.mirror"
    wait "$_tp" || fail "table checksums on the primary (port $1)"
    untrack_pid "$_tp"
    [ -s "$W/sums.primary" ] || fail "no tables listed on the primary"
    if ! cmp -s "$W/sums.primary" "$W/sums.mirror"; then
        diff "$W/sums.primary" "$W/sums.mirror" | head -n 20
        fail "table contents differ between primary and mirror"
    fi
    echo "tables equal: $(wc -l <"$W/sums.primary") tables in $(cut -d' ' -f1 "$W/sums.primary" | sort -u | wc -l) databases"
}

# amcheck PORT: pg_amcheck on every database (heap and btree; works on a hot
# standby: it only reads).
amcheck() {
    if ! $AS "$PGBIN/pg_amcheck" -h "$SOCK" -p "$1" -U postgres --all --heapallindexed \
            >"$W/amcheck.out" 2>&1; then
        head -n 30 "$W/amcheck.out"
        fail "pg_amcheck --all on port $1 found problems"
    fi
    echo "pg_amcheck --all on port $1: ok"
}

# checksums_check DIR: pg_checksums --check on a cleanly stopped cluster.
checksums_check() {
    if ! $AS "$PGBIN/pg_checksums" --check -D "$1" >"$W/checksums.out" 2>&1; then
        cat "$W/checksums.out"
        fail "pg_checksums --check $1"
    fi
    echo "pg_checksums --check $1: $(grep -i 'bad checksums' "$W/checksums.out" | tr -s ' ')"
}

# no_backup_in_progress PORT: no base backup bracket is left open on the
# source. PostgreSQL 15 has no view of non-exclusive backups and allows
# several at once, so: no other session whose last statement started a
# backup (segsync's session shows "pg_backup_start" until it stops the
# backup; the wait lets a backend notice its client is gone), no walsender
# base backup, and a new bracket can still be taken and stopped.
no_backup_in_progress() {
    _end=$(( $(date +%s) + 30 ))
    while :; do
        _n=$(psql_at "$1" postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND (query ILIKE '%pg_backup_start%' OR query ILIKE '%pg_start_backup%')")
        [ "$_n" = 0 ] && break
        [ "$(date +%s)" -lt "$_end" ] || {
            psql_at "$1" postgres "SELECT pid, state, query FROM pg_stat_activity WHERE backend_type = 'client backend'"
            fail "a session on port $1 still has a backup started (30 s after segsync ended)"; }
        sleep 0.2
    done
    _n=$(psql_at "$1" postgres "SELECT count(*) FROM pg_stat_progress_basebackup")
    [ "$_n" = 0 ] || fail "pg_stat_progress_basebackup is not empty on port $1"
    psql_file "$1" postgres >"$W/bracket.out" 2>&1 <<'EOF' || { cat "$W/bracket.out"; fail "a new backup bracket cannot be taken on port $1"; }
SELECT 1 FROM pg_backup_start('segsync-test-probe', true);
SELECT 1 FROM pg_backup_stop(false);
EOF
}


# ---- writes on the primary ----------------------------------------------------

# Tablespaces created by primary_writes / add_tablespace: their locations.
_TS=""

# add_tablespace PORT NAME: CREATE TABLESPACE NAME in $W/NAME with a table in it.
add_tablespace() {
    mkdir_pg "$W/$2"
    psql_file "$1" postgres <<EOF
CREATE TABLESPACE $2 LOCATION '$W/$2';
CREATE TABLE in_$2 TABLESPACE $2 AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g;
CREATE INDEX in_$2_id ON in_$2 (id) TABLESPACE $2;
EOF
    _TS="$_TS $W/$2"
}

# ts_pairs TAG: "OLD=NEW" for every tablespace, NEW = OLD_TAG (the mirror's
# own location on this host). ts_opts TAG: the same as -T options.
ts_pairs() { for _t in $_TS; do printf '%s=%s_%s ' "$_t" "$_t" "$1"; done; }
ts_opts() { for _t in $_TS; do printf -- '-T %s=%s_%s ' "$_t" "$_t" "$1"; done; }
ts_mirror_dirs() { for _t in $_TS; do printf '%s_%s ' "$_t" "$1"; done; }

# base_objects PORT: the tables that the rounds of primary_writes change.
base_objects() {
    psql_file "$1" postgres <<'EOF'
CREATE TABLE grow (id int PRIMARY KEY, v text);
INSERT INTO grow SELECT g, md5(g::text) FROM generate_series(1, 10000) g;
CREATE TABLE vf AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 60000) g;
CREATE INDEX vf_id ON vf (id);
CREATE TABLE new_0 AS SELECT g AS id FROM generate_series(1, 5000) g;
EOF
}

# primary_writes PORT N: round N of changes: pgbench updates, inserts and
# updates, a new table (new_N), the previous round's table dropped, a VACUUM
# FULL after deletes, a new database dbN with data, a new tablespace tsN.
primary_writes() {
    pgbench_run "$1" -n -c 2 -t "${PGBENCH_TX:-200}" postgres >"$W/pgbench.$2.log" 2>&1 || {
        cat "$W/pgbench.$2.log"; fail "pgbench round $2"; }
    psql_file "$1" postgres <<EOF
INSERT INTO grow SELECT g, md5(g::text) FROM generate_series($2 * 100000, $2 * 100000 + 20000) g;
UPDATE grow SET v = 'round $2' WHERE id % 89 = $2;
CREATE TABLE new_$2 AS SELECT g AS id, repeat(md5(g::text), 3) AS v FROM generate_series(1, 20000) g;
DROP TABLE new_$(($2 - 1));
DELETE FROM vf WHERE id % 5 = $2 % 5;
VACUUM FULL vf;
CREATE DATABASE db$2;
EOF
    psql_file "$1" "db$2" <<'EOF'
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 10000) g;
EOF
    add_tablespace "$1" "ts$2"
}

# ---- segsync -----------------------------------------------------------------

# run_ss NAME ARGS...: segsync as the cluster user; stdout in $W/NAME.out,
# stderr in $W/NAME.err, exit code in RC. Never aborts the script.
run_ss() {
    _n=$1; shift
    echo "\$ segsync $*"
    # shellcheck disable=SC2086
    timeout "$SS_TIMEOUT" $AS "$SS" "$@" >"$W/$_n.out" 2>"$W/$_n.err" && RC=0 || RC=$?
    [ "$RC" = 124 ] && fail "segsync $* hung (killed after ${SS_TIMEOUT}s)"
    return 0
}

# run_ss_root NAME ARGS...: the same, as the user running the test (root in
# CI: segsync must then give files the target directory's owner).
run_ss_root() {
    _n=$1; shift
    echo "\$ ($(id -un)) segsync $*"
    timeout "$SS_TIMEOUT" "$SS" "$@" >"$W/$_n.out" 2>"$W/$_n.err" && RC=0 || RC=$?
    [ "$RC" = 124 ] && fail "segsync $* hung (killed after ${SS_TIMEOUT}s)"
    return 0
}

show() { echo "--- $1:"; sed -n '1,40p' "$1"; }

expect_rc() {
    for _w in $2; do [ "$RC" = "$_w" ] && return 0; done
    show "$W/$1.out"; show "$W/$1.err"
    fail "$1: exit code $RC, expected one of: $2"
}

# expect_rc_soft NAME "CODES" WHAT: like expect_rc, but a wrong code is a
# failed check that lets the test go on (for refusals whose exit code is
# wrong while the refusal itself is right).
expect_rc_soft() {
    for _w in $2; do [ "$RC" = "$_w" ] && return 0; done
    check_fail "segsync bug: $3: exit code $RC, expected $2 (refused before touching anything); stderr: $(tr '\n' ' ' <"$W/$1.err")"
}

# json_field FILE NAME: a top-level scalar of the JSON summary.
json_field() {
    tr -d '\n' <"$1" | sed -n "s/.*\"$2\"[[:space:]]*:[[:space:]]*\"\{0,1\}\([^,}\"]*\).*/\1/p"
}
num_field() {
    _v=$(json_field "$1" "$2")
    case $_v in
        ''|*[!0-9.]*) show "$1"; fail "JSON field $2 missing or not a number in $1";;
    esac
    echo "$_v"
}

# err_mentions ERRFILE SUBSTRING...: the error output names each (case-insensitive).
err_mentions() {
    _f=$1; shift
    for _s in "$@"; do
        grep -qiF -- "$_s" "$_f" || { show "$_f"; fail "error output does not mention '$_s'"; }
    done
    echo "  -> exit $RC: $(grep -m1 'error:' "$_f" || head -n1 "$_f")"
}

# owned_by_cluster_user DIR...: nothing below is owned by anyone else.
owned_by_cluster_user() {
    for _d in "$@"; do
        _bad=$(find "$_d" ! -user "$PGUSER_OS" -print 2>/dev/null | head -n 5)
        [ -z "$_bad" ] || fail "files not owned by $PGUSER_OS in $_d: $_bad"
    done
}

# tree_sum DIR: a hash of every entry's metadata and every file's content
# (equal before/after: the directory was not touched).
tree_sum() {
    {
        find "$1" -printf '%P|%y|%m|%s|%T@|%U:%G|%l\0' | sort -z
        (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
    } | sha256sum | cut -d' ' -f1
}

# tblspc_links DIR: "oid -> location" of every tablespace link, sorted.
tblspc_links() {
    for _l in "$1"/pg_tblspc/*; do
        [ -L "$_l" ] && echo "$(basename "$_l") -> $(readlink "$_l")"
    done | sort
}

# assert_tblspc_links MIRROR PRIMARY_LOC...: the mirror's links point to
# neither of the primary's locations.
assert_tblspc_separate() {
    _m=$1; shift
    tblspc_links "$_m" >"$W/links"
    for _loc in "$@"; do
        if awk -v l="$_loc" '$3 == l { f = 1 } END { exit !f }' "$W/links"; then
            cat "$W/links"
            fail "mirror $_m has a tablespace link to the primary's location $_loc"
        fi
    done
}

# check_tablespace_map MIRROR OLD=NEW...: a tablespace_map in the recovered
# mirror (read by PostgreSQL at startup, which then recreates every
# pg_tblspc link from it) must name the mapped locations, never the
# primary's. A wrong one is a failed check; it is then rewritten to the
# mapped locations so that starting the mirror cannot write into the
# primary's tablespaces and the remaining checks stay meaningful.
check_tablespace_map() {
    _m=$1; shift
    [ -f "$_m/tablespace_map" ] || return 0
    _wrong=""
    _orig=$(tr '\n' ';' <"$_m/tablespace_map")
    for _map in "$@"; do
        _old=${_map%%=*}; _new=${_map#*=}
        if awk -v l="$_old" '{ sub(/^[0-9]+ /, "") } $0 == l { f = 1 } END { exit !f }' "$_m/tablespace_map"; then
            _wrong="$_wrong $_old (-T to $_new)"
            $AS sed -i "s|^\([0-9]*\) $_old\$|\1 $_new|" "$_m/tablespace_map"
        fi
    done
    [ -z "$_wrong" ] ||
        check_fail "segsync bug: $_m/tablespace_map ($_orig) names the primary's location(s)$_wrong; at startup PostgreSQL relinks pg_tblspc/<oid> to them (the mirror would share the primary's tablespace files); rewritten by the test to go on"
}

# start_mirror_check PRIMARY_DIR PRIMARY_PORT MIRROR_DIR MIRROR_PORT: start the
# recovered mirror, check it streams, tables equal, amcheck; then stop it
# cleanly and run pg_checksums.
start_mirror_check() {
    log "mirror $3 starts on port $4: streaming, tables, amcheck, checksums"
    pg_start "$3" "$4" || fail "recovered mirror $3 did not start"
    wait_streaming "$2" "$4"
    log "mirror $3 streams from the primary"
    compare_tables "$2" "$4"
    amcheck "$4"
    pg_stop "$3"
    checksums_check "$3"
    log "mirror checked"
    assert_tblspc_separate "$3" $_TS
}
