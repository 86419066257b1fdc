import { describeArgv } from '../host/host.js';
import type { Check, Step, Verify } from '../plan/types.js';
import { formatDuration, formatSize } from '../units.js';

/** The exact action of a step, as the lines an operator reads in a dry run. */
export function describeAction(step: Step): string[] {
  switch (step.kind) {
    case 'cmdline':
      return [
        ...(step.bootloaderFile ? [`write ${step.bootloaderFile}: ${(step.bootloaderText ?? '').trim().split('\n').pop() ?? ''}`] : []),
        `$ ${describeArgv(step.argv)}`,
        'then reboot (the carve-out exists only from boot)',
      ];
    case 'mount':
      return [`$ ${describeArgv(step.argv)}`, `  if ${step.target} is an empty folder now (else nothing is mounted)`];
    case 'exec':
    case 'umount':
    case 'kexec-exec':
      return [`$ ${describeArgv(step.argv)}`];
    case 'kexec-load':
      return [`$ ${describeArgv(step.argv)}`, `  then read the build string of ${step.image} (the new boot is proven against it)`];
    case 'file':
      return step.argv.map((a) => `$ ${describeArgv(a)}`);
    case 'sysfs-write':
      return [`write '${step.value}' > ${step.path}`];
    case 'private-dirs':
      return [
        `$ ${describeArgv(['mkdir', '-p', '-m', '0700', ...step.paths])}`,
        '  each must be a folder of this user alone: not a symlink, not writable by group or others',
      ];
    case 'helper-ioctl': {
      const lines = [
        step.holder ? `helper holding ${step.holder}, asked:` : 'lu-helper <<',
        ...step.program.ops.map(({ op, ...args }) => `  ${op} ${JSON.stringify(args)}`),
      ];
      const then = step.program.then;
      if (then && 'hold' in then) lines.push(`  then hold every fd open in a daemon answering on ${then.hold.socket}`);
      if (then && 'exec' in then) lines.push(`  then exec ${describeArgv(then.exec)}`);
      if (step.ioctls.length) lines.push(`ioctls: ${step.ioctls.join(', ')}`);
      if (step.vars)
        lines.push(
          `gives: ${Object.keys(step.vars)
            .map((k) => `{${k}}`)
            .join(' ')}`,
        );
      return lines;
    }
    case 'qemu-adopt':
      return [`mv ${step.from.socket} ${step.socket}; write ${step.pid} to ${step.pidfile}; rm -f ${step.from.pidfile}`];
    case 'qemu-start':
      if (step.cpr)
        return [
          `$ ${describeArgv(step.argv)} &   (output to ${step.cpr.log})`,
          `then wait until it listens on ${step.cpr.cprSocket}; its pid becomes {${step.cpr.pidVar}}`,
          `(first, a new QEMU an interrupted run left waiting on that socket is stopped; never ${step.cpr.vmPidfile}'s)`,
        ];
      return [
        ...(step.noTruncate ? [`lu-helper: seccomp filter refusing ftruncate() to ${step.noTruncate.join(' or ')} bytes, then exec:`] : []),
        `$ ${describeArgv(step.argv)}`,
        `  its start may take up to ${formatDuration(step.timeoutMs)} (migration.timeout)`,
        ...(step.expectVersion || step.expectMachine
          ? [
              `then ${[step.expectVersion ? `qmp query-version must be ${step.expectVersion}` : '', step.expectMachine ? `its machine type ${step.expectMachine}` : ''].filter(Boolean).join(' and ')} (else quit it before it loads anything)`,
            ]
          : []),
      ];
    case 'qmp': {
      const msg = JSON.stringify({ execute: step.command, ...(step.arguments ? { arguments: step.arguments } : {}) });
      const lines = [`qmp ${step.socket}: ${msg}`];
      if (step.pidfile) lines.push(`then wait until the process in ${step.pidfile} (read before the quit) has exited`);
      if (step.wait)
        lines.push(
          `then wait for MIGRATION ${step.wait.until.join('|')} (event, query-migrate as fallback; timeout ${step.wait.timeoutMs / 1000}s)`,
        );
      return lines;
    }
    case 'verify':
      return [describeVerify(step.verify)];
  }
}

