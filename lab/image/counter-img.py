#!/usr/bin/env python3
"""1 MiB raw disk whose boot sector counts a 64-bit integer at 0x7e00 (marker 0xdeadbeef at 0x7e10).

By default the guest counts timer ticks: it sets the PIT to 100 Hz and halts between ticks, so a
running counter VM costs its host about nothing (a busy loop under TCG took a whole host core per VM,
and inside a lab host a core of the lab host and so of this machine). The count still moves only
while the VM runs, from 0 at every boot. `--spin` counts as fast as the CPU goes instead: bench:cpr's
stopwatch (bench/guest-pause.py) samples it every 0.5 ms, finer than a tick."""
import sys

args = sys.argv[1:]
spin = '--spin' in args
path = [a for a in args if a != '--spin'][0]
HZ = 100
divisor = 1193182 // HZ  # the PIT's input clock over the rate
start = bytes([
    0xFA, 0x31, 0xC0, 0x8E, 0xD8,                          # cli; xor ax,ax; mov ds,ax
    0x66, 0xC7, 0x06, 0x00, 0x7E, 0, 0, 0, 0,              # mov dword [0x7e00],0
    0x66, 0xC7, 0x06, 0x04, 0x7E, 0, 0, 0, 0,              # mov dword [0x7e04],0
    0x66, 0xC7, 0x06, 0x10, 0x7E, 0xEF, 0xBE, 0xAD, 0xDE,  # mov dword [0x7e10],0xdeadbeef
])
count = bytes([
    0x66, 0x83, 0x06, 0x00, 0x7E, 0x01,                    # add dword [0x7e00],1
    0x66, 0x83, 0x16, 0x04, 0x7E, 0x00,                    # adc dword [0x7e04],0
])
if spin:
    code = start + count + bytes([0xEB, 0x100 - (len(count) + 2)])  # loop: count; jmp loop
else:
    code = start + bytes([
        0xB0, 0x34, 0xE6, 0x43,                            # PIT channel 0, rate generator, lo/hi byte
        0xB0, divisor & 0xFF, 0xE6, 0x40,                  # divisor, low byte
        0xB0, divisor >> 8, 0xE6, 0x40,                    # divisor, high byte
        0xFB,                                              # sti (the BIOS's IRQ 0 handler acks each tick)
    ]) + bytes([0xF4]) + count + bytes([0xEB, 0x100 - (1 + len(count) + 2)])  # loop: hlt; count; jmp loop
img = code + bytes(510 - len(code)) + b'\x55\xAA'
with open(path, 'wb') as f:
    f.write(img + bytes(1024 * 1024 - 512))
