#!/usr/bin/env bash
# bench/bench_net.sh — segsync between two hosts (issue 3), against rsync
# over the same ssh. Not a test: it measures, it never asserts a speed.
#
# Two network namespaces ("hosts") are created here and removed on exit:
# SRC-NS runs a private sshd (keys made in a temp dir, listening only on
# its veth address), DST-NS runs the client (segsync or rsync) that pulls
# from SRC-NS through ssh. The veth pair is shaped with tc tbf on both ends
# to each rate in RATES. Both "hosts" share this machine's disk, page cache
# and CPUs: the CPU that one side burns is not available to the other.
#
# Settings (environment variables; defaults in brackets):
#   SIZE        size of the source tree (gendata gen), K/M/G suffix    [1G]
#   RUNS        runs per link rate; medians are over runs              [3]
#   RATES       tbf rates, in order                       ["1gbit 100mbit"]
#   CACHE       warm: sync, then read every tree the command reads once
#               cold: sync; echo 3 > /proc/sys/vm/drop_caches          [warm]
#   CONTENDERS  per run, in this order
#       ["floor floor_big seg_diff rsync_c rsync_z seg_full rsync_wf rsync_zf"]
#         floor     find SRC DST -type f | xargs -P JOBS cat >/dev/null (local)
#         floor_big gendata read --jobs JOBS SRC DST (4 MiB reads; local)
#         seg_diff  segsync differential --raw H:SRC DST    (DST = SRC + PCT%)
#         rsync_c   rsync -a -c --delete  H:SRC/ DST/       (DST = SRC + PCT%)
#         rsync_z   rsync -a --delete -z  H:SRC/ DST/       (DST = SRC + PCT%)
#         rsync_d   rsync -a --delete     H:SRC/ DST/       (DST = SRC + PCT%)
#         seg_local segsync differential --raw SRC DST, both local (no agent,
#                   no ssh): what the engine alone costs, for the diagnosis
#         login     $RSH H true: what one ssh session costs (no data)
#         seg_full  segsync full --raw H:SRC EMPTY
#         rsync_wf  rsync -a --whole-file H:SRC/ EMPTY/
#         rsync_zf  rsync -a -z H:SRC/ EMPTY/
#   PCT         percent of 8 KiB blocks changed in the target           [1]
#   SEED        tree seed; run r mutates with seed SEED*1000+r          [1]
#   JOBS        the floors' parallelism (segsync keeps its -j default)  [nproc]
#   SEG_OPTS    extra segsync options (e.g. "--compress=zstd:1 -j 4")  [""]
#   SEGSYNC     segsync binary (copied into OUT before use)  [build/segsync]
#   GENDATA     generator; built from tests/tools/gendata.c if unset
#   BENCH_DIR   where the trees live                      [/work/bench-net]
#   OUT         results directory        [BENCH_DIR/results/<time>-<SIZE>]
#   KEEP        1: keep the trees (and reuse SRC next time)            [0]
#   VERIFY      1: check every sync result (segsync verify --raw, cmp of
#               the changed files, rsync -n -i listing nothing)        [1]
#   TIMEOUT     seconds any one timed command may take                 [1200]
#   PLAIN_LOGIN 1: the source's sshd sees an empty ~/.bashrc (see below)  [1]
#   NETPFX      first three octets of the two veth addresses (.1 = source,
#               .2 = target; they exist only inside the two namespaces)
#                                                             [10.201.3]
#
# Per timed command: elapsed seconds (/usr/bin/time), bytes on the wire
# (rx and tx counters of the target's veth, read inside the target
# namespace before and after: Ethernet frames, so TCP/IP and ssh overhead
# included), CPU on each side (user+sys seconds from two cpuacct cgroups:
# one holding the sshd started here, and so every session it forks —
# sshd, the remote shell, segsync serve / rsync --server; one holding the
# client — segsync or rsync and its ssh). Per run: the zstd -3 size of the
# blocks that differ (bench/changed_blocks.c | zstd -3 -c | wc -c).
#
# Output: OUT/results.tsv, OUT/changed.tsv, OUT/summary.md (medians, ratios
# against issue 3's targets), OUT/env.txt, OUT/log.txt, each command's
# stdout/stderr. Needs root (netns, tc, cgroups, sshd).
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

SIZE=${SIZE:-1G}
RUNS=${RUNS:-3}
RATES=${RATES:-1gbit 100mbit}
CACHE=${CACHE:-warm}
CONTENDERS=${CONTENDERS:-floor floor_big seg_diff rsync_c rsync_z seg_full rsync_wf rsync_zf}
PCT=${PCT:-1}
SEED=${SEED:-1}
JOBS=${JOBS:-$(nproc)}
SEG_OPTS=${SEG_OPTS:-}
SEGSYNC=${SEGSYNC:-$repo/build/segsync}
BENCH_DIR=${BENCH_DIR:-/work/bench-net}
KEEP=${KEEP:-0}
VERIFY=${VERIFY:-1}
TIMEOUT=${TIMEOUT:-1200}
NETPFX=${NETPFX:-10.201.3}
PLAIN_LOGIN=${PLAIN_LOGIN:-1}

