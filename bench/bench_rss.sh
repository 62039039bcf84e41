#!/usr/bin/env bash
# bench/bench_rss.sh — peak RSS of segsync as the DATA grows with the number
# of files held constant: a segment-shaped tree (gendata, SIZE), then the
# same tree plus (MULT-1)*SIZE more bytes in 1 GiB relation segment files,
# as a table grows. Measures `full --raw` into an empty directory and
# `verify --raw` of the copy (which reads and hashes both trees, as
# differential does) with /usr/bin/time -f %M. Not a test.
#   SIZE [4G]  MULT [4]  BENCH_DIR [/work/bench-rss]  SEGSYNC [build/segsync]
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-4G} MULT=${MULT:-4}
DIR=${BENCH_DIR:-/work/bench-rss}
SEGSYNC=${SEGSYNC:-$PWD/build/segsync}
GENDATA=${GENDATA:-$PWD/build/tools/gendata}
rm -rf "$DIR"; mkdir -p "$DIR"
trap 'rm -rf "$DIR"' EXIT
"$GENDATA" gen --seed 7 --size "$SIZE" "$DIR/src" >/dev/null
files=$(find "$DIR/src" -type f | wc -l)
measure() {   # LABEL
    rm -rf "$DIR/dst"; sync
    full=$(/usr/bin/time -f '%M %e' "$SEGSYNC" full --raw "$DIR/src" "$DIR/dst" 2>&1 >/dev/null | tail -1)
    ver=$(/usr/bin/time -f '%M %e' "$SEGSYNC" verify --raw "$DIR/src" "$DIR/dst" 2>&1 >/dev/null | tail -1)
    bytes=$(du -sb "$DIR/src" | cut -f1)
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$bytes" "$(find "$DIR/src" -type f | wc -l)" \
        "$(echo "$full" | awk '{printf "%.1f", $1/1024}')" "$(echo "$ver" | awk '{printf "%.1f", $1/1024}')"
}
printf 'tree\tbytes\tfiles\tfull_rss_MiB\tverify_rss_MiB\n'
measure 1x
# Grow the data, not the file count: (MULT-1)*SIZE more bytes in 1 GiB
# segment files of one relation, a handful of files more.
n=$(( (MULT - 1) * $(numfmt --from=iec "$SIZE") / 1073741824 ))
for i in $(seq 1 "$n"); do
    head -c 1G /dev/urandom > "$DIR/src/base/16384/99999.$i"
done
measure "${MULT}x"
echo "files in the 1x tree: $files" >&2
