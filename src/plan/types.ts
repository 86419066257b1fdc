import type { Diagnostic } from '../errors.js';

/** The plan is a versioned artefact: `plan --json` can be saved, reviewed and diffed. */
export const PLAN_FORMAT_VERSION = 1;

export type Phase = 'prepare' | 'suspend' | 'kexec' | 'resume' | 'abort';
export const PHASES: readonly Phase[] = ['prepare', 'suspend', 'kexec', 'resume'];

/** How the executor tells, before acting, that a step is already done. */
export type Check =
  | { kind: 'path-exists'; path: string }
  | { kind: 'mounted'; target: string; fstype: string }
  | { kind: 'not-mounted'; target: string }
  | { kind: 'cmdline-has'; params: string[] }
  | { kind: 'kexec-loaded' }
  | { kind: 'pci-driver'; address: string; driver: string }
  /** `socket`: the QEMU answering there rather than the VM's own socket (a cpr-transfer's new QEMU) */
  | { kind: 'vm-status'; vm: string; status: string[]; socket?: string }
  | { kind: 'vm-gone'; vm: string; socket?: string }
  /** the process a pidfile names is alive */
  | { kind: 'process-alive'; pidfile: string }
  | { kind: 'all'; checks: Check[] }
  | { kind: 'not'; check: Check }
  | { kind: 'boot-changed' }
  | { kind: 'pmem-mode'; device: string; mode: string }
  | { kind: 'has-filesystem'; device: string; fstype: string }
  /** a helper daemon answers on this socket and holds this handle (e.g. the LUO holder of the last update) */
  | { kind: 'helper-has'; socket: string; handle: string }
  | { kind: 'helper-absent'; socket: string }
  /** libvirt (virsh domstate) shows the domain in one of these states */
  | { kind: 'domain-state'; uri: string; domain: string; states: string[] }
  /** only this run's journal can tell (e.g. a helper daemon started by this run) */
  | { kind: 'journal' };

export type Verify =
  | { kind: 'carve-out'; params: string[]; range: { start: number; size: number } }
  | { kind: 'filesystem'; fstype: string }
  /** a kernel is staged; with `image`, that image's build string is read unless this run read it when it staged it (the new boot is proven against it) */
  | { kind: 'kexec-loaded'; image?: string }
  /** written and whole; `savedBy` names the step whose outcome recorded its size and sha256 */
  | { kind: 'state-file'; vm: string; path: string; savedBy?: string }
  /**
   * A new boot of the kernel loaded: boot_id changed, `params` on its command line, the command line
   * the one loaded (`cmdline`), and its build (uname -r, -v) the image's, as read before the jump.
   */
  | { kind: 'boot-changed'; params: string[]; cmdline?: string; timeoutMs: number }
  | { kind: 'dmesg'; patterns: string[] }
  | { kind: 'vm-status'; vm: string; status: string }
  /** the running QEMU is the one the plan was made for: its version and machine type (QMP) */
  | { kind: 'vm-qemu'; vm: string; socket: string; version: string; machine: string }
  /** a cpr-transfer's new QEMU: the version and type planned, and the VM's state loaded (paused, waiting for cont) */
  | { kind: 'cpr-received'; vm: string; socket: string; version?: string; machine?: string; timeoutMs: number }
  /** the holder is alive, holds every session, and each VM's QEMU maps exactly the memfd the holder preserves */
  | { kind: 'luo-holder'; sessions: string[]; vms?: Array<{ vm: string; pidfile: string }> };

/** One op of the native helper (native/helper/); `as` names what it opens, later ops refer to that name. */
export interface HelperOp {
  op: string;
  as?: string;
  [arg: string]: unknown;
}

/** What a plan asks the native helper to do: its ops, then hold the handles in a daemon or exec a VMM with them. */
export interface HelperProgram {
  ops: HelperOp[];
  then?: { hold: { socket: string } } | { exec: string[] };
}

/** Where the LUO holder (the helper holding sessions and memfds until kexec) answers. */
/** liveupdate's own sockets on a host (the LUO holder's, the VFIO holders'); the VMs' are in runtime.dir */
export const RUN_DIR = '/run/liveupdate';
export const LUO_HOLDER_SOCKET = `${RUN_DIR}/luo-holder.sock`;

