#!/bin/bash
# QEMU 10.0 from bookworm-backports for the LUO lab host, unpacked (not installed) into the lab
# store's entry qemu-10-KEY (lab/store.sh; KEY from the package versions), linked as
# $LAB_CACHE/qemu-10: QEMU 7.2 (bookworm) cannot take iommufd or VFIO cdev fds from the helper;
# 9.0 and later can (-object iommufd,fd=N, -device vfio-pci,fd=M). The lab image puts it at
# /opt/qemu-10 beside the system's 7.2; QEMU finds its firmware and modules relative to its binary.
# apt runs with its own sources list and state under .cache/apt-bpo, so the machine's lists stay.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
C=${LAB_CACHE:-$(cd "$here/../.." && pwd)/.cache/lab}
mkdir -p "$C"
log() { echo "[qemu-10 $(date +%T)] $*"; }
. "$here/../apt-private.sh"
. "$here/../store.sh"
apt_private bpo "deb http://deb.debian.org/debian bookworm-backports main"
A=$APT_DIR; O=("${APT_OPTS[@]}")
PKGS=(qemu-system-x86 qemu-system-common qemu-system-data seabios)
want=$(for p in "${PKGS[@]}"; do echo "$p=$(apt-cache "${O[@]}" show "$p/bookworm-backports" 2>/dev/null | sed -n 's/^Version: //p' | head -n1)"; done)
case "$want" in *"="$'\n'*|*=) echo "qemu-10: bookworm-backports lacks one of ${PKGS[*]}" >&2; exit 1 ;; esac
if store_get qemu-10 "$( (cat "$0"; echo "$want") | store_key)"; then store_link qemu-10; log "cached: $(echo "$want" | head -n1)"; exit 0; fi
Q=$STORE_TMP
log "fetching $(echo "$want" | tr '\n' ' ')"
(cd "$A/debs" && rm -f ./*.deb && apt-get "${O[@]}" download $(for p in "${PKGS[@]}"; do echo "$p/bookworm-backports"; done) >/dev/null)
for d in "$A"/debs/*.deb; do dpkg-deb -x "$d" "$Q"; done
rm -rf "$Q"/usr/share/doc "$Q"/usr/share/man
echo "$want" > "$Q/.versions"
store_put
store_link qemu-10
log "unpacked into $STORE_ENTRY"
