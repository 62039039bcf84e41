#!/bin/sh
# Install the Debian packages segsync needs to build and test, when missing.
set -e
PKGS="build-essential pkg-config liburing-dev libxxhash-dev libzstd-dev libpq-dev \
libssl-dev libcmocka-dev rsync postgresql-15 postgresql-client-15 clang \
libclang-rt-14-dev openssh-server openssh-client iproute2 procps time"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "deps: all packages present"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "deps: missing:$missing" >&2
    echo "deps: run as root: apt-get update && apt-get install -y$missing" >&2
    exit 1
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The Debian postgresql package starts a cluster on install; tests use their own.
apt-get install -y -qq --no-install-recommends $missing >/dev/null
