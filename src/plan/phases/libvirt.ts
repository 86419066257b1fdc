/**
 * libvirt's domains: liveupdate never starts them; libvirt saves each one (`virsh save`) into a save
 * image on the carve-out and restores it from there (`virsh restore`), so the domain stays libvirt's
 * throughout (its XML, its devices, its monitor). The copy path: the image holds the guest RAM too,
 * copied out before the kexec and back after it. (In place is judged in plan/rules.ts and refused
 * where it cannot be done without a race; see docs/libvirt.md.)
 */
import { domainSaveImage } from '../../profile/types.js';
import { stepper, type PlanContext } from '../context.js';
import type { Check, Phase, Step } from '../types.js';

export const saveImage = (ctx: PlanContext, domain: string): string => domainSaveImage(ctx.profile.migration.stateDir, domain);

const virsh = (ctx: PlanContext, ...args: string[]): string[] => ['virsh', '-c', ctx.profile.libvirt!.uri, ...args];

const domainIs = (ctx: PlanContext, domain: string, states: string[]): Check => ({
  kind: 'domain-state',
  uri: ctx.profile.libvirt!.uri,
  domain,
  states,
});

/** Left by the save while libvirt's autostart of the domain is off, for the restore to turn it back on. */
const autostartMark = (ctx: PlanContext, domain: string): string => `${saveImage(ctx, domain)}.autostart`;

/**
 * The guard that the save image came back whole: one page per 2 MiB hashed on the host (the native
 * helper, never the image read over SSH) after the save, and checked before the restore; its size
 * goes to the journal. A carve-out the new kernel did not keep stops the restore with the image unread.
 */
function imageFingerprint(ctx: PlanContext, d: string, phase: Phase, group: string, onlyIf?: Check): Step {
  const image = saveImage(ctx, d);
  const record = phase === 'suspend';
  return stepper(phase)(
    record ? `fingerprint-save/${d}` : `verify-save/${d}`,
    {
      blackout: true,
      vm: d,
      group,
      idempotent: true,
      // restored, the image is spent: the check is for before the restore
      check: record ? null : domainIs(ctx, d, ['running']),
      ...(onlyIf ? { onlyIf } : {}),
      description: record
        ? `fingerprint ${image} (one page per 2 MiB) into ${image}.fingerprint; its size to the journal`
        : `verify ${image} is the image fingerprinted after the save (if not: stop, nothing restored)`,
    },
    {
      kind: 'helper-ioctl',
      program: {
        ops: [{ op: 'ram.fingerprint', path: image, ...(record ? { out: `${image}.fingerprint` } : { compare: `${image}.fingerprint` }) }],
      },
      ioctls: [],
    },
  );
}

/** libvirt starts the domain when its daemon starts, per the facts */
const autostarts = (ctx: PlanContext, domain: string): boolean =>
  ctx.facts.libvirt?.domains.find((x) => x.name === domain)?.autostart === true;

/** suspend: each domain saved by libvirt into its image (the domain stops: libvirt ends its QEMU), then the image checked whole. */
export function saveDomains(ctx: PlanContext, group: string): Step[] {
  const s = stepper('suspend');
  return (ctx.profile.libvirt?.domains ?? []).flatMap((d) => {
    const image = saveImage(ctx, d);
    return [
      // saved, the domain is shut off: libvirt would cold-start it when its daemon starts after the kexec
      ...(autostarts(ctx, d)
        ? [
            s(
              `autostart-off/${d}`,
              {
                blackout: false,
                vm: d,
                group,
                idempotent: true,
                check: null,
                description: `turn libvirt's autostart of ${d} off until it is restored (libvirt would cold-start it at boot, its saved state unused); ${autostartMark(ctx, d)} says to turn it back on`,
              },
              {
                kind: 'exec',
                argv: [
                  'sh',
                  '-c',
                  'touch "$2" && virsh -c "$1" autostart --disable -- "$3"',
                  'sh',
                  ctx.profile.libvirt!.uri,
                  autostartMark(ctx, d),
                  d,
                ],
              },
            ),
          ]
        : []),
      s(
        `virsh-save/${d}`,
        {
          blackout: true,
          vm: d,
          group,
          idempotent: false,
          // saved already: libvirt shows it shut off and its image is there
          check: { kind: 'all', checks: [domainIs(ctx, d, ['shut off']), { kind: 'path-exists', path: image }] },
          marks: { blackoutStart: true, saveState: true },
          description: `libvirt saves ${d} (its RAM and device state) into ${image}; libvirt stops its QEMU`,
        },
        { kind: 'exec', argv: virsh(ctx, 'save', '--running', '--', d, image) },
      ),
      imageFingerprint(ctx, d, 'suspend', group),
    ];
  });
}

