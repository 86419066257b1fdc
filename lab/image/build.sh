#!/bin/bash
# Build the lab host image from Debian's packages into the lab store (lab/store.sh), linked in this
# clone's $LAB_CACHE (default .cache/lab), reusing what is there.
# Kernel: Debian's current 6.1 cloud-independent amd64 image, resolved by apt at build time (not pinned).
# Two images from one root file system: `build.sh` (or `build.sh debian`) makes lab-base.ext4, the
# Debian host; `build.sh luo` makes lab-luo.ext4, the same host with the LUO lab kernel as
# /boot/vmlinuz-luo (lab/kernel/build.sh luo must have built it) and QEMU 10 as /opt/qemu-10 when
# lab/qemu/fetch-qemu10.sh fetched it; `build.sh pkernfs` makes lab-pkernfs.ext4, the Debian host with
# the pkernfs lab kernel (the RFC on 6.1, lab/kernel/build.sh pkernfs) as /boot/vmlinuz-pkernfs.
# The Debian image never waits for a lab kernel's long build.
# `build.sh rootfs` stops once the Debian root file system is there (for tests of the builder).
#
# Mounts: debootstrap mounts proc and sysfs inside the rootfs while it installs. This script unmounts
# everything under $LAB_CACHE on every exit path it can see (exit, error, Ctrl-C, SIGTERM), and at
# its next start sweeps what a SIGKILL left mounted, before it removes anything; removals never
# cross a mount point (rm --one-file-system, after a check that nothing is mounted below).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
C=${LAB_CACHE:-$(cd "$here/../.." && pwd)/.cache/lab}
mkdir -p "$C"/{debs,logs}
C=$(realpath "$C")
log() { echo "[lab-build $(date +%T)] $*"; }
# a line the caller (src/lab/lab.ts) shows as the cause of a failed build
fail() { echo "lab-build: $*" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
variant=${1:-debian}
case "$variant" in debian|luo|pkernfs|rootfs) ;; *) fail "unknown image '$variant': debian, luo, pkernfs or rootfs" ;; esac

# one build at a time per cache: the lock is held by this script and its children (debootstrap)
exec 9>>"$C/build.lock"
if ! flock -n 9; then
  fail "another lab image build is running on $C (holders: $(fuser "$C/build.lock" 2>/dev/null | xargs)); wait for it, or stop it"
fi

# mount points under $1, deepest first (findmnt escapes blanks as \x20: the cache path has none)
mounts_under() { findmnt -rn -o TARGET | awk -v d="$1/" 'index($0 "/", d) == 1 && $0 != d' | sort -r; }
# unmount everything under $1; $2 says whose mounts they are
unmount_under() {
  local m
  for m in $(mounts_under "$1"); do
    if umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; then log "unmounted $m ($2)"
    else fail "stale mount: $m ($2) could not be unmounted; unmount it by hand (umount -l $m), then build again"; fi
  done
}
# rm -rf that never leaves its file system, and refuses while anything is mounted below
remove_tree() {
  [ -e "$1" ] || return 0
  unmount_under "$1" "left below $1"
  [ -z "$(mounts_under "$1")" ] || fail "refusing to remove $1: something is still mounted below it"
  rm -rf --one-file-system "$1"
}
trap 'unmount_under "$C" "mounted by this build"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
unmount_under "$C" "left mounted by an interrupted earlier build"

need=()
for p in qemu-system-x86 qemu-utils busybox-static cpio kexec-tools kmod debootstrap openssh-client socat e2fsprogs python3 psmisc util-linux; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null
fi

