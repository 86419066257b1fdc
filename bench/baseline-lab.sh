#!/usr/bin/env bash
# Baseline for bench:lab: the same live update of the lab's nested VM with the smallest script that
# does it — OpenSSH with one multiplexed master connection, socat for QMP on the host, no checks.
# Prints the blackout (stop -> cont) in ms, measured on this machine's clock.
# usage: baseline-lab.sh PORT IDENTITY KNOWN_HOSTS QEMU_ARGV...   (the VM's argv, without -S -incoming)
set -euo pipefail
port=$1 id=$2 kh=$3; shift 3
argv=$(printf '%q ' "$@")
ctl=$(mktemp -u /tmp/lu-bl-XXXXXX)
O=(-p "$port" -i "$id" -o UserKnownHostsFile="$kh" -o StrictHostKeyChecking=yes -o BatchMode=yes -o LogLevel=ERROR -o ControlPath="$ctl" -o ConnectTimeout=3)
# one master connection, opened explicitly (a persisted master inside $(...) would hold its pipe open)
master() { ssh "${O[@]}" -o ControlMaster=yes -o ControlPersist=120 -fN root@127.0.0.1 </dev/null >/dev/null 2>&1; }
S=(ssh "${O[@]}" -o ControlMaster=no root@127.0.0.1)
master
q() { "${S[@]}" "printf '%s\n' '{\"execute\":\"qmp_capabilities\"}' '$1' | socat -t 2 - UNIX-CONNECT:/run/liveupdate/vms/counter/qmp.sock" ; }
until_done() { while :; do case $(q '{"execute":"query-migrate"}') in *completed*) return;; *failed*) echo failed >&2; exit 1;; esac; done; }
caps='{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"x-ignore-shared","state":true}]}}'
boot=$("${S[@]}" cat /proc/sys/kernel/random/boot_id)
cmdline=$("${S[@]}" cat /proc/cmdline)
"${S[@]}" "kexec -s -l /boot/vmlinuz --initrd=/boot/initrd.img --command-line='$cmdline'; rm -f /mnt/pmem/state/bl.state"
q "$caps" >/dev/null
qpid=$("${S[@]}" cat /run/liveupdate/vms/counter/qemu.pid)   # QEMU removes its pidfile when it quits
t0=$(date +%s%N)
q '{"execute":"stop"}' >/dev/null
q '{"execute":"migrate","arguments":{"uri":"exec:cat > /mnt/pmem/state/bl.part && mv /mnt/pmem/state/bl.part /mnt/pmem/state/bl.state"}}' >/dev/null
until_done
"${S[@]}" 'until [ -e /mnt/pmem/state/bl.state ]; do :; done'
q '{"execute":"quit"}' >/dev/null || true
"${S[@]}" "while [ -e /proc/$qpid ]; do :; done; umount /mnt/pmem; sync; (sleep 0.2; kexec -e) </dev/null >/dev/null 2>&1 &"
ssh -O exit -o ControlPath="$ctl" root@127.0.0.1 2>/dev/null || true
until new=$(timeout 5 "${S[@]}" cat /proc/sys/kernel/random/boot_id 2>/dev/null) && [ "$new" != "$boot" ]; do sleep 0.25; done
master
"${S[@]}" "mkdir -p /mnt/pmem && mkdir -p -m 0700 /run/liveupdate/vms/counter && mount -o dax /dev/pmem0 /mnt/pmem && $argv -S -incoming defer"
q "$caps" >/dev/null
q '{"execute":"migrate-incoming","arguments":{"uri":"exec:cat /mnt/pmem/state/bl.state"}}' >/dev/null
until_done
q '{"execute":"cont"}' >/dev/null
t1=$(date +%s%N)
ssh -O exit -o ControlPath="$ctl" root@127.0.0.1 2>/dev/null || true
echo $(( (t1 - t0) / 1000000 ))
