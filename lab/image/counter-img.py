#!/usr/bin/env python3
"""1 MiB raw disk whose boot sector counts a 64-bit integer at 0x7e00 (marker 0xdeadbeef at 0x7e10).

By default the guest counts timer ticks: it sets the PIT to 100 Hz and halts between ticks, so a
running counter VM costs its host about nothing (a busy loop under TCG took a whole host core per VM,
and inside a lab host a core of the lab host and so of this machine). The count still moves only
while the VM runs, from 0 at every boot. `--spin` counts as fast as the CPU goes instead: bench:cpr's
stopwatch (bench/guest-pause.py) samples it every 0.5 ms, finer than a tick. `--fill MIB` first writes
a pattern over MIB MiB of RAM from 1 MiB up (in unreal mode: a flat 4 GiB data segment loaded in
protected mode, used back in real mode), so that a save which copies RAM has that much to copy
(bench:libvirt); the guest needs at least MIB + 2 MiB of RAM."""
import sys

args = sys.argv[1:]
spin = '--spin' in args
fill = 0
if '--fill' in args:
    i = args.index('--fill')
    fill = int(args[i + 1])
    del args[i:i + 2]
path = [a for a in args if a != '--spin'][0]
GDT = 0x1A0  # the GDT's offset in the sector (at 0x7c00 + GDT), its descriptor 16 bytes on
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
if fill:
    gdt = 0x7C00 + GDT
    start += bytes([
        0x0F, 0x01, 0x16, (gdt + 16) & 0xFF, (gdt + 16) >> 8,   # lgdt [descriptor]
        0x0F, 0x20, 0xC0, 0x0C, 0x01, 0x0F, 0x22, 0xC0,          # mov eax,cr0; or al,1; mov cr0,eax (protected)
        0xBB, 0x08, 0x00, 0x8E, 0xC3,                            # mov bx,8; mov es,bx (flat data, 4 GiB limit)
        0x24, 0xFE, 0x0F, 0x22, 0xC0,                            # and al,0xfe; mov cr0,eax (real again; es keeps its limit)
        0x66, 0xBF, 0x00, 0x00, 0x10, 0x00,                      # mov edi,0x100000
        0x66, 0xB9, *(fill * 1024 * 1024 // 4).to_bytes(4, 'little'),  # mov ecx,dwords
        0x66, 0xB8, 0xA5, 0xA5, 0x5A, 0x5A,                      # mov eax,pattern
        0xFC, 0xF3, 0x66, 0x67, 0xAB,                            # cld; a32 rep stosd
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
if fill:
    assert len(code) <= GDT
    # null descriptor; data: base 0, limit 0xfffff in pages, present, writable; then lgdt's operand
    table = bytes(8) + bytes([0xFF, 0xFF, 0, 0, 0, 0x92, 0xCF, 0]) + (15).to_bytes(2, 'little') + (0x7C00 + GDT).to_bytes(4, 'little')
    code = code + bytes(GDT - len(code)) + table
img = code + bytes(510 - len(code)) + b'\x55\xAA'
with open(path, 'wb') as f:
    f.write(img + bytes(1024 * 1024 - 512))