/** Before a restore: libvirt answers (at boot its daemon may start after the agent). */
export function libvirtReady(ctx: PlanContext, phase: Phase): Step[] {
  const lv = ctx.profile.libvirt;
  if (!lv) return [];
  const wait = Math.ceil(ctx.profile.migration.timeoutMs / 1000);
  return [
    stepper(phase)(
      'libvirt-ready',
      {
        blackout: true,
        idempotent: true,
        check: null,
        description: `wait up to ${wait} s for libvirt to answer on ${lv.uri} (at boot it may start after the agent)`,
      },
      {
        kind: 'exec',
        argv: [
          'sh',
          '-c',
          'i=0; until virsh -c "$1" -q version >/dev/null 2>&1; do i=$((i+1)); [ "$i" -ge "$2" ] && { echo "libvirt did not answer on $1 in $2 s" >&2; exit 1; }; sleep 1; done',
          'sh',
          lv.uri,
          String(wait),
        ],
      },
    ),
  ];
}

/**
 * resume (and abort): libvirt restores each domain from its image, running, and the image goes (it
 * holds RAM the domain has moved on from). Abort restores only a domain that was saved.
 */
export function restoreDomains(ctx: PlanContext, phase: Phase, group: string): Step[] {
  const s = stepper(phase);
  const abort = phase === 'abort';
  return (ctx.profile.libvirt?.domains ?? []).flatMap((d) => {
    const image = saveImage(ctx, d);
    const saved: Check = {
      kind: 'all',
      checks: [
        { kind: 'not', check: domainIs(ctx, d, ['running']) },
        { kind: 'path-exists', path: image },
      ],
    };
    return [
      imageFingerprint(ctx, d, phase, group, abort ? saved : undefined),
      s(
        `virsh-restore/${d}`,
        {
          blackout: true,
          vm: d,
          group,
          idempotent: false,
          check: domainIs(ctx, d, ['running']),
          ...(abort ? { onlyIf: saved } : {}),
          marks: { restore: 'load', blackoutEnd: true },
          description: `libvirt restores ${d} from ${image}, running`,
        },
        { kind: 'exec', argv: virsh(ctx, 'restore', '--running', image) },
      ),
      s(
        `drop-save/${d}`,
        {
          blackout: false,
          vm: d,
          group,
          idempotent: true,
          check: { kind: 'not', check: { kind: 'path-exists', path: image } },
          onlyIf: domainIs(ctx, d, ['running']),
          description: `remove ${image}: ${d} runs again and has moved on from it`,
        },
        { kind: 'exec', argv: ['rm', '-f', '--', image, `${image}.fingerprint`] },
      ),
      // whichever plan turned it off (a resume planned after the save reads it off): the mark says
      s(
        `autostart-on/${d}`,
        {
          blackout: false,
          vm: d,
          group,
          idempotent: true,
          check: null,
          onlyIf: { kind: 'all', checks: [domainIs(ctx, d, ['running']), { kind: 'path-exists', path: autostartMark(ctx, d) }] },
          description: `turn libvirt's autostart of ${d} back on, where liveupdate turned it off (${autostartMark(ctx, d)})`,
        },
        {
          kind: 'exec',
          argv: ['sh', '-c', 'virsh -c "$1" autostart -- "$3" && rm -f -- "$2"', 'sh', ctx.profile.libvirt!.uri, autostartMark(ctx, d), d],
        },
      ),
    ];
  });
}
