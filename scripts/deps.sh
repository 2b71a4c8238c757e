#!/bin/sh
# Installs the Debian 12 packages ctrprof needs to build and test. Idempotent; uses sudo
# when not run as root.
set -e
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
PKGS="build-essential pkg-config clang libclang-rt-14-dev libunwind-dev libdw-dev libelf-dev \
zlib1g-dev libcmocka-dev golang-go python3 sqlite3 git perl make valgrind binutils"
missing=
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "deps: installing$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
echo "deps: ok"
