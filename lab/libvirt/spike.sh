#!/bin/bash
# The libvirt spike (issue 40), runnable again: can a libvirt domain's RAM stay in place across a
# save and restore with stock libvirt? Runs a real libvirtd (started here if none runs) and a
# 64 MiB counter guest (lab/image/counter-img.py) whose RAM is a shared file under qemu.conf's
# memory_backing_dir, then prints what libvirt did at each step as `finding:` lines. It changes
# this machine's libvirt for its run (memory_backing_dir, a hook in /etc/libvirt/hooks/qemu.d/,
# one domain, log outputs) and puts every one of them back on exit. As root; no kexec here: the
# kexec half is the lab's (a DAX carve-out keeps a file's blocks across it, as the pmem backend shows).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "spike.sh: run as root" >&2; exit 64; }
command -v virsh >/dev/null || { echo "spike.sh: needs libvirt (apt-get install libvirt-daemon-system libvirt-clients)" >&2; exit 64; }
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /var/tmp/lu-spike-XXXXXX)
dom=lu-spike-$$
conf=/etc/libvirt/qemu.conf
hook=/etc/libvirt/hooks/qemu.d/zz-lu-spike
cp "$conf" "$dir/qemu.conf.orig"
started_libvirtd=
cleanup() {
  set +e
  virsh destroy "$dom" >/dev/null 2>&1; virsh undefine "$dom" >/dev/null 2>&1
  rm -f "$hook"; cp "$dir/qemu.conf.orig" "$conf"
  virt-admin daemon-log-outputs "" >/dev/null 2>&1
  if [ -n "$started_libvirtd" ]; then pkill -x libvirtd; pkill -x virtlogd; else restart_libvirtd; fi
  rm -rf "$dir"
}
trap cleanup EXIT
say() { echo "finding: $*"; }
# qemu.conf is read when libvirtd starts (SIGHUP rereads hooks, not it); running domains outlive a restart
restart_libvirtd() {
  if [ -d /run/systemd/system ]; then systemctl restart libvirtd; else pkill -x libvirtd; while pgrep -x libvirtd >/dev/null; do sleep 0.1; done; libvirtd -d; fi
  for _ in $(seq 100); do virsh -q version >/dev/null 2>&1 && return; sleep 0.2; done
}
counter() { python3 -c 'import struct,sys; f=open(sys.argv[1],"rb"); f.seek(0x7e00); print(struct.unpack("<Q", f.read(8))[0])' "$1"; }
qmp_cap() { # set x-ignore-shared through liveupdate's own monitor (an abstract socket), as soon as it listens
  python3 - "$1" <<'PY'
import json, socket, sys, time
name, deadline, tries = sys.argv[1], time.time() + 120, 0
while True:
    try:
        s = socket.socket(socket.AF_UNIX); s.connect('\0' + name); break
    except OSError:
        tries += 1
        if time.time() > deadline: sys.exit('no monitor socket ' + name)
        time.sleep(0.001)
f = s.makefile('rw')
for c, a in [('qmp_capabilities', None), ('migrate-set-capabilities', {'capabilities': [{'capability': 'x-ignore-shared', 'state': True}]})]:
    f.write(json.dumps({'execute': c, **({'arguments': a} if a else {})}) + '\n')
f.flush()
got = []
while len(got) < 2:
    r = json.loads(f.readline())
    if 'return' in r or 'error' in r: got.append(r)
print('%.3f %s' % (time.time(), json.dumps(got[1])))
PY
}

mkdir -p "$dir/ram" "$dir/keep"; chmod 755 "$dir"
python3 "$here/../image/counter-img.py" "$dir/counter.img"
sed -i '/^memory_backing_dir/d' "$conf"; echo "memory_backing_dir = \"$dir/ram\"" >> "$conf"
mkdir -p "$(dirname "$hook")"
cat > "$hook" <<HOOK
#!/bin/sh
# the spike's hook: log each call; at 'start begin' put the kept RAM file back when asked to
xml=\$(cat)
[ "\$1" = "$dom" ] || exit 0
id=\$(echo "\$xml" | grep -o "<domain [^>]*" | grep -o "id='[0-9]*'" | tr -dc 0-9)
echo "\$(date +%s.%N) \$2 \$3 id=\$id files: \$(cd $dir/ram && find . -mindepth 1 | tr '\n' ' ')" >> $dir/hook.log
if [ "\$2 \$3" = "start begin" ] && [ -e $dir/keep/restore ]; then
  ln $dir/keep/ram "$dir/ram/libvirt/qemu/\$id-$dom/pc.ram" && echo "linked" >> $dir/hook.log
