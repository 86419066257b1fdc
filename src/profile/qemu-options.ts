/** What a profile's qemu.args may not carry: the options liveupdate sets itself (profile/rules.ts checks them). */

/**
 * The options liveupdate sets itself, by name: a profile's qemu.args may not give them in any
 * spelling QEMU accepts (`-x`, `--x`, `-x=v`), or it would decide the VM's RAM, its control socket
 * or whether it waits for a migration.
 */
export const MANAGED_OPTIONS: ReadonlyMap<string, string> = new Map([
  ['m', "guest RAM is set by 'memory:' and placed by liveupdate"],
  ['mem-path', "guest RAM is set by 'memory:' and placed by liveupdate"],
  ['mem-prealloc', "guest RAM is set by 'memory:' and placed by liveupdate"],
  ['qmp', "liveupdate drives the VM over its own QMP socket, in the VM's own folder"],
  ['qmp-pretty', "liveupdate drives the VM over its own QMP socket, in the VM's own folder"],
  ['incoming', 'liveupdate starts the restored VM waiting for its state'],
  ['S', 'liveupdate starts the restored VM paused and continues it'],
  ['daemonize', 'liveupdate starts QEMU daemonized and tracks it by its pidfile'],
  ['pidfile', 'liveupdate starts QEMU daemonized and tracks it by its pidfile'],
  ['name', "the VM's name is vms[].name"],
  ['machine', 'the machine type is vms[].qemu.machine'],
  ['M', 'the machine type is vms[].qemu.machine'],
  ['accel', 'the accelerator is vms[].qemu.accel'],
  ['enable-kvm', 'the accelerator is vms[].qemu.accel'],
  ['smp', 'the vCPU count is vms[].qemu.cpus'],
]);

/** The option an argument names, however spelled (`--incoming`, `-pidfile=x` -> incoming, pidfile); undefined for a value. */
export function optionName(arg: string): string | undefined {
  const m = /^--?([A-Za-z][A-Za-z0-9-]*)(?:=|$)/.exec(arg);
  return m?.[1];
}

/**
 * What `qemu.args` may carry, and whether QEMU takes a value for it (its option table,
 * qemu-options.hx: HAS_ARG). QEMU reads `-x` and `--x` alike and takes an option's value from the
 * next word, whatever it is: an option not in this table is refused rather than guessed at (one
 * that takes a value would swallow the option liveupdate puts after args, e.g. `-L` taking `-S`).
 * test/integration/qemu-args.test.ts checks every entry against the real QEMU.
 */
export const ARGS_OPTIONS: ReadonlyMap<string, boolean> = new Map([
  ['nodefaults', false],
  ['nographic', false],
  ['no-reboot', false],
  ['no-shutdown', false],
  ['no-user-config', false],
  ['usb', false],
  ['display', true],
  ['vga', true],
  ['drive', true],
  ['blockdev', true],
  ['device', true],
  ['netdev', true],
  ['nic', true],
  ['serial', true],
  ['parallel', true],
  ['chardev', true],
  ['cpu', true],
  ['boot', true],
  ['rtc', true],
  ['global', true],
  ['object', true],
  ['k', true],
  ['uuid', true],
  ['smbios', true],
  ['vnc', true],
  ['audiodev', true],
  ['fsdev', true],
  ['virtfs', true],
  ['bios', true],
  ['L', true],
  ['kernel', true],
  ['initrd', true],
  ['append', true],
  ['fw_cfg', true],
  ['sandbox', true],
  ['msg', true],
  ['d', true],
  ['D', true],
  ['trace', true],
  ['overcommit', true],
]);

