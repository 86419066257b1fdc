import { formatDiagnostic } from '../errors.js';
import type { Plan } from '../plan/types.js';
import { formatSize, hex } from '../units.js';
import { describeAction, describeCheck } from './describe.js';

/** Human plan: steps grouped by phase, the blackout window drawn in the margin, the point of no return marked. */
export function renderPlan(plan: Plan, opts: { color?: boolean } = {}): string {
  const bold = (s: string): string => (opts.color ? `\x1b[1m${s}\x1b[22m` : s);
  const dim = (s: string): string => (opts.color ? `\x1b[2m${s}\x1b[22m` : s);
  const out: string[] = [];
  const vmm = plan.update === 'vmm';
  out.push(
    bold(
      `liveupdate plan for ${plan.host} (${plan.backend})${vmm ? ', a VMM-only update (no kexec)' : ''}, phases: ${plan.phases.join(', ')}`,
    ),
  );
  out.push(
    `facts: ${plan.facts.hostname}, kernel ${plan.facts.kernelRelease}, boot ${plan.facts.bootId}, collected ${plan.facts.collectedAt}`,
  );
  if (plan.forced) out.push(`forced (--force): ${plan.forced}; the update runs all the same`);
  if (plan.carveOut) {
    const c = plan.carveOut;
    out.push(
      `carve-out: ${formatSize(c.size)} at ${formatSize(c.start)} (${hex(c.start)}-${hex(c.start + c.size - 1)}), ${c.active ? 'active on this boot' : 'NOT active yet: needs a reboot with ' + c.cmdline.join(' ')}`,
    );
  }
  // a VMM-only update stages no kernel: no kernel lines
  if (!vmm) out.push(`next kernel's cmdline: ${plan.kexecCmdline}`);
  for (const v of plan.vms) {
    const { from, to, upgrade } = v.qemu;
    const q = (x: typeof from): string => `QEMU ${x.version ?? '(version unknown)'} ${x.binary} on ${x.machine}`;
    const same = from.binary === to.binary && from.version === to.version;
    out.push(
      `vm ${v.name}${v.running === false ? ' (not running)' : ''}: ${q(from)}, ${same ? 'restored by the same QEMU' : `restored by ${q(to)}`}; ${v.migrationMode}${!same && upgrade ? `; ${upgrade}` : ''}`,
    );
  }
  for (const n of plan.notes) out.push(`note: ${n}`);
  for (const w of plan.warnings) out.push(`warning: ${formatDiagnostic(w)}`);

  let inBlackout = false;
  let phase = '';
  let n = 0;
  const pending = plan.steps.filter((s) => !s.satisfied).length;
  for (const step of plan.steps) {
    if (step.phase !== phase) {
      phase = step.phase;
      out.push('', bold(phase));
    }
    if (step.blackout && !inBlackout) {
      out.push(`  ┌─ blackout window opens: VMs are paused from here`);
      inBlackout = true;
    } else if (!step.blackout && inBlackout) {
      out.push(`  └─ blackout window closes`);
      inBlackout = false;
    }
    n++;
    const bar = inBlackout ? '  │ ' : '    ';
    const mark = step.satisfied ? '✓' : `${n}.`;
    const tail = [
      step.group ? `concurrent: ${step.group}` : '',
      step.idempotent ? '' : 'once',
      step.abortOnFailure ? 'on failure: abort' : '',
    ]
      .filter(Boolean)
      .join(', ');
    out.push(`${bar}${mark} ${step.id}  ${step.description}${tail ? dim(`  [${tail}]`) : ''}`);
    for (const line of describeAction(step)) out.push(`${bar}     ${line}`);
    if (step.onlyIf) out.push(`${bar}     ${dim(`only if: ${describeCheck(step.onlyIf)}`)}`);
    out.push(`${bar}     ${dim(`done when: ${describeCheck(step.check)}`)}`);
    if (step.satisfied) out.push(`${bar}     ${dim(`already done: ${step.satisfied}`)}`);
    if (step.pointOfNoReturn)
      out.push(`${bar}  ${bold('■ POINT OF NO RETURN: after this, abort cannot resume the VMs on the old kernel')}`);
    if (step.stopAfter) out.push(`${bar}  ${bold(`■ STOP: ${step.stopAfter}`)}`);
  }
  if (inBlackout) out.push(`  └─ (blackout window continues past this plan's last phase)`);
  if (plan.upToDate) out.push('', bold(`Nothing to do: ${plan.upToDate}.`), 'No step would run (--force plans the update anyway).');
  else out.push('', `${plan.steps.length} steps, ${pending} to do, ${plan.steps.length - pending} already done per the facts.`);
  return out.join('\n') + '\n';
}