fi
exit 0
HOOK
chmod 755 "$hook"
if pgrep -x libvirtd >/dev/null || [ -d /run/systemd/system ]; then restart_libvirtd; else
  pgrep -x virtlogd >/dev/null || virtlogd -d
  libvirtd -d; started_libvirtd=1
  for _ in $(seq 100); do virsh -q version >/dev/null 2>&1 && break; sleep 0.2; done
fi
virt-admin daemon-log-filters "1:qemu.qemu_monitor 4:*" >/dev/null
virt-admin daemon-log-outputs "1:file:$dir/libvirtd.log" >/dev/null
say "$(virsh version | grep -E 'library|hypervisor' | tr -s ' ' | tr '\n' ';')"

# 1. can the capability be given on the command line, as a property of QEMU's migration object?
qemu=$(command -v qemu-system-x86_64)
said=$(printf '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n' | timeout 30 "$qemu" -machine none -display none -nodefaults -global migration.x-ignore-shared=on -qmp stdio 2>&1 || true)
if [[ $said == *"not found"* ]]; then
  say "-global migration.x-ignore-shared=on: QEMU $("$qemu" --version | head -1 | grep -o '[0-9][0-9.]*' | head -1) refuses it (Property 'migration.x-ignore-shared' not found): it is not a property of the migration object"
else
  say "-global migration.x-ignore-shared=on: accepted by this QEMU"
fi

# 2. a domain with shared, file-backed RAM and nothing else of liveupdate's in its XML
cat > "$dir/domain.xml" <<XML
<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>$dom</name>
  <uuid>$(cat /proc/sys/kernel/random/uuid)</uuid>
  <memory unit='MiB'>64</memory>
  <memoryBacking><source type='file'/><access mode='shared'/></memoryBacking>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>$qemu</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='$dir/counter.img'/><target dev='hda' bus='ide'/></disk>
    <memballoon model='none'/>
  </devices>
