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
