#!/usr/bin/env bash
# bench/bench_raw.sh — raw-mode benchmark of segsync against rsync and cp
# (issue 2). Not a test: it measures, it never asserts a speed.
#
# Settings (environment variables; defaults in brackets):
#   SIZE        size of the source tree, K/M/G suffix            [4G]
#   RUNS        runs per cache mode; medians are over runs       [3]
#   CACHE       cache modes, in order: "warm", "cold" or both    ["warm cold"]
#               warm: sync, then read every tree the command reads, then time
#               cold: sync; echo 3 > /proc/sys/vm/drop_caches, then time
#               (cold is skipped with a note when drop_caches is not writable)
#   CONTENDERS  which commands, in this order per run
#               ["floor floor_par floor_big seg_diff rsync rsync_c seg_full cp_sync"]
#                 floor     find SRC DST -type f -print0 | xargs -0 cat >/dev/null
#                 floor_par the same with xargs -P JOBS (parallel readers)
#                 floor_big gendata read --jobs JOBS SRC DST (4 MiB reads, JOBS threads)
#                 seg_diff  segsync differential --raw SRC DST   (DST = SRC + 1%)
#                 rsync     rsync -a --delete SRC/ DST/          (DST = SRC + 1%)
#                 rsync_c   rsync -a -c --delete SRC/ DST/       (DST = SRC + 1%)
#                 seg_full  segsync full --raw SRC EMPTY
#                 cp_sync   cp -a SRC NEW && sync
#   PCT         percent of 8 KiB blocks changed in the target    [1]
#   SEED        tree seed; run r mutates with seed SEED*1000+r   [1]
#   JOBS        segsync -j (and floor_par -P)                    [nproc]
#   IO          segsync --io=uring|psync|auto                    [auto]
#   SEGSYNC     segsync binary (copied into OUT before use)      [build/segsync]
#   GENDATA     generator binary; built from tests/tools/gendata.c if unset
#   BENCH_DIR   where the trees live (local disk)                [/work/bench-data]
#   OUT         results directory                                [BENCH_DIR/results/<time>-<size>]
#   KEEP        1: keep the trees (and reuse SRC next time)      [0]
#   VERIFY      1: check every sync result (segsync verify + cmp of the
#               changed files + rsync -n metadata check)         [1]
#
# Output: OUT/results.tsv (one line per timed command), OUT/summary.md
# (medians, MiB/s, ratios, peak RSS), OUT/env.txt (machine, load averages),
# OUT/log.txt (everything). The target state before each seg_diff / rsync /
# rsync_c / floor is: a copy of SRC (cp -a, mtimes preserved) in which PCT% of
# the 8 KiB blocks were rewritten with new content (gendata mutate), the
# changed files getting a new mtime as in a real diverged mirror.
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

SIZE=${SIZE:-4G}
RUNS=${RUNS:-3}
CACHE=${CACHE:-warm cold}
CONTENDERS=${CONTENDERS:-floor floor_par floor_big seg_diff rsync rsync_c seg_full cp_sync}
PCT=${PCT:-1}
SEED=${SEED:-1}
JOBS=${JOBS:-$(nproc)}
IO=${IO:-auto}
SEGSYNC=${SEGSYNC:-$repo/build/segsync}
BENCH_DIR=${BENCH_DIR:-/work/bench-data}
KEEP=${KEEP:-0}
VERIFY=${VERIFY:-1}

die() { echo "bench_raw: error: $*" >&2; exit 2; }

