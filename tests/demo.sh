#!/bin/bash
# make demo: install, build, start a throwaway primary and streaming mirror,
# break the mirror (stop it while the primary keeps changing), recover it
# with segsync differential, start it, and show it streaming with equal rows,
# next to what the old recipe (rsync -a -c --delete in a backup bracket) costs.
set -euo pipefail
cd "$(dirname "$0")/.."
sh tests/deps.sh
make -s -j2 >/dev/null
SEGSYNC=$PWD/build/segsync
BIN=/usr/lib/postgresql/15/bin
SCALE=${DEMO_SCALE:-50}
DIR=$(mktemp -d /tmp/segsync-demo.XXXXXX)
chmod 755 "$DIR"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$DIR"
P=$DIR/primary M=$DIR/mirror PP=54701 MP=54702
cleanup() {
    for d in "$M" "$P" "$DIR/rsync-mirror"; do
        [ -f "$d/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1 || true
    done
    rm -rf "$DIR"
}
trap cleanup EXIT
psqlp() { as_pg "$BIN/psql" -h "$DIR" -p "$1" -U postgres -Atq -c "$2" postgres; }
step() { printf '\n== %s\n' "$*"; }

step "primary: initdb with data checksums, pgbench -i -s $SCALE"
as_pg "$BIN/initdb" -D "$P" --data-checksums -U postgres -A trust >/dev/null
cat >> "$P/postgresql.conf" <<EOC
listen_addresses = ''
unix_socket_directories = '$DIR'
wal_level = replica
max_wal_senders = 10
wal_keep_size = 1GB
EOC
as_pg "$BIN/pg_ctl" -D "$P" -o "-p $PP" -l "$DIR/primary.log" -w start >/dev/null
as_pg "$BIN/pgbench" -h "$DIR" -p $PP -U postgres -i -q -s "$SCALE" postgres 2>&1 | tail -1
step "mirror: pg_basebackup -R, started as a streaming standby"
as_pg "$BIN/pg_basebackup" -h "$DIR" -p $PP -U postgres -D "$M" -R -c fast
as_pg "$BIN/pg_ctl" -D "$M" -o "-p $MP" -l "$DIR/mirror.log" -w start >/dev/null
sleep 1
psqlp $PP "select 'replication: ' || application_name || ' ' || state from pg_stat_replication"

step "break it: stop the mirror, keep writing on the primary"
as_pg "$BIN/pg_ctl" -D "$M" -m fast -w stop >/dev/null
as_pg "$BIN/pgbench" -h "$DIR" -p $PP -U postgres -n -T 10 -c 2 postgres 2>&1 | grep -E 'transactions actually processed'
psqlp $PP "create table demo_new as select g, md5(g::text) from generate_series(1, 200000) g"
as_pg cp -a "$M" "$DIR/rsync-mirror"     # the same broken mirror, for the old recipe

step "recover: segsync differential --source-server ... --slot mirror -R"
sync
as_pg "$SEGSYNC" differential -P --json --source-server="host=$DIR port=$PP user=postgres" \
    --slot=mirror -R "$P" "$M" > "$DIR/segsync.json"
cat "$DIR/segsync.json"
as_pg "$BIN/pg_ctl" -D "$M" -o "-p $MP" -l "$DIR/mirror.log" -w start >/dev/null
for i in $(seq 1 60); do
    [ "$(psqlp $PP "select count(*) from pg_stat_replication where state = 'streaming' and replay_lsn >= pg_current_wal_lsn()")" = 1 ] && break
    sleep 0.5
done
psqlp $PP "select 'replication: ' || application_name || ' ' || state || ' replay ' || replay_lsn || ' primary ' || pg_current_wal_lsn() from pg_stat_replication"
q="select count(*) || ' rows, sum ' || sum(abalance) from pgbench_accounts"
echo "primary: $(psqlp $PP "$q"); demo_new $(psqlp $PP "select count(*) from demo_new")"
echo "mirror:  $(psqlp $MP "$q"); demo_new $(psqlp $MP "select count(*) from demo_new")"

step "the old recipe on the same broken mirror: backup bracket + rsync -a -c --delete"
sync
start=$(date +%s.%N)
rs=$(as_pg bash -c "
  $BIN/psql -h '$DIR' -p $PP -U postgres -Atq postgres <<SQL
select pg_backup_start('rsync', true);
\\! rsync -a -c --delete --stats --exclude=pg_wal/* --exclude=postmaster.pid --exclude=postmaster.opts '$P/' '$DIR/rsync-mirror/' | grep -E 'Literal data|Total file size' >&2
\\! rsync -a -c --stats '$P/pg_wal/' '$DIR/rsync-mirror/pg_wal/' | grep -E 'Literal data' >&2
select 1 from pg_backup_stop(false);
SQL" 2>&1 >/dev/null)
end=$(date +%s.%N)
echo "$rs"
seg_s=$(sed -n 's/.*"elapsed_s":\([0-9.]*\).*/\1/p' "$DIR/segsync.json")
seg_b=$(sed -n 's/.*"bytes_transferred":\([0-9]*\).*/\1/p' "$DIR/segsync.json")
printf '\nsegsync differential: %6.2f s, %s bytes of file data transferred\n' "$seg_s" "$seg_b"
printf 'rsync -a -c recipe:   %6.2f s (see Literal data above)\n' "$(awk -v a="$start" -v b="$end" 'BEGIN{print b-a}')"
