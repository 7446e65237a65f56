#!/bin/sh
# Installs what building and testing must needs on Debian 12, when missing.
# Run as root (or with sudo).  Does nothing when everything is there.
set -e
# libxml2-dev is optional for must (configure leaves `must import voc` out
# without it), and so is Open MPI (configure --with-mpi: `mpirun -np N must
# ...`, docs/scale-out.md), but CI builds and tests everything.  man-db and
# groff-base: tests/man_pages.sh renders the manual pages with man and fails
# without it.
pkgs="build-essential autoconf automake libtool pkg-config libopenblas-dev libpng-dev \
libjpeg62-turbo-dev libinih-dev libjansson-dev check libxml2-dev man-db groff-base \
libopenmpi-dev openmpi-bin"
# `deps.sh reliability` adds what tools/reliability.sh needs beyond the
# build: valgrind for its memcheck run, clang and libFuzzer for its fuzz
# smoke (the demo and the plain suite need none of them).  libclang-rt-14-dev
# holds clang's ASan, UBSan and libFuzzer runtimes: only a Recommends of
# clang's, which --no-install-recommends leaves out.
for group in "$@"; do
    case $group in
    reliability) pkgs="$pkgs valgrind clang libfuzzer-14-dev libclang-rt-14-dev" ;;
    *) echo "deps.sh: unknown group '$group' (known: reliability)" >&2; exit 2 ;;
    esac
done
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "deps.sh: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
fi
