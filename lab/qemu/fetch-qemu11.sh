#!/bin/bash
# QEMU 11.1 from trixie-backports, unpacked (not installed) into the lab store's entry qemu-11-KEY
# (lab/store.sh; KEY from the package version), linked as $LAB_CACHE/qemu-11, with the Debian 13
# libraries it runs on: it needs glibc 2.38+, and the lab host and this machine are Debian 12 (2.36).
# apt resolves the whole dependency closure against an empty package database (trixie, trixie-backports),
# every package is unpacked into one tree, and the QEMU binary is pointed at that tree's dynamic loader
# and libraries (patchelf: its ELF interpreter and RPATH), so it runs beside the system's 7.2 and
# QEMU 10, and finds its firmware relative to itself as an installed QEMU does. `relocate DIR` (below)
# points it at DIR: the lab image build calls it for /opt/qemu-11.
# apt runs with its own sources list and state under .cache/apt-trixie, so the machine's lists stay.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
C=${LAB_CACHE:-$(cd "$here/../.." && pwd)/.cache/lab}
mkdir -p "$C"
log() { echo "[qemu-11 $(date +%T)] $*"; }
# relocate TREE DIR: TREE's QEMU loads its loader and libraries from DIR (where TREE will be)
relocate() {
  patchelf --set-interpreter "$2/usr/lib64/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$2/usr/lib/x86_64-linux-gnu" "$1/usr/bin/qemu-system-x86_64"
}
if [ "${1:-}" = relocate ]; then relocate "$2" "$3"; exit 0; fi
command -v patchelf >/dev/null || { echo "qemu-11: patchelf is missing (apt-get install patchelf)" >&2; exit 1; }
. "$here/../apt-private.sh"
. "$here/../store.sh"
apt_private trixie "deb http://deb.debian.org/debian trixie main
deb http://deb.debian.org/debian trixie-backports main"
A=$APT_DIR; O=("${APT_OPTS[@]}" -o Dir::State::status=/dev/null -o Debug::NoLocking=1 -o APT::Install-Recommends=false)
want=$(apt-cache "${O[@]}" show qemu-system-x86/trixie-backports 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
[ -n "$want" ] || { echo "qemu-11: trixie-backports has no qemu-system-x86" >&2; exit 1; }
if store_get qemu-11 "$( (cat "$0"; echo "$want") | store_key)"; then store_link qemu-11; log "cached: qemu-system-x86=$want"; exit 0; fi
Q=$STORE_TMP
log "fetching qemu-system-x86=$want and the Debian 13 libraries it needs"
rm -f "$A"/cache/archives/*.deb
apt-get "${O[@]}" -t trixie-backports install --download-only -y qemu-system-x86 >/dev/null
mkdir -p "$Q/unpacked"
for d in "$A"/cache/archives/*.deb; do dpkg-deb -x "$d" "$Q/unpacked"; done
mv "$Q/unpacked/usr" "$Q/usr" && rm -rf "$Q/unpacked"
rm -rf "$Q"/usr/share/doc "$Q"/usr/share/man "$Q"/usr/share/locale
relocate "$Q" "$Q"
v=$("$Q/usr/bin/qemu-system-x86_64" --version | head -n1)
case "$v" in "QEMU emulator version 11."*) ;; *) echo "qemu-11: the unpacked QEMU does not run: $v" >&2; exit 1 ;; esac
relocate "$Q" "$STORE_ENTRY"
echo "$want" > "$Q/.versions"
store_put
store_link qemu-11
log "unpacked into $STORE_ENTRY: $v"
