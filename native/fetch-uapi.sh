#!/bin/bash
# Unpacks Debian sid's linux-libc-dev (Linux 7.x uAPI headers: iommufd.h, liveupdate.h, a current
# vfio.h) into .cache/uapi, for native/uapi-check.c. Nothing is installed: apt runs with its own
# sources list and state directories under .cache/apt-sid, so the machine's lists stay as they are.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/.cache/uapi
[ -f "$out/usr/include/linux/liveupdate.h" ] && { echo "$out"; exit 0; }
. "$root/lab/apt-private.sh"
apt_private sid "deb http://deb.debian.org/debian sid main"
(cd "$APT_DIR/debs" && rm -f linux-libc-dev_*.deb && apt-get "${APT_OPTS[@]}" download linux-libc-dev >/dev/null)
rm -rf "$out"; mkdir -p "$out"
dpkg-deb -x "$APT_DIR"/debs/linux-libc-dev_*.deb "$out"
echo "$out"
