#!/bin/sh
# Installs the Debian 12 packages ctrprof needs to build and test. Idempotent; uses sudo
# when not run as root.
set -e
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
PKGS="build-essential pkg-config clang libclang-rt-14-dev libunwind-dev libdw-dev libelf-dev \
zlib1g-dev libzstd-dev zstd libcmocka-dev golang-go python3 sqlite3 git perl make valgrind binutils g++ xz-utils \
memcached libjemalloc2 libgoogle-perftools4 time chromium libc6-dbg libmicrohttpd-dev \
prometheus curl libncurses-dev tmux clang-format libboost-context-dev"
# `make bench` also needs the peers it compares against and a plotter.
[ "${1:-}" = --bench ] && PKGS="$PKGS heaptrack gnuplot-nox google-perftools rocksdb-tools"
# node: the image may bring its own; Debian's otherwise.
command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
missing=
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "deps: installing$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# The Debian memcached and prometheus packages start system services; the tests run their own.
if [ -n "$missing" ] && command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now memcached >/dev/null 2>&1 || true
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
echo "deps: ok"