/** A `-object`/`-device`/`-chardev`/`-global` value as QEMU reads it: JSON when it starts with `{`, else key=value,... with an implied first key. */
function optionValue(value: string, implied: string): Record<string, unknown> | undefined {
  if (value.trimStart().startsWith('{')) {
    try {
      const v: unknown = JSON.parse(value);
      return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }
  const out: Record<string, unknown> = {};
  // QEMU's keyval: ',,' is a literal comma inside a value
  const parts = value.split(/(?<!,),(?!,)/).map((p) => p.replace(/,,/g, ','));
  parts.forEach((p, i) => {
    const eq = p.indexOf('=');
    const [k, v] = eq < 0 ? (i === 0 ? [implied, p] : [p, 'on']) : [p.slice(0, eq), p.slice(eq + 1)];
    out[k] = v;
  });
  return out;
}

const LISTENS =
  "listens on a socket, which QEMU unlinks before it binds: liveupdate owns the paths QEMU creates for a VM (its sockets are in the VM's own folder)";

/**
 * A `-serial`/`-parallel` value, QEMU's legacy chardev spelling (`mon:`, `unix:PATH,server`,
 * `file:PATH`, `tcp:...,server=on`): a monitor or a listening socket is refused; a file the operator names is theirs.
 */
function legacyChardevProblem(value: string): string | undefined {
  if (/^mon:/.test(value)) return 'multiplexes a QEMU monitor onto the port: liveupdate is the only one that drives the VM';
  const opts = value.split(',').slice(1);
  if (opts.some((o) => o === 'server' || (o.startsWith('server=') && !/^server=(off|no|false)$/.test(o)))) return LISTENS;
  return undefined;
}

/** Why this value of an allowed option is liveupdate's to set, or undefined. */
function managedValue(option: string, value: string): string | undefined {
  switch (option) {
    case 'object': {
      const o = optionValue(value, 'qom-type');
      if (!o) return 'is not an object QEMU can read (JSON or key=value)';
      if (/^memory-backend-/.test(String(o['qom-type']))) return "is guest RAM, which is set by 'memory:' and placed by liveupdate";
      return undefined;
    }
    case 'device': {
      const o = optionValue(value, 'driver');
      if (!o) return 'is not a device QEMU can read (JSON or key=value)';
      if (o['driver'] === 'vfio-pci')
        return 'passes a device through, which vms[].vfio declares (liveupdate binds it and keeps it across the update)';
      if (o['memdev'] !== undefined) return "names a memory backend, which is guest RAM: set by 'memory:'";
      return undefined;
    }
    case 'chardev': {
      const o = optionValue(value, 'backend');
      if (!o) return 'is not a chardev QEMU can read';
      if (o['server'] !== undefined && o['server'] !== 'off' && o['server'] !== false) return LISTENS;
      return undefined;
    }
    case 'serial':
    case 'parallel':
      return legacyChardevProblem(value);
    case 'vnc':
      return /^unix:/.test(value) ? LISTENS : undefined;
    case 'global':
      return /^migration\./.test(value) ? 'sets a migration property, which liveupdate sets for the mode it uses' : undefined;
    default:
      return undefined;
  }
}

/**
 * `qemu.args` read as QEMU reads them: each problem with the index of the word it is about. An
 * option liveupdate manages, one it does not let args carry, a value missing at the end (it would
 * be the next option liveupdate adds), a bare word (QEMU would take it as a disk image), a value
 * that is liveupdate's (guest RAM, a passed-through device, a listening socket, migration).
 */
export function argsProblems(args: readonly string[]): Array<{ index: number; message: string }> {
  const out: Array<{ index: number; message: string }> = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const name = optionName(a);
    const managed = name === undefined ? undefined : MANAGED_OPTIONS.get(name);
    if (managed) {
      out.push({ index: i, message: `'${a}' is managed by liveupdate: ${managed}; remove it from args` });
      continue;
    }
    if (name === undefined || !a.startsWith('-')) {
      out.push({ index: i, message: `'${a}' is not an option: QEMU would take a bare word as the first disk image; give it with -drive` });
      continue;
    }
    if (a.includes('=')) {
      out.push({ index: i, message: `'${a}': QEMU has no '=' spelling; an option's value is the next word` });
      continue;
    }
    const takesValue = ARGS_OPTIONS.get(name);
    if (takesValue === undefined) {
      out.push({
        index: i,
        message: `'${a}' is not among the options qemu.args may carry (${[...ARGS_OPTIONS.keys()].map((k) => `-${k}`).join(' ')})`,
      });
      continue;
    }
    if (!takesValue) continue;
    const value = args[i + 1];
    if (value === undefined) {
      out.push({
        index: i,
        message: `'${a}' takes a value, and nothing follows it in args: QEMU would take liveupdate's next option as its value`,
      });
      continue;
    }
    i++;
    const why = managedValue(name, value);
    if (why) out.push({ index: i, message: `'${value}' (${a}) ${why}; remove it from args` });
  }
  return out;
}
