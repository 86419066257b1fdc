#!/bin/bash
# Unpacks Debian sid's linux-libc-dev (Linux 7.x uAPI headers: iommufd.h, liveupdate.h, a current
# vfio.h) into .cache/uapi, for native/uapi-check.c. Nothing is installed: apt runs with its own
# sources list and state directories under .cache/apt-sid, so the machine's lists stay as they are.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/.cache/uapi
[ -f "$out/usr/include/linux/liveupdate.h" ] && { echo "$out"; exit 0; }
A=$root/.cache/apt-sid
mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$A/debs"
echo "deb http://deb.debian.org/debian sid main" > "$A/sources.list"
O=(-o Dir::Etc::SourceList="$A/sources.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$A/lists" -o Dir::Cache="$A/cache" -o APT::Sandbox::User=root -q)
apt-get "${O[@]}" update >/dev/null
(cd "$A/debs" && rm -f linux-libc-dev_*.deb && apt-get "${O[@]}" download linux-libc-dev >/dev/null)
rm -rf "$out"; mkdir -p "$out"
dpkg-deb -x "$A"/debs/linux-libc-dev_*.deb "$out"
echo "$out"
