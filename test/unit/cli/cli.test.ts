// The CLI in-process (src/cli/main.ts run()), with saved facts: no host is touched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliInProcess } from '../../helpers/run-cli.js';
import { tempDir } from '../../helpers/temp.js';
import { assertMatchesSchema, schemaValidator } from '../../helpers/schemas.js';

const cli = cliInProcess;

const SEED = ['--profile', 'profiles/seed-pkernfs.yaml', '--facts', 'profiles/facts/seed-host.json'];

test('plan --json prints a versioned plan', async () => {
  const r = await cli('plan', ...SEED, '--json');
  assert.equal(r.code, 0, r.err);
  const plan = JSON.parse(r.out) as { formatVersion: number; steps: unknown[]; phases: string[] };
  assert.equal(plan.formatVersion, 1);
  assert.deepEqual(plan.phases, ['prepare', 'suspend', 'kexec', 'resume']);
});

test('plan --detailed-exitcode: 2 while steps are pending', async () => {
  assert.equal((await cli('plan', ...SEED, '--detailed-exitcode')).code, 2);
});

test('plan --phase selects one phase', async () => {
  const r = await cli('plan', ...SEED, '--phase', 'suspend', '--json');
  const plan = JSON.parse(r.out) as { steps: Array<{ phase: string }> };
  assert.ok(plan.steps.every((s) => s.phase === 'suspend'));
  assert.equal((await cli('plan', ...SEED, '--phase', 'reboot')).code, 64);
});

test("a plan for another host's facts is refused, nothing done", async () => {
  const r = await cli('plan', '--profile', 'profiles/seed-pkernfs.yaml', '--facts', 'profiles/facts/lab.json');
  assert.equal(r.code, 1);
  assert.match(r.err, /the facts are from host 'lab' but profiles\/seed-pkernfs.yaml is for 'seed-host'; nothing was done/);
  assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
});

test('rules against facts name the file, line and field', async () => {
  const r = await cli('plan', '--profile', 'profiles/seed-pkernfs.yaml', '--facts', 'profiles/facts/lab.json', '--allow-other-host');
  assert.equal(r.code, 1);
  assert.match(r.err, /profiles\/seed-pkernfs.yaml:[0-9]+:[0-9]+: persistence.backend: the running kernel .* has no pkernfs filesystem/);
  assert.match(
    r.err,
    /persistence.offset: 0x40000000-0x7fffffff \(1G at 1G\) is not inside one System RAM range .* 'Persistent Memory \(legacy\)'/,
  );
});

test('bad profile in --json mode is a JSON error document', async () => {
  const r = await cli('validate', 'test/fixtures/profiles/bad-size.yaml', '--json');
  assert.equal(r.code, 1);
  const e = JSON.parse(r.out) as { type: string; code: string; diagnostics: Array<{ where: string; field: string; message: string }> };
  assert.equal(e.code, 'PROFILE_INVALID');
  assert.deepEqual(e.diagnostics[0], {
    where: 'test/fixtures/profiles/bad-size.yaml:9:13',
    field: 'vms[0].memory',
    message: 'must be a size like 512M, 4G or 4GiB (binary units, as QEMU and the kernel read them; a bare number is bytes)',
  });
});

test('missing files are clear errors', async () => {
  const a = await cli('validate', 'profiles/nope.yaml');
  assert.equal(a.code, 1);
  assert.match(a.err, /cannot read profile profiles\/nope.yaml: ENOENT/);
  const b = await cli('plan', '--profile', 'profiles/lab.yaml', '--facts', 'nope.json');
  assert.match(b.err, /cannot read facts file nope.json: ENOENT/);
  const c = await cli('plan', '--profile', 'profiles/lab.yaml', '--facts', 'profiles/lab.yaml');
  assert.match(c.err, /not JSON/);
});

test('usage errors exit 64', async () => {
  assert.equal((await cli('frobnicate')).code, 64);
  assert.equal((await cli('plan')).code, 64);
});

test('every example profile validates', async () => {
  for (const p of ['seed-pkernfs', 'pmem-stock', 'luo', 'lab', 'lab-vfio', 'lab-upgrade', 'lab-luo', 'lab-pkernfs', 'lab-vfio-cpr'])
    assert.equal((await cli('validate', `profiles/${p}.yaml`)).code, 0, p);
});

test('lab-vfio against the lab facts: the plan says why QEMU 7.2 cannot keep the device', async () => {
  const r = await cli('plan', '--profile', 'profiles/lab-vfio.yaml', '--facts', 'profiles/facts/lab.json');
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /profiles\/lab-vfio.yaml:[0-9]+:[0-9]+: vms\[0\]\.vfio: QEMU 7\.2\.[0-9]+ cannot save a VM with a passed-through device: vfio-pci blocks migration .* cpr-reboot \(QEMU 8\.2\+\)/,
  );
});

test('plan --json with warnings is still one JSON document, warnings inside it', async () => {
  const r = await cli('plan', '--profile', 'test/fixtures/profiles/warns.yaml', '--facts', 'profiles/facts/lab.json', '--json');
  assert.equal(r.code, 0, r.err + r.out);
  const plan = JSON.parse(r.out) as { formatVersion: number; warnings: Array<{ field: string; message: string }> };
  assert.equal(plan.formatVersion, 1);
  assert.ok(plan.warnings.some((w) => w.field === 'kexec.unsigned' && /without signature verification/.test(w.message)));
});