die() { echo "bench_net: error: $*" >&2; exit 2; }

# ---------------------------------------------------------------- summary
# summarize TREE_BYTES RESULTS_TSV CHANGED_TSV
summarize() {
    awk -F'\t' -v tree="$1" -v chg="$3" '
function sortv(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t } }
function med(key, col,   n, i, a) {
    n = cnt[key]; if (!n) return ""
    for (i = 1; i <= n; i++) a[i] = v[key, i, col]
    sortv(a, n)
    return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
function mb(x) { return x == "" ? "-" : sprintf("%.1f", x / 1e6) }
function sec(x) { return x == "" ? "-" : sprintf("%.2f", x) }
# paired ratio: median over runs of num/den within one run
function paired(l, a, b,   r, n, p, i) {
    n = 0
    for (r = 1; r <= maxrun; r++)
        if (((l, r, a) in tm) && ((l, r, b) in tm) && tm[l, r, b] > 0) p[++n] = tm[l, r, a] / tm[l, r, b]
    if (!n) return "-"
    sortv(p, n)
    return sprintf("%.2fx", (n % 2) ? p[(n+1)/2] : (p[n/2] + p[n/2+1]) / 2)
}
function verdict(ok) { return ok ? "**met**" : "**not met**" }
BEGIN {
    while ((getline line < chg) > 0) {
        split(line, f, "\t"); if (f[1] == "link") continue
        zn[f[1]]++; zb[f[1], zn[f[1]]] = f[6]; cb[f[1], zn[f[1]]] = f[5]
    }
}
NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
{
    l = $col["link"]; c = $col["contender"]; r = $col["run"]
    k = l SUBSEP c
    if (!(l in seenl)) { lorder[++nl] = l; seenl[l] = 1 }
    if (!(k in cnt)) { corder[l, ++nc[l]] = c }
    n = ++cnt[k]
    v[k, n, "t"] = $col["elapsed_s"]
    v[k, n, "w"] = $col["wire_rx"] + $col["wire_tx"]
    v[k, n, "rx"] = $col["wire_rx"]; v[k, n, "tx"] = $col["wire_tx"]
    v[k, n, "ct"] = $col["cpu_tgt_s"]; v[k, n, "cs"] = $col["cpu_src_s"]
    tm[l, r, c] = $col["elapsed_s"]; if (r > maxrun) maxrun = r
    runs[k] = runs[k] (runs[k] == "" ? "" : " ") $col["elapsed_s"]
    if ($col["exit"] != 0) bad[k]++
    if ($col["verified"] == "FAIL") vf[k]++
    if ($col["verified"] == "rootmeta") rm_[k]++
}
END {
    d["floor"] = "read both trees once, `xargs -P` cat (local)"
    d["floor_big"] = "read both trees once, 4 MiB reads (`gendata read`, local)"
    d["seg_diff"] = "`segsync differential --raw`"
    d["rsync_c"] = "`rsync -a -c --delete`"
    d["rsync_z"] = "`rsync -a --delete -z`"
    d["rsync_d"] = "`rsync -a --delete`"
    d["seg_local"] = "`segsync differential --raw`, both trees local (no agent, no ssh)"
    d["login"] = "one ssh session, no data (`ssh H true`)"
    d["seg_full"] = "`segsync full --raw` (empty target)"
    d["rsync_wf"] = "`rsync -a --whole-file` (empty target)"
    d["rsync_zf"] = "`rsync -a -z` (empty target)"
    printf "Tree: %.0f bytes. Times in s, bytes in MB (10^6) counted on the target veth (rx = source to target, tx = target to source), CPU = user+sys s per side (local contenders: the command'"'"'s own CPU, in the target column).\n\n", tree
    for (li = 1; li <= nl; li++) {
        l = lorder[li]
        printf "#### %s\n\n", l
        printf "| contender | median s | runs (s) | wire MB (rx+tx) | rx MB | tx MB | CPU target s | CPU source s | notes |\n"
        printf "|---|---:|---|---:|---:|---:|---:|---:|---|\n"
        for (ci = 1; ci <= nc[l]; ci++) {
            c = corder[l, ci]; k = l SUBSEP c
            m[l, c] = med(k, "t"); w[l, c] = med(k, "w")
            note = ""
            if (bad[k]) note = note bad[k] " non-zero exit; "
            if (vf[k]) note = note vf[k] " VERIFY FAIL; "
            if (rm_[k]) note = note rm_[k] "x top dir mode/mtime not copied; "
            floor_ = (c ~ /^floor/ || c == "seg_local")
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", (c in d) ? d[c] : c, sec(m[l, c]), runs[k],
                floor_ ? "-" : mb(w[l, c]), floor_ ? "-" : mb(med(k, "rx")), floor_ ? "-" : mb(med(k, "tx")),
                sec(med(k, "ct")), floor_ ? "-" : sec(med(k, "cs")), note
        }
        # the changed blocks and the wire budget
        n = zn[l]
        for (i = 1; i <= n; i++) { za[i] = zb[l, i]; ca[i] = cb[l, i] }
        sortv(za, n); sortv(ca, n)
        zmed = n ? ((n % 2) ? za[(n+1)/2] : (za[n/2] + za[n/2+1]) / 2) : 0
        cmed = n ? ((n % 2) ? ca[(n+1)/2] : (ca[n/2] + ca[n/2+1]) / 2) : 0
        budget = 1.2 * zmed + 0.003 * tree
        printf "\nChanged blocks: %s MB raw, %s MB after `zstd -3` (median over runs); wire budget 1.2 x %s + 0.3%% x %s = %s MB.\n\n", mb(cmed), mb(zmed), mb(zmed), mb(tree), mb(budget)
        printf "| %s: target | measured (of medians) | paired | met? |\n|---|---:|---:|---|\n", l
        if (m[l, "seg_diff"] > 0 && m[l, "rsync_c"] > 0) {
            x = m[l, "rsync_c"] / m[l, "seg_diff"]
            printf "| differential >= 4x faster than `rsync -a -c --delete` | %.2fx | %s | %s |\n", x, paired(l, "rsync_c", "seg_diff"), verdict(x >= 4)
        }
        if (m[l, "seg_diff"] > 0 && m[l, "rsync_z"] > 0)
            printf "| (info) `rsync -a --delete -z` / differential | %.2fx | %s | |\n", m[l, "rsync_z"] / m[l, "seg_diff"], paired(l, "rsync_z", "seg_diff")
        # both floors, each on its own row: `cat` is what reading the trees
        # costs with a standard tool, gendata read the best this host does
        for (fi = 1; fi <= 2; fi++) {
            fl = fi == 1 ? "floor" : "floor_big"
            if (m[l, "seg_diff"] > 0 && m[l, fl] > 0) {
                x = m[l, "seg_diff"] / m[l, fl]
                printf "| differential <= 1.5x the time to read both trees once (%s) | %.2fx | %s | %s |\n", d[fl], x, paired(l, "seg_diff", fl), verdict(x <= 1.5)
            }
        }
        if (m[l, "seg_diff"] > 0 && n) {
            x = w[l, "seg_diff"]
            printf "| differential bytes on the wire <= %s MB | %s MB (%.2fx budget; %.2fx the zstd size) | | %s |\n", mb(budget), mb(x), x / budget, x / zmed, verdict(x <= budget)
        }
        if (m[l, "seg_full"] > 0 && m[l, "rsync_wf"] > 0) {
            x = m[l, "rsync_wf"] / m[l, "seg_full"]
            if (l ~ /100mbit/)
                printf "| full >= 2x faster than `rsync -a --whole-file` | %.2fx | %s | %s |\n", x, paired(l, "rsync_wf", "seg_full"), verdict(x >= 2)
            else
                printf "| full no slower than `rsync -a --whole-file` | %.2fx | %s | %s |\n", x, paired(l, "rsync_wf", "seg_full"), verdict(x >= 1)
        }
        if (m[l, "seg_full"] > 0 && m[l, "rsync_zf"] > 0) {
            x = m[l, "rsync_zf"] / m[l, "seg_full"]
            printf "| full no slower than `rsync -a -z` | %.2fx | %s | %s |\n", x, paired(l, "rsync_zf", "seg_full"), verdict(x >= 1)
        }
        printf "\n"
    }
    printf "Ratios are rsync time / segsync time (higher is better for segsync) except the floor ratio (segsync / floor, lower is better). \"paired\" = median over runs of the ratio within one run.\n"
}' "$2"
}

