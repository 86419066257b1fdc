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
  ['qmp', 'liveupdate drives the VM over its own QMP socket (vms[].qmp)'],
  ['qmp-pretty', 'liveupdate drives the VM over its own QMP socket (vms[].qmp)'],
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