export function describeVerify(v: Verify): string {
  switch (v.kind) {
    case 'carve-out':
      return `check /proc/cmdline has ${v.params.join(' ')} and /proc/iomem shows ${formatSize(v.range.size)} at ${formatSize(v.range.start)}`;
    case 'filesystem':
      return `check /proc/filesystems lists ${v.fstype}`;
    case 'kexec-loaded':
      return `check /sys/kernel/kexec_loaded = 1${v.image ? `; read the build string of ${v.image} unless this run read it when it staged it` : ''}`;
    case 'state-file':
      return v.savedBy
        ? `check ${v.path} has the size and sha256 recorded by ${v.savedBy}`
        : `check ${v.path} exists and is not empty; record its size and sha256`;
    case 'boot-changed':
      return `reconnect within ${v.timeoutMs / 1000}s; check boot_id changed, uname -r and -v are the staged image's build${v.cmdline !== undefined ? ', /proc/cmdline is the one loaded' : ''}, and it has ${v.params.join(' ')}`;
    case 'dmesg':
      return `check dmesg for: ${v.patterns.map((p) => `'${p}'`).join(', ')}`;
    case 'vm-status':
      return `qmp query-status of ${v.vm} is ${v.status}`;
    case 'vm-qemu':
      return `qmp query-version of ${v.vm} is ${v.version} and qom-get /machine type is ${v.machine}-machine`;
    case 'cpr-received':
      return `qmp ${v.socket} answers within ${v.timeoutMs / 1000}s${v.version ? `, query-version is ${v.version}` : ''}${v.machine ? `, qom-get /machine type is ${v.machine}-machine` : ''}, and query-status is paused with the incoming migration completed`;
    case 'luo-holder':
      return `check the holder process is alive and holds sessions ${v.sessions.join(', ')}${v.vms?.length ? "; each VM's QEMU maps the holder's memfd (same inode)" : ''}`;
  }
}

export function describeCheck(c: Check | null | undefined): string {
  if (!c) return 'none: always runs';
  switch (c.kind) {
    case 'path-exists':
      return `${c.path} exists`;
    case 'mounted':
      return `${c.target} mounted as ${c.fstype}`;
    case 'not-mounted':
      return `${c.target} not mounted`;
    case 'cmdline-has':
      return `running cmdline has ${c.params.join(' ')}`;
    case 'kexec-loaded':
      return 'a kernel is staged';
    case 'pci-driver':
      return `${c.address} bound to ${c.driver}`;
    case 'vm-status':
      return c.socket ? `the QEMU on ${c.socket} is ${c.status.join('|')}` : `${c.vm} is ${c.status.join('|')}`;
    case 'vm-gone':
      return c.socket ? `no QEMU answers on ${c.socket}` : `${c.vm}'s QEMU is gone`;
    case 'process-alive':
      return `the process in ${c.pidfile} is alive`;
    case 'all':
      return c.checks.map(describeCheck).join(' and ');
    case 'not':
      return `not (${describeCheck(c.check)})`;
    case 'boot-changed':
      return 'boot_id differs from the one recorded';
    case 'pmem-mode':
      return `${c.device} is ${c.mode}`;
    case 'has-filesystem':
      return `${c.device} already holds ${c.fstype}`;
    case 'domain-state':
      return `virsh -c ${c.uri} domstate ${c.domain} is ${c.states.join('|')}`;
    case 'helper-has':
      return `the helper on ${c.socket} holds ${c.handle}`;
    case 'helper-absent':
      return `no helper answers on ${c.socket}`;
    case 'journal':
      return 'the journal records it done';
  }
}