R=$C/rootfs
# OpenSSH's sshd, as on a real hypervisor host (dropbear 2022.83 drops exec confirmations when
# several channels open and close at once, see src/host/ssh.ts); Debian 12's libvirt (9.0), whose
# daemon and libvirt-guests start on the hosts booted with systemd, as Debian's packages enable them (dbus and
# libpam-systemd: the system bus and logind its polkitd needs, which debootstrap does not resolve itself); Debian 12's nodejs (18.20): see below
INCLUDE=qemu-system-x86,qemu-utils,kexec-tools,openssh-server,busybox,kmod,pciutils,ndctl,socat,iproute2,udev,e2fsprogs,util-linux,systemd,dbus,libpam-systemd,libvirt-daemon-system,libvirt-clients,libvirt-daemon-driver-qemu,nodejs
if [ "$(cat "$R/.complete" 2>/dev/null)" != "$INCLUDE" ]; then
  log "debootstrap (about a minute)"
  remove_tree "$R"
  # packages are kept in a cache of their own, so a build after an interrupted one downloads nothing again
  mkdir -p "${DEBOOTSTRAP_CACHE:=${LIVEUPDATE_CACHE:-/var/cache/liveupdate}/lab/debootstrap-debs}"
  debootstrap --variant=minbase --cache-dir="$(realpath "$DEBOOTSTRAP_CACHE")" --include="$INCLUDE" bookworm "$R" > "$C/logs/debootstrap.log" 2>&1 \
    || { tail -5 "$C/logs/debootstrap.log" >&2; fail "debootstrap failed (log: $C/logs/debootstrap.log)"; }
  unmount_under "$R" "mounted by debootstrap"
  rm -rf --one-file-system "$R"/usr/share/doc "$R"/usr/share/man "$R"/usr/share/locale "$R"/var/cache/apt/archives/*.deb
  echo "$INCLUDE" > "$R/.complete"
fi
if [ "$variant" = rootfs ]; then log "rootfs done: $R"; exit 0; fi

. "$here/../store.sh"
# Debian's kernel (the Debian lab host boots it; its modules go into every image): the store's entry
# debian-kernel-KEY, KEY from the package's name and version
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1)
[ -n "$pkg" ] || { apt-get update -q >/dev/null; pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1); }
kv=${pkg#linux-image-}
if ! store_get debian-kernel "$( (echo "$pkg"; apt-cache show "$pkg" | sed -n 's/^Version: //p' | head -n1) | store_key)"; then
  log "kernel $kv"
  (cd "$C/debs" && rm -f linux-image-*.deb && { apt-get download -q "linux-image-$kv-unsigned" >/dev/null 2>&1 || apt-get download -q "$pkg" >/dev/null; })
  dpkg-deb -x "$(ls "$C"/debs/linux-image-"$kv"*_amd64.deb | head -n1)" "$STORE_TMP"
  depmod -b "$STORE_TMP" "$kv"
  echo "$kv" > "$STORE_TMP/kernel.release"
  store_put
fi
store_link kernel
store_link kernel.release kernel.release
KV=$(cat "$C/kernel.release")

# the lab's SSH keys, one set per store, so that an image any clone builds is the same image: the key
# root logs in with, and one host key for every image, made once, so the lab's known_hosts line is
# known before a host boots
mkdir -p "$LAB_STORE/locks"
(
  flock 6
  K=$LAB_STORE/ssh
  mkdir -p "$K"
  [ -f "$K/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C liveupdate-lab -f "$K/id_ed25519"
  [ -f "$K/host_ed25519_key" ] || { rm -f "$K/host_key.pub"; ssh-keygen -q -t ed25519 -N '' -C lab -f "$K/host_ed25519_key"; }
  [ -f "$K/host_key.pub" ] || cut -d' ' -f1,2 "$K/host_ed25519_key.pub" > "$K/host_key.pub"
) 6>"$LAB_STORE/locks/ssh.lock"
[ "$(readlink "$C/ssh" 2>/dev/null)" = "$LAB_STORE/ssh" ] || { rm -rf --one-file-system "$C/ssh"; ln -sfn "$LAB_STORE/ssh" "$C/ssh"; }
ln -sfn ssh/host_key.pub "$C/host_key.pub"
python3 "$here/counter-img.py" "$C/counter.img"

# the LUO image: the LUO lab kernel goes in as /boot/vmlinuz-luo (the kexec target)
# the pkernfs image: the pkernfs lab kernel as /boot/vmlinuz-pkernfs
# every image: QEMU 10 (bookworm-backports) as /opt/qemu-10 and QEMU 11 (trixie-backports, with its
# Debian 13 libraries) as /opt/qemu-11 beside Debian 12's 7.2, when lab/qemu/fetch-qemu1{0,1}.sh fetched them
LUO=$C/luo-kernel/bzImage
PKFS=$C/pkernfs-kernel/bzImage
Q10=$C/qemu-10
Q11=$C/qemu-11
# the image: the store's entry image-VARIANT-KEY (lab.ext4 and the initrd the Debian kernel boots
# with), linked in this clone as lab-base.ext4 (Debian), lab-luo.ext4 or lab-pkernfs.ext4, with its
# stamp (image.stamp, image-luo.stamp, image-pkernfs.stamp: there when the image is whole)
if [ "$variant" = luo ]; then
  [ -f "$LUO" ] || fail "no LUO lab kernel in $C/luo-kernel: build it first (bash lab/kernel/build.sh luo)"
  IMG=lab-luo.ext4; STAMP=image-luo.stamp
elif [ "$variant" = pkernfs ]; then
  [ -f "$PKFS" ] || fail "no pkernfs lab kernel in $C/pkernfs-kernel: build it first (bash lab/kernel/build.sh pkernfs)"
  IMG=lab-pkernfs.ext4; STAMP=image-pkernfs.stamp
else
  IMG=lab-base.ext4; STAMP=image.stamp
fi
key=$( (cat "$here"/*.sh "$here"/init* "$here"/*.py "$C/host_key.pub" "$here/../qemu/fetch-qemu11.sh" "$here/../store.sh"; echo "$KV"; cat "$Q10/.versions" "$Q11/.versions" 2>/dev/null || true
  if [ "$variant" = luo ]; then sha256sum < "$LUO"; fi
  if [ "$variant" = pkernfs ]; then sha256sum < "$PKFS"; fi) | store_key)
link_image() { store_link "$IMG" lab.ext4; store_link "$STAMP" .complete; [ "$variant" != debian ] || store_link initrd.img initrd.img; }
if store_get "image-$variant" "$key"; then link_image; log "image up to date: $STORE_ENTRY"; exit 0; fi

log "image: $STORE_ENTRY"
K=$C/kernel
MODS="virtio_pci virtio_blk virtio_net ext4 crc32c_generic nd_pmem nd_e820 dax_pmem device_dax e1000e vfio vfio_pci vfio_iommu_type1 kvm_intel kvm_amd tun"
remove_tree "$R/lib/modules"; mkdir -p "$R/lib/modules/$KV" "$R/boot" "$R/lab" "$R/root/.ssh" "$R/etc/ssh/sshd_config.d"
cp "$K/lib/modules/$KV"/modules.{order,builtin,builtin.modinfo} "$R/lib/modules/$KV/"
for m in $MODS; do modprobe -C /dev/null -d "$K" -S "$KV" --show-depends "$m" 2>/dev/null | awk '$1=="insmod"{print $2}'; done | sort -u | while read -r f; do
  rel=${f#"$K"/}; mkdir -p "$R/$(dirname "$rel")"; cp "$f" "$R/$rel"; done
depmod -b "$R" "$KV"
cp "$K/boot/vmlinuz-$KV" "$R/boot/vmlinuz"
# and by the names Debian's kernel package gives them (what `profile import` names on a Debian host)
ln -sfn vmlinuz "$R/boot/vmlinuz-$KV"; ln -sfn initrd.img "$R/boot/initrd.img-$KV"
rm -f "$R/boot/vmlinuz-luo" "$R/boot/vmlinuz-pkernfs"; remove_tree "$R/opt/qemu-10"; remove_tree "$R/opt/qemu-11"
if [ "$variant" = pkernfs ]; then cp "$PKFS" "$R/boot/vmlinuz-pkernfs"; fi
if [ "$variant" = luo ]; then cp "$LUO" "$R/boot/vmlinuz-luo"; fi
# Debian 12's own Node (18.20) on the Debian host's PATH: liveupdate runs its agent there with the
# host's Node and copies no runtime; the LUO and pkernfs hosts have it off PATH, so there the runtime
# liveupdate copies is what runs the agent, at boot too
if [ "$variant" = debian ]; then [ ! -e "$R/usr/bin/nodejs.off" ] || mv "$R/usr/bin/nodejs.off" "$R/usr/bin/nodejs"
else [ ! -e "$R/usr/bin/nodejs" ] || mv "$R/usr/bin/nodejs" "$R/usr/bin/nodejs.off"; fi
if [ -f "$Q10/.versions" ]; then mkdir -p "$R/opt/qemu-10" && cp -a "$Q10/usr" "$R/opt/qemu-10/"; fi
if [ -f "$Q11/.versions" ]; then
  mkdir -p "$R/opt/qemu-11" && cp -a "$Q11/usr" "$R/opt/qemu-11/"
  bash "$here/../qemu/fetch-qemu11.sh" relocate "$R/opt/qemu-11" /opt/qemu-11
fi
install -m755 "$here/init" "$R/sbin/lab-init"
cp "$C/counter.img" "$R/lab/counter.img"
cp "$C/ssh/id_ed25519.pub" "$R/root/.ssh/authorized_keys"; chmod 700 "$R/root/.ssh"; chmod 600 "$R/root/.ssh/authorized_keys"
rm -f "$R"/etc/ssh/ssh_host_*key*
install -m600 "$C/ssh/host_ed25519_key" "$R/etc/ssh/ssh_host_ed25519_key"
install -m644 "$C/ssh/host_ed25519_key.pub" "$R/etc/ssh/ssh_host_ed25519_key.pub"
cat > "$R/etc/ssh/sshd_config.d/lab.conf" <<'CONF'
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
CONF
sed -i 's|^root:[^:]*:|root:*:|' "$R/etc/shadow"
# Booted with lab.init=/lib/systemd/systemd (bootLab's init: 'systemd'), the same image runs systemd:
# networkd for the forwarded NIC, Debian's ssh.service, and a mark on the console once sshd is up.
# Nothing of liveupdate's is here: its agent install adds and enables liveupdate-resume.service.
echo lab > "$R/etc/hostname"
mkdir -p "$R/etc/systemd/network" "$R/etc/systemd/system/multi-user.target.wants"
printf '[Match]\nDriver=virtio_net\n\n[Network]\nAddress=10.0.2.15/24\nGateway=10.0.2.2\n' > "$R/etc/systemd/network/10-lab.network"
ln -sf /lib/systemd/system/systemd-networkd.service "$R/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
cat > "$R/etc/systemd/system/lab-mark.service" <<'UNIT'
[Unit]
Description=lab: say on the console that sshd is up (what bootLab waits for)
After=ssh.service
Wants=ssh.service

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "LAB-MARK sshd-started epoch-ms=$(date +%%s%%3N)" > /dev/ttyS0; echo "LAB-MARK ready uptime=$(cut -d" " -f1 /proc/uptime)" > /dev/ttyS0'

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/lab-mark.service "$R/etc/systemd/system/multi-user.target.wants/lab-mark.service"

I=$C/initramfs; remove_tree "$I"; mkdir -p "$I"/{bin,proc,sys,dev,newroot,m}
cp /bin/busybox "$I/bin/busybox"; for a in sh mount umount insmod switch_root cat seq sleep echo cut; do ln -s busybox "$I/bin/$a"; done
: > "$I/modlist"
for m in virtio_pci virtio_blk ext4 crc32c_generic; do modprobe -C /dev/null -d "$K" -S "$KV" --show-depends "$m" 2>/dev/null | awk '$1=="insmod"{print $2}'; done | awk '!s[$0]++' | while read -r f; do
  b=$(basename "$f"); [ -f "$I/m/$b" ] || { cp "$f" "$I/m/$b"; echo "$b" >> "$I/modlist"; }; done
install -m755 "$here/initramfs-init" "$I/init"
# replaced by a rename, never rewritten in place: a Debian lab host may be booting from it while the
# LUO image builds
(cd "$I" && find . | cpio -o -H newc --quiet | gzip -1) > "$STORE_TMP/initrd.img"
cp "$STORE_TMP/initrd.img" "$R/boot/initrd.img"
truncate -s 2048M "$STORE_TMP/lab.ext4"; mkfs.ext4 -q -F -L labroot -d "$R" "$STORE_TMP/lab.ext4"
store_put
link_image
log "done: $STORE_ENTRY"