# Summary of a results.tsv: summarize BYTES SIZE FILES PCT TSV
summarize() {
    awk -F'\t' -v bytes="$1" -v size="$2" -v files="$3" -v pct="$4" '
function median(key,   n, i, j, t, a) {
    n = cnt[key]
    for (i = 1; i <= n; i++) a[i] = val[key, i]
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
    if (n == 0) return ""
    return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
NR == 1 { next }
{
    k = $1 SUBSEP $3
    if (!(k in cnt)) { order[++no] = k; }
    cnt[k]++; val[k, cnt[k]] = $4
    rk = k SUBSEP "rss"; rcnt[k]++; rss[k, rcnt[k]] = $5
    tm[$1, $2, $3] = $4; runset[$1, $2] = 1
    if ($6 != 0) bad[k]++
    if ($10 == "FAIL") vfail[k]++
    runs[k] = runs[k] (runs[k] == "" ? "" : " ") $4
    caches[$1] = 1
}
function ratio(c, a, b, label, target,   r, n, i, j, x, pr) {
    if (!(med[c, a] > 0 && med[c, b] > 0)) return
    n = 0
    for (r = 1; r <= 1000; r++) {
        if (!((c, r) in runset)) continue
        if (((c, r, a) in tm) && ((c, r, b) in tm) && tm[c, r, b] > 0) pr[++n] = tm[c, r, a] / tm[c, r, b]
    }
    for (i = 2; i <= n; i++) { x = pr[i]; for (j = i - 1; j >= 1 && pr[j] > x; j--) pr[j+1] = pr[j]; pr[j+1] = x }
    x = n ? ((n % 2) ? pr[(n+1)/2] : (pr[n/2] + pr[n/2+1]) / 2) : 0
    printf "| %s | %s | %.2fx | %s | %s |\n", c, label, med[c, a] / med[c, b], (n ? sprintf("%.2fx (n=%d)", x, n) : "-"), target
}
END {
    desc["floor"] = "read both trees once (`find | xargs cat`)"
    desc["floor_par"] = "read both trees, parallel `xargs -P`"
    desc["floor_big"] = "read both trees, 4 MiB reads, JOBS threads (`gendata read`)"
    desc["seg_diff"] = "`segsync differential --raw`"
    desc["rsync"] = "`rsync -a --delete`"
    desc["rsync_c"] = "`rsync -a -c --delete`"
    desc["seg_full"] = "`segsync full --raw` (empty target)"
    desc["cp_sync"] = "`cp -a` + `sync`"
    printf "Tree: %s (%s bytes, %d files); target = source with %s%% of 8 KiB blocks changed.\n", size, bytes, files, pct
    printf "MiB/s = source tree size / median time (the floors read twice that).\n\n"
    printf "| cache | contender | median s | MiB/s | runs (s) | median peak RSS MiB | notes |\n"
    printf "|---|---|---:|---:|---|---:|---|\n"
    for (i = 1; i <= no; i++) {
        k = order[i]; split(k, p, SUBSEP)
        m = median(k)
        n = rcnt[k]
        # median RSS
        delete ra; for (j = 1; j <= n; j++) ra[j] = rss[k, j]
        for (a = 2; a <= n; a++) { t = ra[a]; for (b = a - 1; b >= 1 && ra[b] > t; b--) ra[b+1] = ra[b]; ra[b+1] = t }
        mr = (n % 2) ? ra[(n+1)/2] : (ra[n/2] + ra[n/2+1]) / 2
        med[k] = m
        note = ""
        if (bad[k]) note = note bad[k] " non-zero exit; "
        if (vfail[k]) note = note vfail[k] " VERIFY FAIL; "
        printf "| %s | %s | %.2f | %.0f | %s | %.1f | %s |\n", p[1], desc[p[2]] ? desc[p[2]] : p[2], m, (m > 0 ? bytes / 1048576 / m : 0), runs[k], mr / 1024, note
    }
    printf "\nRatios: \"of medians\" divides the median times; \"paired\" is the median over runs of the ratio within each run (both commands ran minutes apart under the same load), the more robust number on a shared machine.\n"
    printf "\n| cache | ratio | of medians | paired (median of per-run) | issue target |\n|---|---|---:|---:|---|\n"
    # the fastest of the read floors, per run and of the medians
    nf = split("floor floor_par floor_big", fl, " ")
    for (k in runset)
        for (i = 1; i <= nf; i++)
            if (((k, fl[i]) in tm) && tm[k, fl[i]] > 0 && (!((k, "floor_best") in tm) || tm[k, fl[i]] < tm[k, "floor_best"]))
                tm[k, "floor_best"] = tm[k, fl[i]]
    for (ci in caches)
        for (i = 1; i <= nf; i++)
            if (med[ci, fl[i]] > 0 && (!(med[ci, "floor_best"] > 0) || med[ci, fl[i]] < med[ci, "floor_best"]))
                med[ci, "floor_best"] = med[ci, fl[i]]
    nc = split("warm cold", cl, " ")
    for (ci = 1; ci <= nc; ci++) {
        c = cl[ci]; if (!(c in caches)) continue
        d = med[c, "seg_diff"]; f = med[c, "seg_full"]
        ratio(c, "rsync_c", "seg_diff", "rsync -a -c time / differential time", ">= 4x")
        ratio(c, "rsync", "seg_diff", "rsync -a time / differential time", ">= 4x")
        ratio(c, "seg_diff", "floor", "differential time / read-floor time", "<= 1.3x")
        ratio(c, "seg_diff", "floor_par", "differential time / parallel read-floor time", "(info)")
        ratio(c, "seg_diff", "floor_big", "differential time / big-read parallel floor time", "(info)")
        ratio(c, "seg_diff", "floor_best", "differential time / fastest read floor", "<= 1.3x (stricter)")
        ratio(c, "rsync_c", "floor", "rsync -a -c time / read-floor time", "(issue measured ~5x)")
        ratio(c, "seg_full", "cp_sync", "full time / (cp -a + sync) time", "<= 1.3x")
    }
}' "$5"
}

# bench_raw.sh --summary OUT: rebuild OUT/summary.md from OUT/results.tsv
if [ "${1:-}" = --summary ]; then
    o=${2:?usage: bench_raw.sh --summary OUTDIR}
    read -r tf tb < <(awk '/^tree:/ {print $2, $4}' "$o/env.txt")
    sz=$(sed -n 's/^settings: SIZE=\([^ ]*\) .* PCT=\([^ ]*\) .*/\1 \2/p' "$o/env.txt")
    summarize "$tb" "${sz% *}" "$tf" "${sz#* }" "$o/results.tsv" > "$o/summary.md"
    cat "$o/summary.md"
    exit 0
fi

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
[[ $size_bytes =~ ^[0-9]+$ ]] || die "bad SIZE '$SIZE' (use an integer with K/M/G/T)"
for t in rsync cp find xargs cat /usr/bin/time cmp awk; do
    command -v "$t" >/dev/null || die "'$t' is not installed"
done
[ -x "$SEGSYNC" ] || die "no segsync binary at $SEGSYNC (run make)"

mkdir -p "$BENCH_DIR" || die "cannot create $BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
SRC=$BENCH_DIR/src
DST=$BENCH_DIR/dst           # the diverged mirror (seg_diff, rsync, rsync_c)
NEW=$BENCH_DIR/new           # the empty target (seg_full, cp_sync)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$BENCH_DIR/results/$stamp-$SIZE}
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
log=$OUT/log.txt
tsv=$OUT/results.tsv

say() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$log" >&2; }

# --- binaries: snapshot segsync so a rebuild by someone else mid-run cannot
#     change what is measured; build the generator from its single source.
cp "$SEGSYNC" "$OUT/segsync" || die "cannot copy $SEGSYNC"
SS=$OUT/segsync
if [ -z "${GENDATA:-}" ]; then
    GENDATA=$OUT/gendata
    ${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE -Wall -o "$GENDATA" \
        "$repo/tests/tools/gendata.c" || die "cannot build gendata"
fi

# --- space: SRC + DST + NEW (+5% slack) must fit unless SRC is reused
need=$size_bytes
case " $CONTENDERS " in *" seg_diff "*|*" rsync "*|*" rsync_c "*|*" floor"*)
    need=$(( need + size_bytes )) ;; esac
case " $CONTENDERS " in *" seg_full "*|*" cp_sync "*)
    need=$(( need + size_bytes )) ;; esac
