/** What the two local test hosts (vm-harness, cli-host) share: the facts edit and their QEMU processes. */
import { execFileSync } from 'node:child_process';
import type { HostFacts } from '../../src/facts/types.js';
import type { Step } from '../../src/plan/types.js';

/**
 * The one edit to this machine's real facts (the test double): a 1G pmem carve-out at 16G is
 * reported active, so the pmem plan needs no reboot.
 */
export function withActivePmem(real: HostFacts, hostname: string): HostFacts {
  return {
    ...real,
    hostname,
    cmdline: `${real.cmdline.split(' -- ')[0]} memmap=1G!16G`,
    iomem: [...real.iomem, { start: 16 * 2 ** 30, end: 17 * 2 ** 30 - 1, name: 'Persistent Memory (legacy)', children: [] }],
    pmem: [{ name: 'pmem9', size: 2 ** 30, mode: 'fsdax', namespace: 'namespace9.0', start: 16 * 2 ** 30 }],
  };
}

/** QEMU processes whose -name starts with `tag` ('--': the pattern itself starts with a dash). */
export function taggedQemuPids(tag: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', '--', `-name ${tag}`], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

export function killTaggedQemu(tag: string): void {
  try {
    execFileSync('pkill', ['-9', '-f', '--', `-name ${tag}`]);
  } catch {
    /* none left */
  }
}

/** The VM part of the prepare phase: RAM files, the state dir, VMs started (its carve-out checks read the real cmdline). */
export function vmStartSteps(prepare: Step[]): Step[] {
  return prepare.filter((s) => /^prepare\/(file\/.*|mkdir-state|vm-folders|start\/.*)$/.test(s.id));
}