/**
 * A cpr-transfer's new QEMU is started in the background: it blocks reading the cpr channel before it
 * builds anything (no QMP yet), so the step waits for that socket to listen, its output in `log`.
 * A new QEMU still waiting from an interrupted run (its pidfile names a live process that is not the
 * VM's) is stopped first: it holds nothing yet.
 */
export interface CprStart {
  cprSocket: string;
  mainSocket: string;
  log: string;
  /** the VM's own pidfile: the process it names is never the one stopped */
  vmPidfile: string;
  /** the run-time variable that receives the new QEMU's pid */
  pidVar: string;
}

export interface MigrationWait {
  /** poll query-migrate until one of these */
  until: string[];
  timeoutMs: number;
}

export type StepBody =
  /** the carve-out's boot parameters for the next boot: a file written (GRUB's drop-in) when there is one, then argv */
  | { kind: 'cmdline'; params: string[]; bootloaderFile?: string; bootloaderText?: string; argv: string[]; rebootRequired: true }
  | { kind: 'exec'; argv: string[] }
  | { kind: 'mount'; argv: string[]; source: string; target: string; fstype: string; options: string[] }
  | { kind: 'umount'; argv: string[]; target: string }
  | { kind: 'file'; path: string; size: number; argv: string[][] }
  | { kind: 'sysfs-write'; path: string; value: string }
  /**
   * Folders liveupdate owns (each VM's, where QEMU creates its sockets and pidfile): each created
   * 0700 where missing, and each refused when it is a symlink, another user's, or writable by group or others.
   */
  | { kind: 'private-dirs'; paths: string[] }
  /**
   * A native helper program (native/helper/). With `holder`, each op goes to the helper daemon on
   * that socket instead. `ioctls` names what the kernel is asked, for the reader; `vars` are run-time
   * values taken from the result (dotted paths into it), e.g. the holder's pid for /proc/PID/fd/N.
   */
  | { kind: 'helper-ioctl'; program: HelperProgram; holder?: string; ioctls: string[]; vars?: Record<string, string> }
  /**
   * expectVersion: on restore, QMP query-version of the new (paused, empty) QEMU must match the one that saved the state.
   * noTruncate: QEMU is started by the native helper under a seccomp filter that refuses ftruncate() to these sizes
   * (pkernfs after a kexec: files read size 0, QEMU would truncate its RAM file, and pkernfs's truncate remaps it to fresh blocks).
   */
  | {
      kind: 'qemu-start';
      vm: string;
      argv: string[];
      pidfile: string;
      incoming: boolean;
      socket: string;
      expectVersion?: string;
      expectMachine?: string;
      noTruncate?: number[];
      cpr?: CprStart;
      /** how long its start (QEMU daemonized, then its QMP greeting) may take: the profile's migration.timeout, never a fixed figure */
      timeoutMs: number;
    }
  /**
   * A cpr-transfer's new QEMU takes the VM's own paths once the old one is gone: its QMP socket moved
   * to the VM's, the VM's pidfile written with its pid (`pid`, filled in at run time).
   */
  | { kind: 'qemu-adopt'; vm: string; pid: string; pidfile: string; socket: string; from: { pidfile: string; socket: string } }
  /** `quit` with `pidfile`: done when that QEMU process is gone (its files closed, its mappings released), not only its QMP socket */
  | {
      kind: 'qmp';
      vm: string;
      socket: string;
      command: string;
      arguments?: Record<string, unknown>;
      wait?: MigrationWait;
      pidfile?: string;
    }
  | { kind: 'kexec-load'; argv: string[]; cmdline: string; image: string }
  | { kind: 'kexec-exec'; argv: string[] }
  | { kind: 'verify'; verify: Verify };

/**
 * What a step means to the executor, the blackout account and the reporters: they read these marks,
 * never the step's id (ids are for people and the journal).
 */