[ -d "$SRC" ] && [ "$(cat "$SRC.params" 2>/dev/null)" = "$SIZE $SEED" ] &&
    need=$(( need - size_bytes ))
avail=$(( $(df -Pk "$BENCH_DIR" | awk 'NR==2 {print $4}') * 1024 ))
need=$(( need + need / 20 ))
if [ "$avail" -lt "$need" ]; then
    die "need $((need >> 20)) MiB free in $BENCH_DIR, have $((avail >> 20)) MiB (lower SIZE or set BENCH_DIR)"
fi

can_drop=0
if [ -w /proc/sys/vm/drop_caches ] && sync && echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then
    can_drop=1
fi

# --- environment record
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "settings: SIZE=$SIZE RUNS=$RUNS CACHE='$CACHE' PCT=$PCT SEED=$SEED JOBS=$JOBS IO=$IO"
    echo "contenders: $CONTENDERS"
    echo "segsync: $SEGSYNC ($("$SS" --version 2>&1 | head -1)); git $(git -C "$repo" rev-parse --short HEAD 2>/dev/null)"
    echo "rsync: $(rsync --version | head -1)"
    echo "cp: $(cp --version | head -1)"
    echo "nproc: $(nproc); $(grep -m1 'model name' /proc/cpuinfo)"
    echo "memory: $(free -m | awk '/^Mem:/ {print $2 " MiB total, " $7 " MiB available"}')"
    echo "kernel: $(uname -srm)"
    echo "filesystem: $(df -hT "$BENCH_DIR" | awk 'NR==2 {print $1, $2, $3 " size", $5 " free"}')"
    echo "mount: $(awk -v m="$(df -P "$BENCH_DIR" | awk 'NR==2 {print $6}')" '$2==m {print $1, $3, $4}' /proc/mounts | head -1)"
    echo "lsblk:"; lsblk -o NAME,SIZE,ROTA,TYPE,MOUNTPOINTS 2>/dev/null | sed 's/^/  /'
    echo "drop_caches: $([ $can_drop = 1 ] && echo yes || echo no)"
} > "$OUT/env.txt"
cat "$OUT/env.txt" >> "$log"

