#!/bin/sh
# Build and run libFuzzer targets: sh tests/run_fuzz.sh tests/fuzz/fuzz_*.c
#
# Each target is built with clang (ASan + UBSan + libFuzzer) together with
# every engine source, then run for ${FUZZ_SECONDS:-30} seconds on a corpus
# kept in build-fuzz/<name>/corpus (seeded by the target itself when it
# supports -DFUZZ_SEED_MAIN). Crash inputs land in build-fuzz/<name>/.
# Exits non-zero when a target fails to build or a fuzzer finds a crash.
set -u
CC_FUZZ=${CC_FUZZ:-clang}
SECONDS_PER=${FUZZ_SECONDS:-30}
OUT=build-fuzz
PKGS="liburing libxxhash libzstd libpq libcrypto"

if [ $# -eq 0 ]; then
    echo "fuzz: no targets given"
    exit 0
fi
if ! command -v "$CC_FUZZ" >/dev/null 2>&1; then
    echo "fuzz: $CC_FUZZ not found (apt-get install clang)" >&2
    exit 1
fi

CFLAGS_PKG=$(pkg-config --cflags $PKGS)
# libpq: headers only, loaded at run time (engine/pg/pqlib.h)
LIBS_PKG="$(pkg-config --libs liburing libxxhash libzstd libcrypto) -ldl"
ENGINE_SRC=$(ls engine/*.c engine/pg/*.c engine/net/*.c 2>/dev/null)
BASE="-g -O1 -std=c11 -D_GNU_SOURCE -I. -pthread -fno-omit-frame-pointer"

# The engine once, as an archive: a target links only the objects it uses.
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
OBJ=$OUT/obj
rm -rf "$OBJ"
mkdir -p "$OBJ"
objs=""
for c in $ENGINE_SRC; do
    o=$OBJ/$(echo "$c" | tr / _ | sed 's/\.c$/.o/')
    # shellcheck disable=SC2086
    if ! "$CC_FUZZ" $BASE $SAN -fsanitize=fuzzer-no-link $CFLAGS_PKG -c "$c" -o "$o" 2>"$o.log"; then
        echo "fuzz: $c does not compile with $CC_FUZZ:" >&2
        cat "$o.log" >&2
        exit 1
    fi
    objs="$objs $o"
done
rm -f "$OUT/libengine.a"
# shellcheck disable=SC2086
ar rcs "$OUT/libengine.a" $objs

failed=0
for src in "$@"; do
    name=$(basename "$src" .c)
    dir=$OUT/$name
    mkdir -p "$dir/corpus"
    echo "fuzz: building $name"
    # shellcheck disable=SC2086
    if ! "$CC_FUZZ" $BASE -fsanitize=fuzzer $SAN $CFLAGS_PKG -o "$dir/$name" "$src" \
            "$OUT/libengine.a" $LIBS_PKG; then
        echo "fuzz: $name: build failed" >&2
        failed=1
        continue
    fi
    if grep -q FUZZ_SEED_MAIN "$src"; then
        # shellcheck disable=SC2086
        if "$CC_FUZZ" $BASE -DFUZZ_SEED_MAIN -fsanitize=fuzzer-no-link $SAN $CFLAGS_PKG \
                -o "$dir/$name-seed" "$src" "$OUT/libengine.a" $LIBS_PKG; then
            "$dir/$name-seed" "$dir/corpus" || echo "fuzz: $name: seeding failed" >&2
        else
            echo "fuzz: $name: seed writer did not build; starting from an empty corpus" >&2
        fi
    fi
    echo "fuzz: running $name for ${SECONDS_PER}s"
    if "$dir/$name" -max_total_time="$SECONDS_PER" -timeout=10 -rss_limit_mb=2048 \
            -max_len=16384 -print_final_stats=1 -artifact_prefix="$dir/" \
            "$dir/corpus" >"$dir/log" 2>&1; then
        grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)" "$dir/log" |
            sed "s/^/fuzz: $name: /"
    else
        echo "fuzz: $name: FAILED; see $dir/log and the crash-* input in $dir/" >&2
        grep -E "ERROR|SUMMARY|runtime error" "$dir/log" | head -n 5 >&2
        failed=1
    fi
done
[ "$failed" = 0 ]
