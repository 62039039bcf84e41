#!/bin/bash
# compress_ceiling.sh DIR [SAMPLE_MIB] — how small general-purpose compressors
# get the benchmark's data: the ceiling for any full copy over a slow link.
#
# Takes the first SAMPLE_MIB (default 32) of the largest regular file under
# DIR (a gendata tree: every page is alike in make-up, so a sample speaks
# for the tree), runs each compressor on it once and prints the compressed
# size as a fraction of the sample and the single-thread speed. A copy over
# a link of R bytes/s cannot finish in less than fraction * size / R, and a
# compressor slower than R per CPU cannot keep the link busy.
#
# Why there is a floor: gendata's pages (tests/tools/gendata.c fill_page)
# are 4,064 pseudo-random bytes plus an 8-byte check word, then 128 tuples
# of which only 11 bits each are random (an 8-bit field and one of eight
# texts): at least 4,248 of every 8,192 bytes (51.9%) are incompressible
# to a compressor that does not know the generator.
set -u -o pipefail
dir=${1:?usage: compress_ceiling.sh DIR [SAMPLE_MIB]}
mib=${2:-32}
[ -d "$dir" ] || { echo "compress_ceiling: $dir: not a directory" >&2; exit 2; }
f=$(find "$dir" -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
[ -n "$f" ] || { echo "compress_ceiling: no regular file under $dir" >&2; exit 2; }
sample=$(mktemp)
trap 'rm -f "$sample"' EXIT
head -c $((mib << 20)) "$f" > "$sample"
n=$(stat -c %s "$sample")
echo "sample: $n bytes of $f"
printf '%-28s %12s %9s %10s\n' compressor bytes fraction 'MB/s(1cpu)'
for c in "gzip -6" "zstd -1" "zstd -3" "zstd -9" "zstd -19" "zstd --ultra -22 --long=27" "xz -9e"; do
    command -v "${c%% *}" >/dev/null || { printf '%-28s %12s\n' "$c" "(not installed)"; continue; }
    t0=$(date +%s.%N)
    out=$($c -c < "$sample" | wc -c)
    t1=$(date +%s.%N)
    awk -v c="$c" -v o="$out" -v n="$n" -v a="$t0" -v b="$t1" \
        'BEGIN { printf "%-28s %12d %8.1f%% %10.1f\n", c, o, 100 * o / n, n / 1e6 / (b - a) }'
done
