#!/bin/sh
# tests/pg32k/build.sh — a cached PostgreSQL 15 built with 32 KiB data pages
# and 32 KiB WAL pages (Greenplum's page size), for the integration tests
# that need real clusters of that shape (tests/integration/t_pg_32k.sh).
#
# Idempotent: does nothing when $PG32K_PREFIX/bin/postgres already exists.
# Otherwise (as root): adds a deb-src entry for bookworm (main; not
# -security, whose source pool this machine's mirror does not serve) in its
# own file under /etc/apt/sources.list.d/ (only when
# no deb-src entry for bookworm is configured yet), installs the few -dev
# packages configure needs for the options below, fetches Debian's
# postgresql-15 source package, builds the upstream tarball it carries
# (Debian's patches adapt paths to Debian's multi-version layout and are not
# needed here), with contrib/amcheck, installs into the prefix and removes
# the source tree. The install goes to a staging directory first and is
# moved into place at the end, so an interrupted build never leaves a
# half-installed prefix that looks complete.
#
# PG32K_PREFIX  install prefix (default /var/cache/segsync/pg15-32k). The
#               tree is world-readable: the servers run as the postgres user.
# PG32K_JOBS    make -j (default 2)
set -eu

PREFIX=${PG32K_PREFIX:-/var/cache/segsync/pg15-32k}
JOBS=${PG32K_JOBS:-2}
SRC_LIST=/etc/apt/sources.list.d/segsync-deb-src-bookworm.sources

if [ -x "$PREFIX/bin/postgres" ]; then
    echo "pg32k: already built in $PREFIX ($("$PREFIX/bin/postgres" --version))"
    exit 0
fi
[ "$(id -u)" = 0 ] || { echo "pg32k: error: run as root (installs packages, writes $PREFIX)" >&2; exit 1; }

# One build at a time (a test run may start it while another one is running).
mkdir -p "$(dirname "$PREFIX")"
exec 9>"$PREFIX.lock"
flock 9
if [ -x "$PREFIX/bin/postgres" ]; then
    echo "pg32k: built meanwhile in $PREFIX"
    exit 0
fi

T0=$(date +%s)
umask 022

# ---- sources ---------------------------------------------------------------
has_bookworm_src() {
    # deb822 files: a Types line with deb-src in a stanza naming bookworm;
    # one-line lists: "deb-src ... bookworm ...".
    for _f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$_f" ] && grep -Eq '^[[:space:]]*deb-src[[:space:]].*[[:space:]]bookworm([[:space:]]|$)' "$_f" && return 0
    done
    for _f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$_f" ] || continue
        awk 'BEGIN { RS = ""; IGNORECASE = 1 }
             /(^|\n)Types:[^\n]*deb-src/ && /(^|\n)Suites:[^\n]*bookworm([ \t\n]|$)/ { f = 1 }
             END { exit !f }' "$_f" && return 0
    done
    return 1
}
# Our own file is always rewritten (an older version of it may name suites
# the mirror does not serve); another deb-src entry is left alone.
rm -f "$SRC_LIST"
if ! has_bookworm_src; then
    echo "pg32k: adding $SRC_LIST"
    cat >"$SRC_LIST" <<'SRC'
# Added by segsync tests/pg32k/build.sh: Debian source packages (apt-get
# source postgresql-15) for the 32 KiB-page test server.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

# ---- build dependencies (only what configure needs for the options used) ---
# build-essential: cc, make; bison/flex: the release tarball ships the
# generated parsers, these only matter if make decides to regenerate one
# (small packages, cheap insurance);
# libreadline-dev: psql; zlib1g-dev: pg_basebackup -z, pg_dump;
# liblz4-dev/libzstd-dev: --with-lz4/--with-zstd (wal_compression and
# pg_basebackup compression, as Greenplum 7 builds have them); pkg-config:
# how configure finds lz4 and zstd; xz-utils/bzip2: the orig tarball.
# Only the missing ones are installed: installed packages are not upgraded
# behind the machine's back.
missing=""
for _p in build-essential bison flex libreadline-dev zlib1g-dev liblz4-dev libzstd-dev \
          pkg-config bzip2 xz-utils; do
    dpkg-query -W -f='${Status}' "$_p" 2>/dev/null | grep -q 'install ok installed' ||
        missing="$missing $_p"
done
apt-get update -qq
if [ -n "$missing" ]; then
    echo "pg32k: installing$missing"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# ---- source --------------------------------------------------------------
TMP=$(mktemp -d /var/tmp/segsync-pg32k.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM HUP
cd "$TMP"
# --download-only: the .dsc, orig tarball and Debian diff, no dpkg-source run
# (and so no dpkg-dev needed); apt runs as _apt, which must write here.
chmod 777 "$TMP"
apt-get source -qq --download-only postgresql-15
chmod 700 "$TMP"
ORIG=$(ls postgresql-15_*.orig.tar.* | head -n 1)
[ -n "$ORIG" ] || { echo "pg32k: error: no orig tarball in the source package" >&2; exit 1; }
echo "pg32k: building $ORIG into $PREFIX"
mkdir src
tar -xf "$ORIG" -C src --strip-components=1
cd src

./configure --prefix="$PREFIX" \
    --with-blocksize=32 --with-wal-blocksize=32 \
    --without-icu --without-llvm --with-lz4 --with-zstd \
    --enable-debug >"$TMP/configure.log" 2>&1 ||
    { tail -n 40 "$TMP/configure.log"; echo "pg32k: error: configure failed" >&2; exit 1; }
make -s -j"$JOBS" >"$TMP/make.log" 2>&1 ||
    { tail -n 40 "$TMP/make.log"; echo "pg32k: error: make failed" >&2; exit 1; }
make -s -j"$JOBS" -C contrib/amcheck >>"$TMP/make.log" 2>&1 ||
    { tail -n 40 "$TMP/make.log"; echo "pg32k: error: make contrib/amcheck failed" >&2; exit 1; }

STAGE=$TMP/stage
make -s install DESTDIR="$STAGE" >"$TMP/install.log" 2>&1 &&
    make -s -C contrib/amcheck install DESTDIR="$STAGE" >>"$TMP/install.log" 2>&1 ||
    { tail -n 40 "$TMP/install.log"; echo "pg32k: error: make install failed" >&2; exit 1; }
VERSION=$(sed -n 's/^PACKAGE_VERSION=.\([^'"'"']*\).*/\1/p' configure | head -n 1)
cat >"$STAGE$PREFIX/BUILD_INFO" <<INFO
PostgreSQL $VERSION from $ORIG (Debian source package postgresql-15)
configure --with-blocksize=32 --with-wal-blocksize=32 --without-icu --without-llvm --with-lz4 --with-zstd --enable-debug
built $(date -u +%Y-%m-%dT%H:%M:%SZ) by tests/pg32k/build.sh in $(( $(date +%s) - T0 )) s
INFO
rm -rf "$PREFIX"
mv "$STAGE$PREFIX" "$PREFIX"
chmod -R a+rX "$PREFIX"

echo "pg32k: installed $("$PREFIX/bin/postgres" --version) in $PREFIX in $(( $(date +%s) - T0 )) s"