if [ "${1:-}" = --summary ]; then
    o=${2:?usage: bench_net.sh --summary OUTDIR}
    tb=$(awk '/^tree:/ {print $4}' "$o/env.txt")
    summarize "$tb" "$o/results.tsv" "$o/changed.tsv" > "$o/summary.md"
    cat "$o/summary.md"
    exit 0
fi

# ------------------------------------------------------------- preflight
to_bytes() {
    local s=$1 n u
    n=${s%[KkMmGgTt]*}; u=${s#"$n"}; u=${u%%[iIbB]*}
    case $u in
        ''|[Bb]) echo "$n" ;;
        [Kk]) echo $(( n << 10 )) ;;
        [Mm]) echo $(( n << 20 )) ;;
        [Gg]) echo $(( n << 30 )) ;;
        [Tt]) echo $(( n << 40 )) ;;
        *) die "bad SIZE '$s'" ;;
    esac
}
size_bytes=$(to_bytes "$SIZE")
[[ $size_bytes =~ ^[0-9]+$ ]] || die "bad SIZE '$SIZE'"
[ "$(id -u)" = 0 ] || die "run as root (network namespaces, tc, cgroups, sshd)"
for t in ip tc rsync ssh ssh-keygen /usr/sbin/sshd zstd timeout /usr/bin/time find xargs cat cmp awk ${CC:-cc}; do
    command -v "$t" >/dev/null || die "'$t' is not installed (make deps installs openssh-server, iproute2, time; zstd: apt-get install zstd)"