cleanup() {
    if [ "$KEEP" != 1 ]; then
        rm -rf "$DST" "$NEW" "$SRC" "$SRC.params"
    else
        rm -rf "$NEW"
    fi
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# --- the source tree
if [ -d "$SRC" ] && [ "$(cat "$SRC.params" 2>/dev/null)" = "$SIZE $SEED" ]; then
    say "reusing $SRC ($SIZE, seed $SEED)"
else
    rm -rf "$SRC" "$SRC.params" "$DST" "$NEW"
    say "generating $SRC ($SIZE, seed $SEED)"
    t0=$(date +%s.%N)
    "$GENDATA" gen --seed "$SEED" --size "$SIZE" "$SRC" | tee -a "$log" >&2 || die "gendata gen failed"
    sync
    say "generated in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s (including sync)"
    echo "$SIZE $SEED" > "$SRC.params"
fi
tree_bytes=$(find "$SRC" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%.0f\n", s}')
tree_files=$(find "$SRC" -type f | wc -l)
echo "tree: $tree_files files, $tree_bytes bytes" >> "$OUT/env.txt"

# --- target state management
dst_state=none        # none | clean | mut:<seed>
mutlist=$OUT/mutated.txt

reset_dst_full() {
    say "resetting $DST with cp -a"
    rm -rf "$DST" && cp -a "$SRC" "$DST" || die "cp -a $SRC $DST failed"
    dst_state=clean
}

# Bring DST to "SRC with PCT% of the blocks changed by seed $1".
prepare_mutated() {
    local mseed=$1
    [ "$dst_state" = "mut:$mseed" ] && return 0
    [ "$dst_state" = clean ] || reset_dst_full
    "$GENDATA" stamp "$DST" >> "$log" || die "gendata stamp failed"
    "$GENDATA" mutate --seed "$mseed" --percent "$PCT" --list "$mutlist" "$DST" \
        | tee -a "$log" >&2 || die "gendata mutate failed"
    dst_state=mut:$mseed
}

# Independent checks that TARGET equals SRC: segsync verify, cmp of the
# given files (the mutated ones, or a sample), and rsync's own itemized
# dry run (sizes, mtimes, modes, owners; no output = nothing to do).
verify_tree() {
    local tgt=$1 files=$2 what=$3 bad=0 f
    [ "$VERIFY" = 1 ] || return 0
    if ! "$SS" verify --raw "$SRC" "$tgt" > "$OUT/verify.out" 2>&1; then
        say "VERIFY FAIL ($what): segsync verify exit $?: $(tail -3 "$OUT/verify.out" | tr '\n' ' ')"
        bad=1
    fi
    while IFS= read -r f; do
        if ! cmp -s "$SRC/$f" "$tgt/$f"; then
            say "VERIFY FAIL ($what): cmp differs: $f"
            bad=1
        fi
    done < "$files"
    local items
    items=$(rsync -a -n -i --delete "$SRC/" "$tgt/" | head -5)
    if [ -n "$items" ]; then
        say "VERIFY FAIL ($what): rsync -n -i lists: $(echo "$items" | tr '\n' ' ')"
        bad=1
    fi
    return $bad
}

sample_list=$OUT/sample.txt
(cd "$SRC" && find . -type f -printf '%P\n' | sort | awk 'NR % 20 == 1 || /\.1$/') > "$sample_list"

prep_cache() {   # $1 = warm|cold, rest = trees to pre-read when warm
    local mode=$1; shift
    sync
    if [ "$mode" = cold ]; then
        echo 3 > /proc/sys/vm/drop_caches
    else
        find "$@" -type f -print0 | xargs -0 cat > /dev/null
    fi
}

printf 'cache\trun\tcontender\telapsed_s\tmaxrss_kib\texit\tbytes_transferred\tbytes_written\tseg_elapsed_s\tverified\tloadavg\n' > "$tsv"

# load averages and CPU pressure (share of time some task waited for a CPU)
loadinfo() {
    local psi=""
    [ -r /proc/pressure/cpu ] && psi=" cpu-psi10=$(awk '/^some/ {sub("avg10=", "", $2); print $2}' /proc/pressure/cpu)%"
    echo "$(cut -d' ' -f1-3 /proc/loadavg)$psi"
}

# Time one command: timed CACHE RUN NAME -- cmd...
timed() {
    local cache=$1 run=$2 name=$3; shift 4
    local tf=$OUT/time.$name.$cache.$run out=$OUT/out.$name.$cache.$run rc
    local load; load=$(loadinfo)
    /usr/bin/time -f '%e %M' -o "$tf" "$@" > "$out" 2> "$out.err"
    rc=$?
    local el rss; read -r el rss < <(tail -1 "$tf")
    local bt="" bw="" se=""
    if grep -q '"bytes_transferred"' "$out" 2>/dev/null; then
        bt=$(grep -o '"bytes_transferred":[0-9]*' "$out" | cut -d: -f2)
        bw=$(grep -o '"bytes_written":[0-9]*' "$out" | cut -d: -f2)
        se=$(grep -o '"elapsed_s":[0-9.]*' "$out" | cut -d: -f2)
    fi
    LAST="$cache	$run	$name	$el	$rss	$rc	${bt:--}	${bw:--}	${se:--}"
    LAST_LOAD=$load
    say "$cache run $run $name: ${el}s maxrss ${rss}KiB exit $rc${bt:+ transferred $bt written $bw}  (load $load)"
    [ $rc = 0 ] || say "  stderr: $(tail -3 "$out.err" | tr '\n' ' ')"
    return $rc
}

record() { printf '%s\t%s\t%s\n' "$LAST" "$1" "$LAST_LOAD" >> "$tsv"; }

floor_cmd()     { find "$SRC" "$DST" -type f -print0 | xargs -0 cat > /dev/null; }
floor_par_cmd() { find "$SRC" "$DST" -type f -print0 | xargs -0 -P "$JOBS" -n 64 cat > /dev/null; }
cp_sync_cmd()   { cp -a "$SRC" "$NEW" && sync; }
export -f floor_cmd floor_par_cmd cp_sync_cmd 2>/dev/null
export SRC DST NEW JOBS

ss_opts=(--raw --json -j "$JOBS")
[ "$IO" != auto ] && ss_opts+=("--io=$IO")

run_one() {   # $1 cache, $2 run, $3 contender
    local cache=$1 run=$2 c=$3 mseed=$(( SEED * 1000 + run )) ok=yes
    case $c in
    floor|floor_par|floor_big)
        prepare_mutated "$mseed"
        prep_cache "$cache" "$SRC" "$DST"
        if [ "$c" = floor_big ]; then
            timed "$cache" "$run" "$c" -- "$GENDATA" read --jobs "$JOBS" "$SRC" "$DST"
        else
            timed "$cache" "$run" "$c" -- bash -c "${c}_cmd"
        fi
        record -
        ;;
    seg_diff|rsync|rsync_c)
        prepare_mutated "$mseed"
        prep_cache "$cache" "$SRC" "$DST"
        case $c in
        seg_diff) timed "$cache" "$run" "$c" -- "$SS" differential "${ss_opts[@]}" "$SRC" "$DST" ;;
        rsync)    timed "$cache" "$run" "$c" -- rsync -a --delete "$SRC/" "$DST/" ;;
        rsync_c)  timed "$cache" "$run" "$c" -- rsync -a -c --delete "$SRC/" "$DST/" ;;
        esac
        verify_tree "$DST" "$mutlist" "$c $cache run $run" || ok=FAIL
        record "$ok"
        if [ "$ok" = yes ]; then dst_state=clean; else reset_dst_full; fi
        ;;
    seg_full|cp_sync)
        rm -rf "$NEW"
        [ "$c" = seg_full ] && mkdir "$NEW"
        prep_cache "$cache" "$SRC"
        case $c in
        seg_full) timed "$cache" "$run" "$c" -- "$SS" full "${ss_opts[@]}" "$SRC" "$NEW"
                  verify_tree "$NEW" "$sample_list" "$c $cache run $run" || ok=FAIL ;;
        cp_sync)  timed "$cache" "$run" "$c" -- bash -c cp_sync_cmd; ok=- ;;
        esac
        record "$ok"
        rm -rf "$NEW"
        ;;
    *) die "unknown contender '$c'" ;;
    esac
}

for cache in $CACHE; do
    if [ "$cache" = cold ] && [ $can_drop != 1 ]; then
        say "cold runs skipped: cannot write /proc/sys/vm/drop_caches"
        echo "cold: skipped (drop_caches not writable)" >> "$OUT/env.txt"
        continue
    fi
    echo "load before $cache set: $(loadinfo)" >> "$OUT/env.txt"
    say "=== $cache cache: $RUNS run(s), load $(loadinfo)"
    for run in $(seq 1 "$RUNS"); do
        for c in $CONTENDERS; do
            run_one "$cache" "$run" "$c"
        done
    done
    echo "load after $cache set: $(loadinfo)" >> "$OUT/env.txt"
done

# --- summary: medians over runs, MiB/s of the source tree, ratios
summarize "$tree_bytes" "$SIZE" "$tree_files" "$PCT" "$tsv" > "$OUT/summary.md"

say "results: $tsv"
say "summary: $OUT/summary.md"
cat "$OUT/summary.md"
