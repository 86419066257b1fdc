#!/bin/bash
# A lab kernel, small: `make allnoconfig` plus exactly what the lab needs (lab.config, then NAME.config),
# everything built in (no modules, no initrd); every =y line of those fragments is checked in the
# final .config, so a symbol whose dependencies went missing fails the build instead of the boot.
#   build.sh luo      Debian's linux-source-7.2 (sid, fetched with an apt sources list of its own so the
#                     machine's lists stay as they are): KHO, LUO with memfd preservation, iommufd.
#   build.sh pkernfs  Debian 12's linux-source-6.1 with the pkernfs RFC patch (lab/kernel/pkernfs/).
# Output: the lab store's entry NAME-kernel-KEY (lab/store.sh), KEY from this script, the fragments,
# the patches and the source package's version, linked as $LAB_CACHE/NAME-kernel: bzImage, config,
# kernel.release, build.log. Built once per machine for each KEY; the source tree is removed after.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
name=${1:?usage: build.sh luo|pkernfs}
patches=()
case "$name" in
  luo) src_pkg=linux-source-7.2; apt_name=sid; suite="deb http://deb.debian.org/debian sid main" ;;
  pkernfs) src_pkg=linux-source-6.1; apt_name=bookworm; suite="deb http://deb.debian.org/debian bookworm main"
    patches=("$here/pkernfs/pkernfs-rfc-6.1-port.patch") ;;
  *) echo "lab-kernel: no lab kernel named '$name' (known: luo, pkernfs)" >&2; exit 64 ;;
esac
C=${LAB_CACHE:-$(cd "$here/../.." && pwd)/.cache/lab}
mkdir -p "$C"
log() { echo "[$name-kernel $(date +%T)] $*"; }
fail() { echo "lab-kernel: $*" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

need=()
for p in gcc make flex bison bc libelf-dev libssl-dev xz-utils cpio; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then log "installing ${need[*]}"; apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; fi

. "$here/../apt-private.sh"
. "$here/../store.sh"
apt_private "$apt_name" "$suite"
A=$APT_DIR; O=("${APT_OPTS[@]}")
ver=$(apt-cache "${O[@]}" show "$src_pkg" | sed -n 's/^Version: //p' | head -n1)
[ -n "$ver" ] || fail "$src_pkg is not in $suite"
frags=("$here/lab.config" "$here/$name.config")
key=$( (cat "$0" "${frags[@]}" "${patches[@]}"; echo "$src_pkg $ver") | store_key)
if store_get "$name-kernel" "$key"; then store_link "$name-kernel"; log "cached: $src_pkg $ver ($(cat "$STORE_ENTRY/kernel.release"))"; exit 0; fi
K=$STORE_TMP

log "fetching $src_pkg $ver"
(cd "$A/debs" && rm -f "${src_pkg}"_*.deb && apt-get "${O[@]}" download "$src_pkg" >/dev/null)
mkdir -p "$K/src"
dpkg-deb -x "$A/debs/${src_pkg}_"*.deb "$K/deb"
tar -xf "$K/deb/usr/src/$src_pkg.tar.xz" -C "$K/src" --strip-components=1
rm -rf --one-file-system "$K/deb"
for p in "${patches[@]}"; do
  log "applying $(basename "$p")"
  # a reject is a failure (the port was made on another 6.1.x); an offset or fuzz is reported and fine
  (cd "$K/src" && patch -p1 --forward --no-backup-if-mismatch -r - < "$p") > "$K/patch.log" 2>&1 || { cat "$K/patch.log" >&2; fail "$(basename "$p") does not apply to $src_pkg $ver (log above)"; }
done

cd "$K/src"
cat "${frags[@]}" > "$K/fragment.config"
KCONFIG_ALLCONFIG="$K/fragment.config" make -s allnoconfig
missing=$(grep -E '^CONFIG_[A-Z0-9_]+=y$' "$K/fragment.config" | while read -r line; do grep -qx "$line" .config || echo "${line%=y}"; done)
[ -z "$missing" ] || fail "these did not end up built in (a dependency is missing from the fragments): $(echo $missing)"
log "building bzImage ($(grep -c '=y$' .config) options; about 11 minutes on 2 cores)"
t0=$(date +%s)
make -s -j"$(nproc)" bzImage > "$K/build.log" 2>&1 || { tail -30 "$K/build.log" >&2; fail "make bzImage failed (log: $K/build.log)"; }
cp arch/x86/boot/bzImage "$K/bzImage"
make -s kernelrelease > "$K/kernel.release"
cp .config "$K/config"
cd "$K" && rm -rf --one-file-system "$K/src"
store_put
store_link "$name-kernel"
log "done in $(( $(date +%s) - t0 )) s: $STORE_ENTRY/bzImage ($(cat "$STORE_ENTRY/kernel.release"))"