</domain>
XML
# the XML the restored QEMU gets: the same, plus liveupdate's own monitor (abstract socket, not waited for)
sed "s|</devices>|</devices>\n  <qemu:commandline><qemu:arg value='-qmp'/><qemu:arg value='unix:$dom,abstract=on,server=on,wait=off'/></qemu:commandline>|" "$dir/domain.xml" > "$dir/restore.xml"
virsh -q define "$dir/domain.xml" >/dev/null
virsh -q start "$dom" >/dev/null
ram=$(ls "$dir"/ram/libvirt/qemu/*-"$dom"/*)
say "guest RAM file: ${ram#"$dir/ram/"} under memory_backing_dir ($(stat -c '%U, mode %a' "$ram"); folder mode $(stat -c %a "$(dirname "$ram")"))"
say "hook calls at start: $(awk '{printf "%s %s; ", $2, $3}' "$dir/hook.log")"
grep -q "start begin id=[0-9]* files: ./libvirt ./libvirt/qemu ./libvirt/qemu/[0-9]*-$dom \$" "$dir/hook.log" \
  && say "the per-domain folder exists at 'start begin', its RAM file not yet: the hook can put a file there before QEMU opens it"
sleep 2
c0=$(counter "$ram")
# guest RAM the guest never touches, filled through the file: a save that copies RAM must write it
dd if=/dev/urandom of="$ram" bs=1M seek=32 count=16 conv=notrunc status=none
marker=$(dd if="$ram" bs=1M skip=32 count=16 status=none | sha256sum | cut -c1-16)

# 3. the copy path, for scale: virsh save as libvirt does it
: > "$dir/libvirtd.log"
virsh -q save "$dom" "$dir/copy.save" >/dev/null
caps=$(grep -o '"execute":"migrate-set-capabilities".\{0,1200\}' "$dir/libvirtd.log" | head -1 | grep -o '"capability":"[a-z-]*"' | cut -d'"' -f4 | tr '\n' ' ')
say "virsh save sends migrate-set-capabilities with: $caps(x-ignore-shared is not among them, so a value set before stays)"
say "save image, RAM copied: $(stat -c %s "$dir/copy.save") bytes"
[ -e "$ram" ] || say "at stop libvirt removed the per-domain folder and the RAM file in it"
virsh -q restore "$dir/copy.save" >/dev/null

# 4. in place: keep the RAM file (a hard link), set the capability, save with the restore XML
ram=$(ls "$dir"/ram/libvirt/qemu/*-"$dom"/*)
ln "$ram" "$dir/keep/ram"
virsh -q qemu-monitor-command "$dom" '{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"x-ignore-shared","state":true}]}}' >/dev/null
say "taint after a QMP command through virsh: $(virsh dominfo "$dom" | grep -o 'tainted: .*' || echo none)"
t0=$(date +%s%N)
virsh -q save "$dom" "$dir/inplace.save" --xml "$dir/restore.xml" >/dev/null
t1=$(date +%s%N)
c1=$(counter "$dir/keep/ram")
say "save image, RAM in place (x-ignore-shared): $(stat -c %s "$dir/inplace.save") bytes; the kept link holds $(stat -c %s "$dir/keep/ram") bytes of RAM, link count $(stat -c %h "$dir/keep/ram")"

# 5. restore: the hook links the RAM file back at 'start begin'; the client sets the capability on the new QEMU
touch "$dir/keep/restore"; : > "$dir/hook.log"; : > "$dir/libvirtd.log"
qmp_cap "$dom" > "$dir/client.log" 2>&1 &
t2=$(date +%s%N)
virsh -q restore "$dir/inplace.save" --paused >/dev/null
t3=$(date +%s%N)
wait
ram=$(ls "$dir"/ram/libvirt/qemu/*-"$dom"/*)
say "restore's hook calls: $(awk '$1 != "linked" {printf "%s %s; ", $2, $3}' "$dir/hook.log")"
[ "$(stat -c %i "$ram")" = "$(stat -c %i "$dir/keep/ram")" ] && say "the restored QEMU maps the kept file (same inode)"
set_at=$(cut -d' ' -f1 "$dir/client.log")
incoming=$(grep 'QEMU_MONITOR_SEND_MSG.*"execute":"migrate-incoming"' "$dir/libvirtd.log" | head -1 | cut -d' ' -f1-2 | sed 's/+0000:$//')
margin=$(python3 -c "import sys,datetime; t=datetime.datetime.fromisoformat(sys.argv[1] + '+00:00').timestamp(); print(round((t-float(sys.argv[2]))*1000))" "$incoming" "$set_at")
say "liveupdate's client set x-ignore-shared ${margin} ms before libvirt sent migrate-incoming (a race libvirt does not know it runs: lost, the restore fails with 'Capability x-ignore-shared is off, but received capability is on' and nothing is lost)"
c2=$(counter "$ram")
dd if="$ram" bs=1M skip=32 count=16 status=none | sha256sum | cut -c1-16 | grep -qx "$marker" && say "the 16 MiB written before the saves are there after the restore"
virsh -q resume "$dom" >/dev/null
say "in place: virsh save took $(( (t1 - t0) / 1000000 )) ms, virsh restore $(( (t3 - t2) / 1000000 )) ms (libvirt's own work: see restore's hook times in DEVELOPMENT.md)"
awk 'NR==1 {t=$1} {printf "finding:   restore hook %s %s at +%d ms\n", $2, $3, ($1 - t) * 1000}' "$dir/hook.log" | grep -v linked
sleep 1
c3=$(counter "$ram")
say "counter: $c0 before, $c1 at the save, $c2 restored (paused), $c3 a second after resume"
[ "$c2" = "$c1" ] && [ "$c3" -gt "$c2" ] && say "RAM stayed in place: the guest went on from where it was saved"
