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
set -f
for q in $QEMU_BINARIES; do
  case $q in /*) v=$("$q" --version 2>/dev/null | head -n 1) ;; *) v= ;; esac
  printf '%s\\t%s\\n' "$q" "$v"
done
sec machines
for q in $QEMU_BINARIES; do
  case $q in /*) "$q" -machine help 2>/dev/null | while IFS= read -r l; do printf '%s\\t%s\\n' "$q" "$l"; done ;; esac
done
[ -z "$VM_NAMES" ] || sec vms
for n in $VM_NAMES; do
  p=$(cat "/run/liveupdate/$n.pid" 2>/dev/null) || continue
  case $p in ''|*[!0-9]*) continue ;; esac
  # liveupdate started it: its -pidfile is the VM's, or the one a cpr-transfer's new QEMU started with
  f=$(tr '\\0' '\\n' < "/proc/$p/cmdline" 2>/dev/null | sed -n '/^-pidfile$/{n;p;q;}')
  case $f in "/run/liveupdate/$n.pid"|"/run/liveupdate/$n.pid.cpr-"*) ;; *) continue ;; esac
  o=$(tr '\\0' '\\n' < "/proc/$p/cmdline" | sed -n '/^-machine$/{n;p;q;}; /^-M$/{n;p;q;}'); m=\${o%%,*}
  e=$(readlink "/proc/$p/exe")
  # a QEMU run from one of the binaries just probed answers as that binary did: '=' (each QEMU run
  # costs seconds on a loaded or emulated host); only another or a deleted executable is asked itself
  case " $QEMU_BINARIES " in
    *" $e "*) printf '%s\\t%s\\t%s\\t=\\t%s\\t=\\t%s\\n' "$n" "$p" "$e" "$m" "$o" ;;
    *) printf '%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$n" "$p" "$e" "$("/proc/$p/exe" --version 2>/dev/null | head -n 1)" "$m" \\
         "$("/proc/$p/exe" -machine help 2>/dev/null | grep -m1 "^$m ")" "$o" ;;
  esac
done
set +f
sec files
for f in "$@"; do
  if [ -e "$f" ]; then printf '%s\\t%s\\n' "$(stat -L -c %s "$f")" "$f"; else printf 'missing\\t%s\\n' "$f"; fi
done
sec end
`;

/** argv that runs the probe; `files` reach the script as "$@". */
export function probeArgv(qemuBinaries: string[], files: string[], vms: string[] = []): string[] {
  // QEMU binaries are absolute paths without spaces (the profile schema checks); they go through env,
  // split on spaces with globbing off (set -f): a '*' in one is a name, never expanded and run
  // VM names (letters, digits, '.', '_', '-': the profile schema checks) name their pidfiles the same way
  return [
    'env',
    `QEMU_BINARIES=${qemuBinaries.join(' ')}`,
    `VM_NAMES=${vms.join(' ')}`,
    'sh',
    '-c',
    PROBE_SCRIPT,
    'liveupdate-probe',
    ...files,
  ];
}