done
[ -x "$SEGSYNC" ] || die "no segsync binary at $SEGSYNC (run make)"
[[ $NETPFX =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "bad NETPFX '$NETPFX'"

mkdir -p "$BENCH_DIR" || die "cannot create $BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
SRC=$BENCH_DIR/src
DST=$BENCH_DIR/dst      # the diverged mirror
NEW=$BENCH_DIR/new      # the empty target of full copies
stamp=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$BENCH_DIR/results/$stamp-$SIZE}
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
log=$OUT/log.txt
tsv=$OUT/results.tsv
ctsv=$OUT/changed.tsv
say() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$log" >&2; }

need=$(( size_bytes * 3 ))
[ -d "$SRC" ] && [ "$(cat "$SRC.params" 2>/dev/null)" = "$SIZE $SEED" ] && need=$(( need - size_bytes ))
avail=$(( $(df -Pk "$BENCH_DIR" | awk 'NR==2 {print $4}') * 1024 ))
[ "$avail" -gt $(( need + need / 20 )) ] ||
    die "need $((need >> 20)) MiB free in $BENCH_DIR, have $((avail >> 20)) MiB"

# binaries: snapshot segsync (a rebuild by someone else mid-run cannot change
# what is measured); build the generator and the block extractor
cp "$SEGSYNC" "$OUT/segsync" || die "cannot copy $SEGSYNC"
SS=$OUT/segsync
if [ -z "${GENDATA:-}" ]; then
    GENDATA=$OUT/gendata
    ${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE -Wall -o "$GENDATA" "$repo/tests/tools/gendata.c" -lpthread ||
        die "cannot build gendata"
fi
CB=$OUT/changed_blocks
${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o "$CB" "$here/changed_blocks.c" ||
    die "cannot build changed_blocks"

# ------------------------------------------------- namespaces, sshd, cleanup
tag=$$
NS_S=ssnb-src-$tag NS_D=ssnb-dst-$tag
V_S=ssnbs$tag V_D=ssnbd$tag           # <= 15 characters
A_S=$NETPFX.1 A_D=$NETPFX.2
K=$(mktemp -d /tmp/bench_net.XXXXXX) || die "mktemp failed"
CGROOT=/sys/fs/cgroup/cpuacct
CG_S="" CG_D=""
SSHD_PID=""

cleanup() {
    set +e
    if [ -n "$SSHD_PID" ]; then
        kill -TERM "$SSHD_PID" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$SSHD_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SSHD_PID" 2>/dev/null
        wait "$SSHD_PID" 2>/dev/null
    fi
    # sessions that outlived the client (should not happen): end them by pid
    for cg in "$CG_S" "$CG_D"; do
        [ -n "$cg" ] && [ -d "$cg" ] || continue
        for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    done
    sleep 0.2
    for cg in "$CG_S" "$CG_D"; do [ -n "$cg" ] && [ -d "$cg" ] && rmdir "$cg" 2>/dev/null; done
    [ -d "$CGROOT/ssnb-$tag" ] && rmdir "$CGROOT/ssnb-$tag" 2>/dev/null
    ip netns del "$NS_S" 2>/dev/null
    ip netns del "$NS_D" 2>/dev/null
    rm -rf "$K"
    if [ "$KEEP" != 1 ]; then
        rm -rf "$DST" "$NEW" "$SRC" "$SRC.params"
    else
        rm -rf "$NEW"
    fi
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM HUP

ip netns add "$NS_S" || die "ip netns add $NS_S failed"
ip netns add "$NS_D" || die "ip netns add $NS_D failed"
ip link add "$V_S" netns "$NS_S" type veth peer name "$V_D" netns "$NS_D" || die "cannot create the veth pair"
ip -n "$NS_S" addr add "$A_S/30" dev "$V_S" || die "address $A_S"
ip -n "$NS_D" addr add "$A_D/30" dev "$V_D" || die "address $A_D"
for ns in "$NS_S" "$NS_D"; do ip -n "$ns" link set lo up || die "lo up in $ns"; done
ip -n "$NS_S" link set "$V_S" up || die "$V_S up"
ip -n "$NS_D" link set "$V_D" up || die "$V_D up"

# tbf on both ends: burst = 2 ms at the rate (at least 32 KiB, so one
# TSO/GSO segment of 64 KiB is split by tbf rather than dropped), queue
# bounded by 20 ms of latency.
shape() {
    local rate=$1 bps n
    case $rate in
        *gbit) n=${rate%gbit}; bps=$(( n * 1000000000 )) ;;
        *mbit) n=${rate%mbit}; bps=$(( n * 1000000 )) ;;
        *) die "RATES entries are Ngbit or Nmbit, not '$rate'" ;;
    esac
    local burst=$(( bps / 8 / 500 ))
    [ "$burst" -lt 32768 ] && burst=32768
    local ns dev
    for ns in "$NS_S:$V_S" "$NS_D:$V_D"; do
        dev=${ns#*:}; ns=${ns%%:*}
        tc -n "$ns" qdisc replace dev "$dev" root tbf rate "$rate" burst "$burst" latency 20ms ||
            die "tc tbf $rate on $dev"
    done
    say "link shaped: tbf rate $rate burst $burst latency 20ms on $V_S and $V_D"
    tc -n "$NS_S" qdisc show dev "$V_S" >> "$log"
}

# cpuacct cgroups: one per side; optional (CPU columns stay empty without)
if [ -d "$CGROOT" ] && mkdir "$CGROOT/ssnb-$tag" 2>/dev/null; then
    CG_S=$CGROOT/ssnb-$tag/src CG_D=$CGROOT/ssnb-$tag/dst
    mkdir "$CG_S" "$CG_D" || die "cannot create cgroups under $CGROOT/ssnb-$tag"
else
    say "no cpuacct cgroup (v1) at $CGROOT: per-side CPU from /usr/bin/time (target) only"
fi

# sshd in the source namespace, on its veth address only
mkdir -p /run/sshd
chmod 700 "$K"
ssh-keygen -q -t ed25519 -N '' -f "$K/host_key" >/dev/null || die "ssh-keygen"
ssh-keygen -q -t ed25519 -N '' -f "$K/id" >/dev/null || die "ssh-keygen"
cp "$K/id.pub" "$K/authorized_keys"
cat > "$K/sshd_config" <<EOF
ListenAddress $A_S
Port 22
HostKey $K/host_key
AuthorizedKeysFile $K/authorized_keys
PidFile $K/sshd.pid
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
MaxStartups 20
LogLevel INFO
EOF
cat > "$K/ssh_config" <<EOF
Host srchost
    HostName $A_S
    Port 22
    User root
    IdentityFile $K/id
    IdentitiesOnly yes
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
    BatchMode yes
    LogLevel ERROR
    ConnectTimeout 10
    ServerAliveInterval 15
EOF
# the wrapper joins the cgroup (when there is one) before exec, so sshd and
# every session it forks are accounted there
# (joined before `ip netns exec`, which remounts /sys and so hides the
# cgroup file system from what runs inside)
# With PLAIN_LOGIN=1 sshd runs in a private mount namespace in which the
# login user's ~/.bashrc is an empty file: bash run by sshd reads it for
# every command, and this machine's (pyenv init) costs ~2.4 s per login,
# which would be charged to every contender and is nothing a database host
# has. The bind mount is seen by sshd and its sessions only.
: > "$K/empty_bashrc"
bashrc=$(getent passwd root | cut -d: -f6)/.bashrc
if [ "$PLAIN_LOGIN" = 1 ] && [ -f "$bashrc" ]; then
    sshd_cmd=(unshare -m --propagation private sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
              sh "$K/empty_bashrc" "$bashrc" /usr/sbin/sshd -D -e -f "$K/sshd_config")
else
    sshd_cmd=(/usr/sbin/sshd -D -e -f "$K/sshd_config")
fi
sh -c '[ -n "$1" ] && echo $$ > "$1/cgroup.procs"; shift; exec "$@"' \
    sh "$CG_S" ip netns exec "$NS_S" "${sshd_cmd[@]}" 2> "$K/sshd.log" &
SSHD_PID=$!
up=0
for _ in $(seq 1 100); do
    grep -q "Server listening" "$K/sshd.log" && { up=1; break; }
    kill -0 "$SSHD_PID" 2>/dev/null || break
    sleep 0.1
done
[ "$up" = 1 ] || { cat "$K/sshd.log" >&2; die "sshd did not start in $NS_S"; }
RSH="ssh -F $K/ssh_config"
H=srchost
# run CMD... in the target namespace, in the target cgroup
in_dst() {
    sh -c '[ -n "$1" ] && echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$CG_D" ip netns exec "$NS_D" "$@"
}
in_dst timeout 30 $RSH "$H" true > "$K/probe.out" 2>&1 ||
    { cat "$K/probe.out" "$K/sshd.log" >&2; die "cannot log in to $A_S through the benchmark's sshd"; }
say "sshd on $A_S:22 in $NS_S (pid $SSHD_PID); client in $NS_D ($A_D)"

# --------------------------------------------------------------- env record
can_drop=0
[ -w /proc/sys/vm/drop_caches ] && can_drop=1
loadinfo() {
    local psi=""
    [ -r /proc/pressure/cpu ] && psi=" cpu-psi10=$(awk '/^some/ {sub("avg10=", "", $2); print $2}' /proc/pressure/cpu)%"
    echo "$(cut -d' ' -f1-3 /proc/loadavg)$psi"
}
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "settings: SIZE=$SIZE RUNS=$RUNS RATES='$RATES' CACHE=$CACHE PCT=$PCT SEED=$SEED JOBS=$JOBS SEG_OPTS='$SEG_OPTS' TIMEOUT=$TIMEOUT"
    echo "contenders: $CONTENDERS"
    echo "segsync: $SEGSYNC ($("$SS" --version 2>&1 | head -1)); git $(git -C "$repo" rev-parse --short HEAD 2>/dev/null)"
    echo "rsync: $(rsync --version | head -1); $(rsync --version | grep -i -A1 'compress list' | tr '\n' ' ')"
    echo "ssh: $(ssh -V 2>&1); cipher: $(in_dst $RSH -v "$H" true 2>&1 | grep -m1 -o 'cipher: [^ ]*' || echo '?')"
    t0=$(date +%s.%N); in_dst $RSH "$H" true; t1=$(date +%s.%N)
    echo "ssh login (ssh srchost true): $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') s"
    echo "zstd: $(zstd --version)"
    echo "nproc: $(nproc); $(grep -m1 'model name' /proc/cpuinfo)"
    echo "memory: $(free -m | awk '/^Mem:/ {print $2 " MiB total, " $7 " MiB available"}')"
    echo "kernel: $(uname -srm)"
    echo "filesystem: $(df -hT "$BENCH_DIR" | awk 'NR==2 {print $1, $2, $3 " size", $5 " free"}')"
    if [ -n "$CG_S" ]; then echo "cgroups: cpuacct v1 $CGROOT/ssnb-$tag"; else echo "cgroups: none"; fi
    echo "load at start: $(loadinfo)"
} > "$OUT/env.txt"
cat "$OUT/env.txt" >> "$log"

# --------------------------------------------------------------- the data
if [ -d "$SRC" ] && [ "$(cat "$SRC.params" 2>/dev/null)" = "$SIZE $SEED" ]; then
    say "reusing $SRC ($SIZE, seed $SEED)"
else
    rm -rf "$SRC" "$SRC.params" "$DST" "$NEW"
    say "generating $SRC ($SIZE, seed $SEED)"
    "$GENDATA" gen --seed "$SEED" --size "$SIZE" "$SRC" | tee -a "$log" >&2 || die "gendata gen failed"
    sync
    echo "$SIZE $SEED" > "$SRC.params"
fi
tree_bytes=$(find "$SRC" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%.0f\n", s}')
tree_files=$(find "$SRC" -type f | wc -l)
echo "tree: $tree_files files, $tree_bytes bytes" >> "$OUT/env.txt"
say "tree: $tree_files files, $tree_bytes bytes"

dst_state=none        # none | clean | mut:<seed>
mutlist=$OUT/mutated.txt

reset_dst_full() {
    say "resetting $DST with cp -a"
    rm -rf "$DST" && cp -a "$SRC" "$DST" || die "cp -a $SRC $DST failed"
    dst_state=clean
}

# DST := SRC with PCT% of its blocks changed by seed $2 (link $1, for the
# changed.tsv record). After a contender made DST equal to SRC, `gendata
# stamp` puts back the source mtimes and `mutate` with the same seed
# rewrites the same blocks with the same bytes: every contender of a run
# gets the same target, without copying the tree again.
declare -A zdone
prepare_mutated() {
    local link=$1 run=$2 mseed=$3
    [ "$dst_state" = "mut:$mseed" ] && return 0
    [ "$dst_state" = clean ] || reset_dst_full
    "$GENDATA" stamp "$DST" >> "$log" || die "gendata stamp failed"
    "$GENDATA" mutate --seed "$mseed" --percent "$PCT" --list "$mutlist" "$DST" >> "$log" ||
        die "gendata mutate failed"
    dst_state=mut:$mseed
    if [ -z "${zdone[$link.$run]:-}" ]; then
        local cinfo z
        z=$("$CB" "$SRC" "$DST" < "$mutlist" 2> "$OUT/cb.err" | zstd -3 -q -c | wc -c) || die "changed_blocks failed"
        cinfo=$(cat "$OUT/cb.err")      # "blocks N bytes M"
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$link" "$run" "$mseed" \
            "$(echo "$cinfo" | awk '{print $2}')" "$(echo "$cinfo" | awk '{print $4}')" "$z" >> "$ctsv"
        say "changed: $cinfo; zstd -3 of them: $z bytes"
        zdone[$link.$run]=1
    fi
}

verify_tree() {   # TARGET FILELIST WHAT
    local tgt=$1 files=$2 what=$3 bad=0 f items
    [ "$VERIFY" = 1 ] || { echo -; return 0; }
    if ! "$SS" verify --raw "$SRC" "$tgt" > "$OUT/verify.out" 2>&1; then
        say "VERIFY FAIL ($what): segsync verify: $(tail -3 "$OUT/verify.out" | tr '\n' ' ')"
        bad=1
    fi
    while IFS= read -r f; do
        cmp -s "$SRC/$f" "$tgt/$f" || { say "VERIFY FAIL ($what): cmp differs: $f"; bad=1; }
    done < "$files"
    items=$(rsync -a -n -i --delete "$SRC/" "$tgt/" | head -5)
    if [ -n "$items" ] && [ "$(echo "$items" | awk '$2 != "./"' | wc -l)" = 0 ]; then
        # only the top directory's mode/mtime differ: recorded apart, so a
        # known metadata bug does not hide the content checks
        say "VERIFY: top directory metadata differs ($what): $items"
        [ $bad = 0 ] && { echo rootmeta; return 0; }
    elif [ -n "$items" ]; then
        say "VERIFY FAIL ($what): rsync -n -i lists: $(echo "$items" | tr '\n' ' ')"; bad=1
    fi
    if [ $bad = 0 ]; then echo yes; else echo FAIL; fi
}
sample_list=$OUT/sample.txt
(cd "$SRC" && find . -type f -printf '%P\n' | sort | awk 'NR % 20 == 1 || /\.1$/') > "$sample_list"

prep_cache() {   # trees to read when warm
    sync
    if [ "$CACHE" = cold ]; then
        echo 3 > /proc/sys/vm/drop_caches
    else
        find "$@" -type f -print0 | xargs -0 -P "$JOBS" -n 64 cat > /dev/null
    fi
}

# ---------------------------------------------------------------- measuring
wire() { ip netns exec "$NS_D" cat "/sys/class/net/$V_D/statistics/rx_bytes" "/sys/class/net/$V_D/statistics/tx_bytes" | tr '\n' ' '; }
cpu_ns() {   # CG -> "user_ns sys_ns"
    [ -n "$1" ] || { echo "0 0"; return; }
    echo "$(cat "$1/cpuacct.usage_user") $(cat "$1/cpuacct.usage_sys")"
}
# the source side is done when only the listening sshd is left in its cgroup
settle_src() {
    [ -n "$CG_S" ] || { sleep 0.5; return; }
    for _ in $(seq 1 100); do
        [ "$(wc -l < "$CG_S/cgroup.procs")" -le 1 ] && return
        sleep 0.05
    done
    say "warning: source-side processes still running 5 s after the client ended: $(cat "$CG_S/cgroup.procs" | tr '\n' ' ')"
}

printf 'link\trun\tcontender\telapsed_s\texit\twire_rx\twire_tx\tcpu_tgt_s\tcpu_src_s\ttgt_user_s\ttgt_sys_s\tsrc_user_s\tsrc_sys_s\ttime_user_s\ttime_sys_s\tseg_bytes_on_wire\tseg_bytes_transferred\tverified\tload\n' > "$tsv"
printf 'link\trun\tseed\tchanged_blocks\tchanged_bytes\tzstd3_bytes\n' > "$ctsv"

# timed LINK RUN NAME LOCAL(0|1) -- cmd...: LOCAL=1 runs in the root
# namespace without the wire/CPU accounting (the floors).
timed() {
    local link=$1 run=$2 name=$3 local_=$4; shift 5
    local tf=$OUT/time.$name.$link.$run out=$OUT/out.$name.$link.$run rc
    local load w0 w1 cs0 cs1 cd0 cd1
    load=$(loadinfo)
    settle_src
    w0=$(wire); cs0=$(cpu_ns "$CG_S"); cd0=$(cpu_ns "$CG_D")
    if [ "$local_" = 1 ]; then
        /usr/bin/time -f '%e %U %S' -o "$tf" timeout -k 10 "$TIMEOUT" "$@" > "$out" 2> "$out.err"
    else
        in_dst /usr/bin/time -f '%e %U %S' -o "$tf" timeout -k 10 "$TIMEOUT" "$@" > "$out" 2> "$out.err"
    fi
    rc=$?
    settle_src
    w1=$(wire); cs1=$(cpu_ns "$CG_S"); cd1=$(cpu_ns "$CG_D")
    local el tu ts; read -r el tu ts < <(tail -1 "$tf")
    local rx tx su ss du ds
    read -r rx tx <<< "$(awk -v a="$w0" -v b="$w1" 'BEGIN {split(a, x, " "); split(b, y, " "); print y[1]-x[1], y[2]-x[2]}')"
    read -r su ss <<< "$(awk -v a="$cs0" -v b="$cs1" 'BEGIN {split(a, x, " "); split(b, y, " "); printf "%.3f %.3f", (y[1]-x[1])/1e9, (y[2]-x[2])/1e9}')"
    read -r du ds <<< "$(awk -v a="$cd0" -v b="$cd1" 'BEGIN {split(a, x, " "); split(b, y, " "); printf "%.3f %.3f", (y[1]-x[1])/1e9, (y[2]-x[2])/1e9}')"
    if [ -z "$CG_D" ]; then du=$tu ds=$ts; fi
    local ct cs; ct=$(awk -v a="$du" -v b="$ds" 'BEGIN {printf "%.3f", a + b}'); cs=$(awk -v a="$su" -v b="$ss" 'BEGIN {printf "%.3f", a + b}')
    [ -z "$CG_S" ] && cs=""
    local bw="" bt=""
    if grep -q '"bytes_on_wire"' "$out" 2>/dev/null; then
        bw=$(grep -o '"bytes_on_wire":[0-9]*' "$out" | head -1 | cut -d: -f2)
        bt=$(grep -o '"bytes_transferred":[0-9]*' "$out" | head -1 | cut -d: -f2)
    fi
    [ "$local_" = 1 ] && { rx=0 tx=0 ct=$(awk -v a="$tu" -v b="$ts" 'BEGIN {printf "%.3f", a + b}') cs=0; }
    LAST="$link	$run	$name	$el	$rc	$rx	$tx	$ct	$cs	$du	$ds	$su	$ss	$tu	$ts	${bw:--}	${bt:--}"
    LAST_LOAD=$load
    say "$link run $run $name: ${el}s exit $rc wire rx $rx tx $tx cpu tgt ${ct}s src ${cs}s${bw:+ (segsync: on_wire $bw transferred $bt)}  (load $load)"
    [ $rc = 0 ] || say "  stderr: $(tail -3 "$out.err" | tr '\n' ' ')"
    return $rc
}
record() { printf '%s\t%s\t%s\n' "$LAST" "$1" "$LAST_LOAD" >> "$tsv"; }

# segsync's own -j default (at least 8 requests in flight for a remote
# source) unless SEG_OPTS says otherwise; JOBS is for the local floors
ss_opts=(--raw --json --rsh="$RSH" --remote-path="$SS")
# shellcheck disable=SC2206
[ -n "$SEG_OPTS" ] && ss_opts+=($SEG_OPTS)
rs_e=(-e "$RSH")

run_one() {   # LINK RUN CONTENDER
    local link=$1 run=$2 c=$3 mseed=$(( SEED * 1000 + run )) ok
    case $c in
    floor|floor_big)
        prepare_mutated "$link" "$run" "$mseed"
        prep_cache "$SRC" "$DST"
        if [ "$c" = floor ]; then
            timed "$link" "$run" "$c" 1 -- sh -c 'find "$1" "$2" -type f -print0 | xargs -0 -P "$3" -n 64 cat > /dev/null' sh "$SRC" "$DST" "$JOBS"
        else
            timed "$link" "$run" "$c" 1 -- "$GENDATA" read --jobs "$JOBS" "$SRC" "$DST"
        fi
        record -
        ;;
    seg_diff|rsync_c|rsync_z|rsync_d|seg_local)
        prepare_mutated "$link" "$run" "$mseed"
        prep_cache "$SRC" "$DST"
        case $c in
        seg_diff) timed "$link" "$run" "$c" 0 -- "$SS" differential "${ss_opts[@]}" "$H:$SRC" "$DST" ;;
        rsync_c)  timed "$link" "$run" "$c" 0 -- rsync -a -c --delete "${rs_e[@]}" "$H:$SRC/" "$DST/" ;;
        rsync_z)  timed "$link" "$run" "$c" 0 -- rsync -a --delete -z "${rs_e[@]}" "$H:$SRC/" "$DST/" ;;
        rsync_d)  timed "$link" "$run" "$c" 0 -- rsync -a --delete "${rs_e[@]}" "$H:$SRC/" "$DST/" ;;
        seg_local) timed "$link" "$run" "$c" 1 -- "$SS" differential --raw --json "$SRC" "$DST" ;;
        esac
        ok=$(verify_tree "$DST" "$mutlist" "$c $link run $run")
        record "$ok"
        if [ "$ok" = FAIL ]; then reset_dst_full; else dst_state=clean; fi
        ;;
    login)
        # shellcheck disable=SC2086
        timed "$link" "$run" "$c" 0 -- $RSH "$H" true
        record -
        ;;
    seg_full|rsync_wf|rsync_zf)
        rm -rf "$NEW"; mkdir "$NEW"
        prep_cache "$SRC"
        case $c in
        seg_full) timed "$link" "$run" "$c" 0 -- "$SS" full "${ss_opts[@]}" "$H:$SRC" "$NEW" ;;
        rsync_wf) timed "$link" "$run" "$c" 0 -- rsync -a --whole-file "${rs_e[@]}" "$H:$SRC/" "$NEW/" ;;
        rsync_zf) timed "$link" "$run" "$c" 0 -- rsync -a -z "${rs_e[@]}" "$H:$SRC/" "$NEW/" ;;
        esac
        ok=$(verify_tree "$NEW" "$sample_list" "$c $link run $run")
        record "$ok"
        rm -rf "$NEW"
        ;;
    *) die "unknown contender '$c'" ;;
    esac
}

if [ "$CACHE" = cold ] && [ $can_drop != 1 ]; then die "CACHE=cold needs a writable /proc/sys/vm/drop_caches"; fi
for link in $RATES; do
    shape "$link"
    echo "load before $link: $(loadinfo)" >> "$OUT/env.txt"
    for run in $(seq 1 "$RUNS"); do
        for c in $CONTENDERS; do
            run_one "$link" "$run" "$c"
        done
    done
    echo "load after $link: $(loadinfo)" >> "$OUT/env.txt"
done

summarize "$tree_bytes" "$tsv" "$ctsv" > "$OUT/summary.md"
say "results: $tsv"
say "summary: $OUT/summary.md"
cat "$OUT/summary.md"
