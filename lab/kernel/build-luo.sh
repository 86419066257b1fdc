#!/bin/bash
# The LUO lab kernel: Debian's linux-source-7.2 (sid suite, fetched with an apt sources list of its
# own so the machine's lists stay as they are), x86_64_defconfig plus what live update needs
# (KEXEC_FILE, KEXEC_HANDOVER, LIVEUPDATE, memfd preservation, IOMMUFD, VFIO cdev) and the lab's
# drivers, all built in (no modules, no initrd). Cached in $LAB_CACHE/luo-kernel; rebuilt only when
# this script (the config) or the source version changes. About 13 minutes on 2 cores.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
C=${LAB_CACHE:-$(cd "$here/../.." && pwd)/.cache/lab}
K=$C/luo-kernel
mkdir -p "$K"
log() { echo "[luo-kernel $(date +%T)] $*"; }
export DEBIAN_FRONTEND=noninteractive

need=()
for p in gcc make flex bison bc libelf-dev libssl-dev xz-utils cpio; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then log "installing ${need[*]}"; apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; fi

. "$here/../apt-private.sh"
apt_private sid "deb http://deb.debian.org/debian sid main"
A=$APT_DIR; O=("${APT_OPTS[@]}")
ver=$(apt-cache "${O[@]}" show linux-source-7.2 | sed -n 's/^Version: //p' | head -n1)
stamp=$( (cat "$0"; echo "$ver") | sha256sum | cut -c1-16)
if [ -f "$K/bzImage" ] && [ "$(cat "$K/stamp" 2>/dev/null)" = "$stamp" ]; then log "cached: linux-source-7.2 $ver"; exit 0; fi

if [ ! -f "$K/src/.unpacked-$ver" ]; then
  log "fetching linux-source-7.2 $ver"
  (cd "$A/debs" && rm -f linux-source-7.2_*.deb && apt-get "${O[@]}" download linux-source-7.2 >/dev/null)
  rm -rf "$K/src" "$K/deb"; mkdir -p "$K/src"
  dpkg-deb -x "$A"/debs/linux-source-7.2_*.deb "$K/deb"
  tar -xf "$K"/deb/usr/src/linux-source-7.2.tar.xz -C "$K/src" --strip-components=1
  rm -rf "$K/deb"
  touch "$K/src/.unpacked-$ver"
fi

cd "$K/src"
make -s x86_64_defconfig
# built in: live update, IOMMU, VFIO, the lab's devices (virtio disk and net, e1000e), pmem and DAX
scripts/config \
  -e KEXEC -e KEXEC_FILE -e KEXEC_HANDOVER -e LIVEUPDATE -e LIVEUPDATE_MEMFD -e MEMFD_CREATE -e SHMEM \
  -e IOMMU_SUPPORT -e INTEL_IOMMU -e INTEL_IOMMU_SVM -e IRQ_REMAP -e IOMMUFD -e VFIO -e VFIO_PCI -e VFIO_DEVICE_CDEV -e VFIO_IOMMU_TYPE1 -e VFIO_GROUP -e VFIO_CONTAINER \
  -e PCI -e PCI_MSI -e VIRTIO -e VIRTIO_PCI -e VIRTIO_BLK -e VIRTIO_NET -e NET_VENDOR_INTEL -e E1000E \
  -e EXT4_FS -e DEVTMPFS -e DEVTMPFS_MOUNT -e TMPFS -e UNIX -e INET -e TUN \
  -e MEMORY_HOTPLUG -e MEMORY_HOTREMOVE -e ZONE_DEVICE -e X86_PMEM_LEGACY -e LIBNVDIMM -e BLK_DEV_PMEM -e ND_PFN -e FS_DAX -e DAX \
  -e SERIAL_8250 -e SERIAL_8250_CONSOLE -e KVM -e KVM_INTEL -e KVM_AMD \
  -d MODULES_SIG_ALL -d DEBUG_INFO -d DEBUG_INFO_BTF -d SYSTEM_TRUSTED_KEYRING -d IKHEADERS
make -s olddefconfig
missing=()
for o in KEXEC_FILE KEXEC_HANDOVER LIVEUPDATE LIVEUPDATE_MEMFD IOMMUFD VFIO_PCI VFIO_DEVICE_CDEV INTEL_IOMMU IRQ_REMAP VIRTIO_BLK VIRTIO_NET E1000E EXT4_FS BLK_DEV_PMEM FS_DAX; do
  grep -q "^CONFIG_$o=y" .config || missing+=("$o")
done
if [ ${#missing[@]} -gt 0 ]; then echo "luo-kernel: these did not end up built in: ${missing[*]}" >&2; exit 1; fi
log "building bzImage (about 13 minutes on 2 cores)"
make -s -j"$(nproc)" bzImage > "$K/build.log" 2>&1 || { tail -30 "$K/build.log" >&2; exit 1; }
cp arch/x86/boot/bzImage "$K/bzImage"
make -s kernelrelease > "$K/kernel.release"
cp .config "$K/config"
echo "$stamp" > "$K/stamp"
log "done: $K/bzImage ($(cat "$K/kernel.release"))"
