import type { Host } from '../host/host.js';
import { QmpClient } from '../qemu/qmp.js';

/** The boot-sector counter guest's 64-bit count at 0x7e00, and the VM's run state, over QMP. */
export async function readCounter(c: QmpClient): Promise<{ status: string; value: bigint }> {
  const status = (await c.execute<{ status: string }>('query-status')).status;
  const out = await c.execute<string>('human-monitor-command', { 'command-line': 'xp /2wx 0x7e00' });
  const m = /7e00: (0x[0-9a-f]+) (0x[0-9a-f]+)/.exec(out);
  if (!m) throw new Error(`unexpected xp output: ${out}`);
  return { status, value: (BigInt(m[2]!) << 32n) + BigInt(m[1]!) };
}

/** The counter of the VM whose QMP socket is `socket` on `host` (local or over SSH), on a fresh QMP connection. */
export async function counterOn(
  host: Host,
  socket = '/run/liveupdate/vms/counter/qmp.sock',
  label = 'lab-counter',
): Promise<{ status: string; value: bigint }> {
  const c = await QmpClient.over(await host.connectUnix(socket), label, 30_000);
  try {
    return await readCounter(c);
  } finally {
    await c.close();
  }
}
