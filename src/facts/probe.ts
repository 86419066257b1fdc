import { IMAGE_IDENTITY_SCRIPT } from '../kernel-image.js';

/**
 * One shell script gathers every fact in a single round trip: over SSH that is one channel,
 * not one per file. Its output is sections `@@ name` followed by raw file text.
 * Paths and binaries are passed as positional arguments, never spliced into the script.
 */
export const PROBE_SCRIPT = `
sec() { printf '\\n@@ %s\\n' "$1"; }
sec hostname; cat /proc/sys/kernel/hostname
sec kernel_release; cat /proc/sys/kernel/osrelease
sec boot_id; cat /proc/sys/kernel/random/boot_id
sec cmdline; cat /proc/cmdline
sec kernel_version; cat /proc/sys/kernel/version
# the build string of the kernel the profile loads (is it the one running already?)
[ -z "$KIMG" ] || { sec kernel_image; sh -c "$KIMG_ID" sh "$KIMG" 2>/dev/null; }
sec iomem; cat /proc/iomem
sec meminfo; cat /proc/meminfo
sec mounts; cat /proc/mounts
sec filesystems; cat /proc/filesystems
sec kexec_loaded; cat /sys/kernel/kexec_loaded 2>/dev/null
sec bootloader
if command -v grubby >/dev/null 2>&1; then echo grubby
elif [ -f /etc/default/grub ] && command -v update-grub >/dev/null 2>&1; then echo grub
elif [ -f /etc/kernel/cmdline ] || { command -v kernel-install >/dev/null 2>&1 && command -v bootctl >/dev/null 2>&1; }; then echo systemd-boot
else echo unknown; fi
sec numa
for n in /sys/devices/system/node/node[0-9]*; do
  [ -d "$n" ] || continue
  printf '%s %s %s\\n' "\${n##*node}" "$(cat "$n/cpulist" 2>/dev/null)" "$(sed -n 's/.*MemTotal: *\\([0-9]*\\) kB/\\1/p' "$n/meminfo" 2>/dev/null)"
done
sec pmem
for b in /sys/block/pmem*; do
  [ -e "$b" ] || continue
  d=$(readlink -f "$b/device" 2>/dev/null)
  printf '%s %s %s %s %s\\n' "\${b##*/}" "$(cat "$b/size")" "$(cat "$d/mode" 2>/dev/null || echo -)" "\${d##*/}" "$(cat "$d/resource" 2>/dev/null || echo -)"
done
sec pci
for d in /sys/bus/pci/devices/*; do
  [ -e "$d" ] || continue
  drv=$(readlink "$d/driver" 2>/dev/null); grp=$(readlink "$d/iommu_group" 2>/dev/null)
  printf '%s %s %s %s %s\\n' "\${d##*/}" "$(cat "$d/vendor")" "$(cat "$d/device")" "\${drv##*/}" "\${grp##*/}"
done
sec devices
ls /dev/vfio 2>/dev/null | sed 's/^/vfio /'
[ -c /dev/iommu ] && echo iommu
[ -c /dev/liveupdate ] && echo liveupdate
[ -c /dev/kvm ] && echo kvm
sec qemu
# each binary and VM name is a variable of its own (QEMU_0.., VM_0..): never split, never expanded
each() { j=0; while [ "$j" -lt "$1" ]; do eval "it=\\$$2_$j"; j=$((j+1)); "$3" "$it"; done; }
version() { case $1 in /*) v=$("$1" --version 2>/dev/null | head -n 1) ;; *) v= ;; esac; printf '%s\\t%s\\n' "$1" "$v"; }
each "$QEMU_N" QEMU version
sec machines
machines() { case $1 in /*) "$1" -machine help 2>/dev/null | while IFS= read -r l; do printf '%s\\t%s\\n' "$1" "$l"; done ;; esac; }
each "$QEMU_N" QEMU machines
probed() { k=0; while [ "$k" -lt "$QEMU_N" ]; do eval "b=\\$QEMU_$k"; k=$((k+1)); [ "$b" = "$1" ] && return 0; done; return 1; }
vm() {
  n=$1; pf=$2
  p=$(cat "$pf" 2>/dev/null) || return 0
  case $p in ''|*[!0-9]*) return 0 ;; esac
  # liveupdate started it: its -pidfile is the VM's, or the one a cpr-transfer's new QEMU started with (in the VM's folder)
  f=$(tr '\\0' '\\n' < "/proc/$p/cmdline" 2>/dev/null | sed -n '/^-pidfile$/{n;p;q;}')
  case $f in "$pf"|"\${pf%/*}/qemu-cpr-"*.pid) ;; *) return 0 ;; esac
  o=$(tr '\\0' '\\n' < "/proc/$p/cmdline" | sed -n '/^-machine$/{n;p;q;}; /^-M$/{n;p;q;}'); m=\${o%%,*}
  e=$(readlink "/proc/$p/exe")
  # a QEMU run from one of the binaries just probed answers as that binary did: '=' (each QEMU run
  # costs seconds on a loaded or emulated host); only another or a deleted executable is asked itself
  if probed "$e"; then printf '%s\\t%s\\t%s\\t=\\t%s\\t=\\t%s\\n' "$n" "$p" "$e" "$m" "$o"
  else printf '%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$n" "$p" "$e" "$("/proc/$p/exe" --version 2>/dev/null | head -n 1)" "$m" \\
         "$("/proc/$p/exe" -machine help 2>/dev/null | grep -m1 "^$m ")" "$o"
  fi
}
# libvirt: the daemon's version, qemu.conf's memory_backing_dir, the running domains, and per domain (LVD_0..) its state, id,
# emulator's version, RAM files, and migratable XML (base64: one line, whatever it holds)
libvirt() {
  if ! command -v virsh >/dev/null 2>&1; then printf 'virsh\\t-\\n'; return 0; fi
  printf 'virsh\\t%s\\n' "$(virsh -c "$LV_URI" version 2>/dev/null | sed -n 's/^Using library: libvirt //p')"
  printf 'daemon\\t%s\\n' "$(virsh -c "$LV_URI" version --daemon 2>/dev/null | sed -n 's/^Running against daemon: //p')"
  b=$(sed -n 's/^[[:space:]]*memory_backing_dir[[:space:]]*=[[:space:]]*"\\(.*\\)"[[:space:]]*$/\\1/p' /etc/libvirt/qemu.conf 2>/dev/null | tail -n 1)
  printf 'memory_backing_dir\\t%s\\n' "\${b:-/var/lib/libvirt/qemu/ram}"
  for h in /etc/libvirt/hooks/qemu /etc/libvirt/hooks/qemu.d/*; do [ -e "$h" ] && printf 'hook\\t%s\\n' "$h"; done
  # every domain running now, named in the profile or not (a kexec ends those it does not name)
  virsh -c "$LV_URI" list --name 2>/dev/null | while IFS= read -r d; do [ -z "$d" ] || printf 'running\\t%s\\n' "$d"; done
  asked=
  j=0; while [ "$j" -lt "$LVD_N" ]; do eval "d=\\$LVD_$j"; j=$((j+1))
    # its state, id and autostart in one call (the words virsh domstate says)
    i=$(virsh -c "$LV_URI" dominfo -- "$d" 2>/dev/null) || { printf 'domain\\t%s\\tmissing\\n' "$d"; continue; }
    st=$(printf '%s\\n' "$i" | sed -n 's/^State: *//p')
    id=$(printf '%s\\n' "$i" | sed -n 's/^Id: *//p' | tr -dc 0-9)
    a=$(printf '%s\\n' "$i" | sed -n 's/^Autostart: *//p')
    x=$(virsh -c "$LV_URI" dumpxml --migratable -- "$d" 2>/dev/null)
    e=$(printf '%s\\n' "$x" | sed -n 's|^ *<emulator>\\(.*\\)</emulator>|\\1|p' | head -n 1)
    # each emulator asked once, however many domains it runs (a QEMU run costs seconds on a loaded host)
    v=$(printf '%s' "$asked" | E=$e awk -F '\\t' '$1 == ENVIRON["E"] { print $2; exit }')
    if [ -z "$v" ]; then
      case $e in /*) v=$("$e" --version 2>/dev/null | head -n 1) ;; esac
      asked=$(printf '%s%s\\t%s\\n_' "$asked" "$e" "$v"); asked=\${asked%_}
    fi
    r=; [ -n "$id" ] && for f in "\${b:-/var/lib/libvirt/qemu/ram}/libvirt/qemu/$id-"*/*; do [ -f "$f" ] && r="$r$f "; done
    printf 'domain\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$d" "$(echo $st)" "\${id:--}" "$v" "$r" "\${a:--}" "$(printf '%s' "$x" | base64 -w 0)"
  done
}
[ "$VM_N" -eq 0 ] || sec vms
j=0; while [ "$j" -lt "$VM_N" ]; do eval "n=\\$VM_$j pf=\\$VMPID_$j"; j=$((j+1)); vm "$n" "$pf"; done
[ "\${LVD_N:-0}" -eq 0 ] || { sec libvirt; libvirt; }
sec paths
# what is there now: nothing, an empty folder, a folder with files in it, or something else
holds() { if [ -d "$1" ]; then if [ -z "$(ls -A -- "$1" 2>/dev/null | head -n 1)" ]; then echo empty; else echo files; fi
  elif [ -e "$1" ] || [ -L "$1" ]; then echo other; else echo missing; fi; }
resolved() { printf '%s\\t%s\\t%s\\n' "$1" "$(realpath -m -- "$1" 2>/dev/null)" "$(holds "$1")"; }
each "$DIR_N" DIR resolved
sec files
for f in "$@"; do
  if [ -e "$f" ]; then printf '%s\\t%s\\n' "$(stat -L -c %s "$f")" "$f"; else printf 'missing\\t%s\\n' "$f"; fi
done
sec end
`;

