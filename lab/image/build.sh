#!/bin/bash
# Build the lab host image from Debian's packages into $LAB_CACHE (default .cache/lab), reusing what is there.
# Kernel: Debian's current 6.1 cloud-independent amd64 image, resolved by apt at build time (not pinned).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
C=${LAB_CACHE:-$(cd "$here/../.." && pwd)/.cache/lab}
mkdir -p "$C"/{debs,logs}
log() { echo "[lab-build $(date +%T)] $*"; }
export DEBIAN_FRONTEND=noninteractive

need=()
for p in qemu-system-x86 qemu-utils busybox-static cpio kexec-tools kmod debootstrap openssh-client socat e2fsprogs python3; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null
fi

if [ ! -f "$C/kernel.release" ]; then
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1)
  [ -n "$pkg" ] || { apt-get update -q >/dev/null; pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1); }
  kv=${pkg#linux-image-}
  log "kernel $kv"
  rm -rf "$C/kernel"; (cd "$C/debs" && apt-get download -q "linux-image-$kv-unsigned" >/dev/null 2>&1 || apt-get download -q "$pkg" >/dev/null)
  dpkg-deb -x "$(ls "$C"/debs/linux-image-"$kv"*_amd64.deb | head -n1)" "$C/kernel"
  depmod -b "$C/kernel" "$kv"
  echo "$kv" > "$C/kernel.release"
fi
KV=$(cat "$C/kernel.release")

[ -f "$C/ssh/id_ed25519" ] || { mkdir -p "$C/ssh"; ssh-keygen -q -t ed25519 -N '' -C liveupdate-lab -f "$C/ssh/id_ed25519"; }
python3 "$here/counter-img.py" "$C/counter.img"

R=$C/rootfs
# OpenSSH's sshd, as on a real hypervisor host (dropbear 2022.83 drops exec confirmations when
# several channels open and close at once, see src/host/ssh.ts)
INCLUDE=qemu-system-x86,qemu-utils,kexec-tools,openssh-server,busybox,kmod,pciutils,ndctl,socat,iproute2,udev,e2fsprogs,util-linux
if [ "$(cat "$R/.complete" 2>/dev/null)" != "$INCLUDE" ]; then
  log "debootstrap (about a minute)"
  rm -rf "$R"
  debootstrap --variant=minbase --include="$INCLUDE" bookworm "$R" > "$C/logs/debootstrap.log" 2>&1
  rm -rf "$R"/usr/share/doc "$R"/usr/share/man "$R"/usr/share/locale "$R"/var/cache/apt/archives/*.deb
  echo "$INCLUDE" > "$R/.complete"
fi

# the LUO lab kernel (lab/kernel/build-luo.sh), when built, goes in as /boot/vmlinuz-luo: the kexec target
LUO=$C/luo-kernel/bzImage
# QEMU 10 from bookworm-backports (lab/qemu/fetch-qemu10.sh), when fetched, goes in as /opt/qemu-10
Q10=$C/qemu-10
stamp=$( (cat "$here"/*.sh "$here"/init* "$here"/*.py; echo "$KV"; if [ -f "$LUO" ]; then sha256sum < "$LUO"; fi; cat "$Q10/.versions" 2>/dev/null || true) | sha256sum | cut -c1-16)
if [ -f "$C/lab-base.ext4" ] && [ "$(cat "$C/image.stamp" 2>/dev/null)" = "$stamp" ]; then log "image up to date"; exit 0; fi

log "image"
K=$C/kernel
MODS="virtio_pci virtio_blk virtio_net ext4 crc32c_generic nd_pmem nd_e820 dax_pmem device_dax e1000e vfio vfio_pci vfio_iommu_type1 kvm_intel kvm_amd tun"
rm -rf "$R/lib/modules"; mkdir -p "$R/lib/modules/$KV" "$R/boot" "$R/lab" "$R/root/.ssh" "$R/etc/ssh/sshd_config.d"
cp "$K/lib/modules/$KV"/modules.{order,builtin,builtin.modinfo} "$R/lib/modules/$KV/"
for m in $MODS; do modprobe -C /dev/null -d "$K" -S "$KV" --show-depends "$m" 2>/dev/null | awk '$1=="insmod"{print $2}'; done | sort -u | while read -r f; do
  rel=${f#"$K"/}; mkdir -p "$R/$(dirname "$rel")"; cp "$f" "$R/$rel"; done
depmod -b "$R" "$KV"
cp "$K/boot/vmlinuz-$KV" "$R/boot/vmlinuz"
rm -f "$R/boot/vmlinuz-luo"; if [ -f "$LUO" ]; then cp "$LUO" "$R/boot/vmlinuz-luo"; fi
rm -rf "$R/opt/qemu-10"; if [ -f "$Q10/.versions" ]; then mkdir -p "$R/opt/qemu-10" && cp -a "$Q10/usr" "$R/opt/qemu-10/"; fi
install -m755 "$here/init" "$R/sbin/lab-init"
cp "$C/counter.img" "$R/lab/counter.img"
cp "$C/ssh/id_ed25519.pub" "$R/root/.ssh/authorized_keys"; chmod 700 "$R/root/.ssh"; chmod 600 "$R/root/.ssh/authorized_keys"
# one host key, made here, so the lab's known_hosts line is known before it boots
rm -f "$R"/etc/ssh/ssh_host_*key*
ssh-keygen -q -t ed25519 -N '' -C lab -f "$R/etc/ssh/ssh_host_ed25519_key"
cut -d' ' -f1,2 "$R/etc/ssh/ssh_host_ed25519_key.pub" > "$C/host_key.pub"
cat > "$R/etc/ssh/sshd_config.d/lab.conf" <<'CONF'
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
CONF
sed -i 's|^root:[^:]*:|root:*:|' "$R/etc/shadow"

I=$C/initramfs; rm -rf "$I"; mkdir -p "$I"/{bin,proc,sys,dev,newroot,m}
cp /bin/busybox "$I/bin/busybox"; for a in sh mount umount insmod switch_root cat seq sleep echo cut; do ln -s busybox "$I/bin/$a"; done
: > "$I/modlist"
for m in virtio_pci virtio_blk ext4 crc32c_generic; do modprobe -C /dev/null -d "$K" -S "$KV" --show-depends "$m" 2>/dev/null | awk '$1=="insmod"{print $2}'; done | awk '!s[$0]++' | while read -r f; do
  b=$(basename "$f"); [ -f "$I/m/$b" ] || { cp "$f" "$I/m/$b"; echo "$b" >> "$I/modlist"; }; done
install -m755 "$here/initramfs-init" "$I/init"
(cd "$I" && find . | cpio -o -H newc --quiet | gzip -1) > "$C/initrd.img"
cp "$C/initrd.img" "$R/boot/initrd.img"
rm -f "$C/lab-base.ext4"; truncate -s 1536M "$C/lab-base.ext4"; mkfs.ext4 -q -F -L labroot -d "$R" "$C/lab-base.ext4"
echo "$stamp" > "$C/image.stamp"
log "done: $C/lab-base.ext4"
