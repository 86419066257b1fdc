#!/usr/bin/env python3
"""bench:cpr's guest-side stopwatch: the longest time each counter guest's counter (8 bytes at 0x7e00
of its RAM file, lab/image/counter-img.py) did not move, sampled every ~0.5 ms until SIGTERM; then one
JSON line {file: longest stall in ms}. What the guest lived through, not what the orchestrator saw."""
import json, mmap, signal, sys, time

maps = []
for path in sys.argv[1:]:
    with open(path, 'rb') as f:
        maps.append((path, mmap.mmap(f.fileno(), 0x8000, mmap.MAP_SHARED, mmap.PROT_READ)))
last = {p: (m[0x7e00:0x7e08], time.monotonic()) for p, m in maps}
worst = {p: 0.0 for p, _ in maps}
running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
print('ready', flush=True)
while running:
    now = time.monotonic()
    for p, m in maps:
        v = m[0x7e00:0x7e08]
        seen, since = last[p]
        if v != seen:
            worst[p] = max(worst[p], (now - since) * 1000)
            last[p] = (v, now)
    time.sleep(0.0005)
print(json.dumps({p: round(w, 1) for p, w in worst.items()}), flush=True)