export interface StepMarks {
  /** this step's VM is paused from this step's start: its blackout begins */
  blackoutStart?: true;
  /** this step's VM runs again once this step ends: its blackout ends */
  blackoutEnd?: true;
  /** the VMM writes this VM's device state (QEMU's save time) */
  saveState?: true;
  /** a new VMM made ready for this VM: started, set up, or its state loaded (QEMU's restore time) */
  restore?: 'start' | 'setup' | 'load';
  /** its success proves the new boot; its outcome carries the boot id */
  provesBoot?: true;
  /** the journal is flushed to disk once it ends (before the jump: kexec does not flush the page cache) */
  flushJournal?: true;
}

export interface StepMeta {
  /** unique and stable within the plan: `phase/what[/vm]` */
  id: string;
  phase: Phase;
  description: string;
  /** inside the VM blackout window (a VM of this step is paused) */
  blackout: boolean;
  /** safe to repeat when the journal cannot say whether it ran */
  idempotent: boolean;
  check: Check | null;
  /** run only while this holds (abort picks a path per VM this way); otherwise skipped */
  onlyIf?: Check;
  vm?: string;
  /** steps sharing a group run concurrently, one lane per VM, each lane in order */
  group?: string;
  /** after this step the old kernel is gone: abort can no longer resume the VMs here */
  pointOfNoReturn?: boolean;
  marks?: StepMarks;
  /** the planner's facts already show this done, and why */
  satisfied?: string;
  /** why the executor must stop after this step (e.g. a reboot is needed) */
  stopAfter?: string;
  /** a guard before the point of no return: when it fails, the command aborts at once (VMs resume here) */
  abortOnFailure?: boolean;
}

export type Step = StepMeta & StepBody;

export interface PlanVmQemu {
  binary: string;
  version: string | undefined;
  machine: string;
}

export interface PlanVm {
  name: string;
  /** the path the VM takes through the update, and why (cpr-transfer and cpr-exec: why not) */
  migrationMode: 'x-ignore-shared' | 'cpr-reboot' | 'cpr-transfer';
  modeWhy: string;
  notTaken: Array<{ mode: 'cpr-transfer' | 'cpr-exec'; why: string }>;
  stateFile: string;
  ramPath: string;
  /** its QMP socket and QEMU pidfile, in the VM's own folder */
  qmp: string;
  pidfile: string;
  /** the version that saves the state */
  qemuVersion: string | undefined;
  /** the QEMU that saves it and the one that restores it; `upgrade` says why the second may load what the first saved */
  qemu: { from: PlanVmQemu; to: PlanVmQemu; upgrade: string | undefined };
  /** running now, per the facts (absent: facts saved before liveupdate looked) */
  running?: boolean;
}

/** A libvirt domain the plan saves and restores through libvirt. */
export interface PlanDomain {
  name: string;
  ram: 'in-place' | 'copy';
  /** where libvirt writes it before the kexec and reads it after */
  saveImage: string;
  /** guest RAM in bytes, per its XML: what the copy path writes and reads back */
  memory: number | undefined;
}

export interface Plan {
  formatVersion: typeof PLAN_FORMAT_VERSION;
  host: string;
  profile: string;
  backend: 'pkernfs' | 'pmem' | 'luo';
  /** facts the plan was made from: a plan only applies to this boot */
  facts: { hostname: string; bootId: string; kernelRelease: string; collectedAt: string };
  phases: Phase[];
  /** kernel: kexec into a new kernel; vmm: new VMMs on the running kernel (cpr-transfer, or stop/save/restart) */
  update: 'kernel' | 'vmm';
  carveOut?: { start: number; size: number; active: boolean; cmdline: string[] };
  kexecCmdline: string;
  vms: PlanVm[];
  /** libvirt's domains (absent: the profile names none) */
  domains?: PlanDomain[];
  steps: Step[];
  /**
   * The host is where this update would take it already (plan/converged.ts says why): the plan has
   * no steps, and run changes nothing. Absent when there is something to do, or with --force.
   */
  upToDate?: string;
  /** --force: the host was where the update would take it (why), and the plan updates it all the same */
  forced?: string;
  warnings: Diagnostic[];
  notes: string[];
}