test('validate --json: warnings appear once, in the document', async () => {
  const r = await cli('validate', 'test/fixtures/profiles/warns.yaml', '--json');
  assert.equal(r.code, 0);
  const doc = JSON.parse(r.out) as { valid: boolean; warnings: Array<{ field: string }> };
  assert.equal(doc.valid, true);
  assert.deepEqual(
    doc.warnings.map((w) => w.field),
    ['kexec.unsigned'],
  );
});

test('one JSON contract: every --json document starts with its type and its format version, errors too', async () => {
  const dir = tempDir('/tmp/lu-envelope-');
  writeFileSync(join(dir, 'inv.yaml'), 'version: 1\nhosts: [{name: a, profile: p.yaml}]\n');
  const docs: Array<[string, string[]]> = [
    ['validated', ['validate', 'profiles/lab.yaml']],
    ['plan', ['plan', ...SEED]],
    ['facts', ['facts', '--facts', 'profiles/facts/seed-host.json']],
    ['status', ['status', '--profile', 'profiles/lab.yaml', '--journal-dir', dir]],
    ['fleet-status', ['fleet', 'status', '--inventory', join(dir, 'inv.yaml'), '--fleet-dir', join(dir, 'fleet')]],
    ['completion', ['completion', 'bash']],
    ['error', ['validate', join(dir, 'missing.yaml')]],
    ['saved-plan', ['show', join(dir, 'seed.plan')]],
  ];
  assert.equal((await cli('plan', ...SEED, '--out', join(dir, 'seed.plan'))).code, 0);
  for (const [type, args] of docs) {
    const r = await cli(...args, '--json');
    const doc = JSON.parse(r.out) as Record<string, unknown>;
    assert.deepEqual(Object.keys(doc).slice(0, 2), ['type', 'formatVersion'], args.join(' '));
    assert.equal(doc['type'], type, args.join(' '));
    assert.equal(typeof doc['formatVersion'], 'number', args.join(' '));
    // and it is what schemas/document.schema.json publishes
    assertMatchesSchema('document', doc, args.join(' '));
  }
  assert.equal(schemaValidator('document')({ type: 'validated', formatVersion: 1, file: 'p.yaml' }), false, 'the schema can refuse');
});

test('a VMM-only plan says so and prints no kernel line; a kernel update prints the next kernel’s command line', async () => {
  const vmm = await cli('plan', ...SEED, '--vmm-only');
  assert.equal(vmm.code, 0, vmm.err);
  assert.match(vmm.out.split('\n')[0]!, /a VMM-only update \(no kexec\)/);
  assert.doesNotMatch(vmm.out, /next kernel's cmdline|kexec -e|kexec-load/);
  const kernel = await cli('plan', ...SEED);
  assert.match(kernel.out, /^next kernel's cmdline: /m);
});

test('one spelling per idea in --help: --phase (never --phases), --via (never --agent), --yes only where something asks', async () => {
  for (const cmd of ['prepare', 'suspend', 'kexec', 'resume', 'run', 'abort']) {
    const help = (await cli(cmd, '--help')).out;
    assert.doesNotMatch(help, /--phases|--agent\b/, `${cmd} --help`);
    assert.match(help, /--via <who>/, `${cmd} --help`);
    if (cmd !== 'abort') assert.equal(/--yes\b/.test(help), cmd === 'kexec' || cmd === 'run', `${cmd} --help and --yes`);
  }
  assert.match((await cli('run', '--help')).out, /--phase <which>/);
  assert.match((await cli('plan', '--help')).out, /--phase <phase> +one of prepare, suspend, kexec, resume, abort,\s+update, all/);
});

test('show PLANFILE: a saved plan as plan printed it, what it was made from, the command that runs it; a file of another kind is named', async () => {
  const dir = tempDir('/tmp/lu-show-');
  const file = join(dir, 'update.plan');
  const made = await cli('plan', ...SEED, '--phase', 'update', '--out', file);
  assert.equal(made.code, 0, made.err);
  const shown = await cli('show', file);
  assert.equal(shown.code, 0, shown.err);
  assert.match(shown.out, new RegExp(`^saved plan ${file}: made \\S+ from \\S+seed-pkernfs\\.yaml \\(sha256 [0-9a-f]{12}\\),$`, 'm'));
  assert.match(shown.out, new RegExp(`^runs with: liveupdate run --phase update --plan ${file} \\[--host TARGET\\]`, 'm'));
  // the plan itself, as plan printed it (its first line on)
  const planned = made.out.slice(0, made.out.indexOf('\nsaved to'));
  assert.ok(shown.out.includes(planned), 'the same plan text');
  const doc = JSON.parse((await cli('show', file, '--json')).out) as { type: string; selection: string; plan: { steps: unknown[] } };
  assert.equal(doc.type, 'saved-plan');
  assert.equal(doc.selection, 'update');
  assert.ok(doc.plan.steps.length > 0);
  const wrong = await cli('show', 'profiles/seed-pkernfs.yaml');
  assert.equal(wrong.code, 64);
  assert.match(wrong.err, /profiles\/seed-pkernfs\.yaml: not a saved plan/);
});
