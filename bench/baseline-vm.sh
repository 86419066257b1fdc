#!/usr/bin/env bash
# Baseline for bench:vm: the same QMP steps with the smallest script that does them — one socat
# coprocess per QEMU, replies read line by line. Prints the VM's blackout (stop -> cont) in ms.
# usage: baseline-vm.sh QMP_SOCKET STATE_FILE QEMU_ARGV...   (the restore argv: -S -incoming defer)
set -euo pipefail
sock=$1 state=$2; shift 2
now() { date +%s%N; }
# bash unsets a coproc's array when it exits: keep its fds and pid in plain variables
open() { coproc Q { socat -t 0 - "UNIX-CONNECT:$sock"; }; qout=${Q[0]} qin=${Q[1]} qpid=$Q_PID; read -r _ <&"$qout"; qmp '{"execute":"qmp_capabilities"}' >/dev/null; }
qmp() { echo "$1" >&"$qin"; local l; while read -r l <&"$qout"; do case $l in *'"return"'*|*'"error"'*) echo "$l"; return;; esac; done; }
until_done() { while :; do case $(qmp '{"execute":"query-migrate"}') in *completed*) return;; *failed*) echo failed >&2; exit 1;; esac; done; }
caps='{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"x-ignore-shared","state":true}]}}'

open; qmp "$caps" >/dev/null
t0=$(now)
qmp '{"execute":"stop"}' >/dev/null
rm -f "$state"
qmp "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"exec:cat > $state.part && mv $state.part $state\"}}" >/dev/null
until_done
until [ -e "$state" ]; do :; done   # QEMU says completed before cat has finished writing
echo '{"execute":"quit"}' >&"$qin"; wait "$qpid" 2>/dev/null || true   # socat ends when QEMU has closed
"$@"
open; qmp "$caps" >/dev/null
qmp "{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"exec:cat $state\"}}" >/dev/null
until_done
qmp '{"execute":"cont"}' >/dev/null
t1=$(now)
echo $(( (t1 - t0) / 1000000 ))
