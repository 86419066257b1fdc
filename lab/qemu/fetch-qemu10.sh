#!/bin/bash
# QEMU 10.0 from bookworm-backports for the LUO lab host, unpacked (not installed) into
# $LAB_CACHE/qemu-10: QEMU 7.2 (bookworm) cannot take iommufd or VFIO cdev fds from the helper;
# 9.0 and later can (-object iommufd,fd=N, -device vfio-pci,fd=M). The lab image puts it at
# /opt/qemu-10 beside the system's 7.2; QEMU finds its firmware and modules relative to its binary.
# apt runs with its own sources list and state under .cache/apt-bpo, so the machine's lists stay.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
C=${LAB_CACHE:-$(cd "$here/../.." && pwd)/.cache/lab}
Q=$C/qemu-10
log() { echo "[qemu-10 $(date +%T)] $*"; }
. "$here/../apt-private.sh"
apt_private bpo "deb http://deb.debian.org/debian bookworm-backports main"
A=$APT_DIR; O=("${APT_OPTS[@]}")
PKGS=(qemu-system-x86 qemu-system-common qemu-system-data seabios)
want=$(for p in "${PKGS[@]}"; do echo "$p=$(apt-cache "${O[@]}" show "$p/bookworm-backports" 2>/dev/null | sed -n 's/^Version: //p' | head -n1)"; done)
case "$want" in *"="$'\n'*|*=) echo "qemu-10: bookworm-backports lacks one of ${PKGS[*]}" >&2; exit 1 ;; esac
if [ -x "$Q/usr/bin/qemu-system-x86_64" ] && [ "$(cat "$Q/.versions" 2>/dev/null)" = "$want" ]; then log "cached: $(echo "$want" | head -n1)"; exit 0; fi
log "fetching $(echo "$want" | tr '\n' ' ')"
(cd "$A/debs" && rm -f ./*.deb && apt-get "${O[@]}" download $(for p in "${PKGS[@]}"; do echo "$p/bookworm-backports"; done) >/dev/null)
rm -rf "$Q"; mkdir -p "$Q"
for d in "$A"/debs/*.deb; do dpkg-deb -x "$d" "$Q"; done
rm -rf "$Q"/usr/share/doc "$Q"/usr/share/man
echo "$want" > "$Q/.versions"
log "unpacked into $Q"
