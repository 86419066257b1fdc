import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Host } from '../../src/host/host.js';
import type { SshHost } from '../../src/host/ssh.js';
import type { JournalRecord } from '../../src/exec/journal.js';
import { QmpClient, qemuIdentity } from '../../src/qemu/qmp.js';

/** argv on the host, which must exit 0 within timeoutMs; its trimmed stdout. */
export async function mustRun(host: Host, argv: string[], timeoutMs = 60_000): Promise<string> {
  const r = await host.exec(argv, { timeoutMs });
  assert.equal(r.exitCode, 0, `${argv.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** The host's boot id (a new one after every kexec). */
export const bootIdOf = (host: Host): Promise<string> => mustRun(host, ['cat', '/proc/sys/kernel/random/boot_id']);

/**
 * Waits until the host answers from a boot other than `before`, reconnecting for each try (the old
 * connection died with the old kernel), and returns the new boot id. Between tries, `meanwhile`
 * runs with whether the host answered on the old boot (e.g. to fail early when a run there ended
 * before its kexec). Throws after timeoutMs.
 */
export async function waitNewBoot(
  ssh: SshHost,
  before: string,
  timeoutMs: number,
  meanwhile?: (oldBootAnswered: boolean) => Promise<void>,
): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    ssh.reset();
    const id = await bootIdOf(ssh).catch(() => '');
    if (id && id !== before) return id;
    if (meanwhile) await meanwhile(id !== '');
    if (Date.now() - t0 > timeoutMs) throw new Error(`no new boot within ${timeoutMs / 1000} s`);
    await sleep(2000);
  }
}

/** The QEMU behind a VM's QMP socket on the host: its version and machine type, on a fresh QMP connection. */
export async function qemuOn(host: Host, socket = '/run/liveupdate/vms/counter/qmp.sock'): Promise<{ version: string; machine: string }> {
  const c = await QmpClient.over(await host.connectUnix(socket), 'lab-qemu', 30_000);
  try {
    return await qemuIdentity(c);
  } finally {
    await c.close();
  }
}

/** The outcome the journal records for step `id` (its last step-end). */
export function outcomeOf(records: JournalRecord[], id: string): Record<string, unknown> | undefined {
  const e = records.filter((r) => r.type === 'step-end' && r.id === id).pop();
  return e?.type === 'step-end' ? e.outcome : undefined;
}

/** The QEMU a start step's outcome names (version, machine type); how long its start took (startMs) must be there too. */
export function startedQemu(records: JournalRecord[], id: string): Record<string, unknown> | undefined {
  const o = outcomeOf(records, id);
  if (!o) return o;
  const { startMs, ...rest } = o;
  if (typeof startMs !== 'number' || startMs < 0) throw new Error(`${id}: no startMs in its outcome: ${JSON.stringify(o)}`);
  return rest;
}