/** A VM the probe looks for: running when its pidfile names a QEMU that liveupdate started with that pidfile. */
export interface ProbedVm {
  name: string;
  pidfile: string;
}

/**
 * argv that runs the probe: each QEMU binary, VM name and pidfile, and folder to resolve is an environment
 * variable of its own (QEMU_0, QEMU_1 ..., VM_0 and VMPID_0 ..., DIR_0 ...; the script reads them by name, so none is split or expanded
 * whatever it holds), and `files` reach the script as "$@"; `kernelImage` (KIMG) is the kernel whose
 * build string is read.
 */
export function probeArgv(
  qemuBinaries: string[],
  files: string[],
  vms: ProbedVm[] = [],
  dirs: string[] = [],
  libvirt?: { uri: string; domains: string[] },
  kernelImage?: string,
): string[] {
  return [
    'env',
    // the kexec kernel's build string, read by the script that reads it before a jump
    ...(kernelImage ? [`KIMG=${kernelImage}`, `KIMG_ID=${IMAGE_IDENTITY_SCRIPT}`] : []),
    ...(libvirt ? [`LV_URI=${libvirt.uri}`, `LVD_N=${libvirt.domains.length}`, ...libvirt.domains.map((d, i) => `LVD_${i}=${d}`)] : []),
    `QEMU_N=${qemuBinaries.length}`,
    ...qemuBinaries.map((q, i) => `QEMU_${i}=${q}`),
    `VM_N=${vms.length}`,
    ...vms.flatMap((v, i) => [`VM_${i}=${v.name}`, `VMPID_${i}=${v.pidfile}`]),
    `DIR_N=${dirs.length}`,
    ...dirs.map((d, i) => `DIR_${i}=${d}`),
    'sh',
    '-c',
    PROBE_SCRIPT,
    'liveupdate-probe',
    ...files,
  ];
}
