/**
 * bench:cli — what the CLI costs before it does anything, against bare Node in the same run:
 * `liveupdate --version`, `validate` and `plan --facts` on the seed profile, and the on-host agent's
 * own start (its bundle, `boot` with no request: what it does at every boot before it finds out there
 * is nothing to resume); and `plan --facts` once more without the CLI's code cache, to show what it saves. Each case runs ROUNDS times, interleaved with bare `node -e 0` so the
 * machine's drift hits both alike; the figure is the median of the child's CPU time (user + system,
 * from bash's `times`) and of its wall time. Ends with one JSON line, ratios first.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../test/helpers/paths.js';
import { tempDir } from '../test/helpers/temp.js';

const ROUNDS = Number(process.env['BENCH_CLI_ROUNDS'] ?? 15);
const node = process.execPath;
const cli = join(ROOT, 'bin/liveupdate.js');
const seed = join(ROOT, 'profiles/seed-pkernfs.yaml');
const seedFacts = join(ROOT, 'profiles/facts/seed-host.json');
const agentDir = tempDir('/tmp/lu-bench-cli-');

interface Case {
  name: string;
  argv: string[];
  env?: NodeJS.ProcessEnv;
  /** the exit code a working run ends with */
  code: number;
}

const cases: Case[] = [
  { name: 'bare', argv: [node, '-e', '0'], code: 0 },
  { name: 'version', argv: [node, cli, '--version'], code: 0 },
  { name: 'validate', argv: [node, cli, 'validate', seed], code: 0 },
  // 2: steps pending (the seed host has everything still to do)
  { name: 'plan', argv: [node, cli, 'plan', '--profile', seed, '--facts', seedFacts, '--detailed-exitcode'], code: 2 },
  // the same without the code cache the build made (bin/liveupdate.js): what the cache saves
  {
    name: 'plan_nocache',
    argv: [node, cli, 'plan', '--profile', seed, '--facts', seedFacts, '--detailed-exitcode'],
    env: { ...process.env, LIVEUPDATE_CODE_CACHE: 'off' },
    code: 2,
  },
  {
    name: 'agent',
    argv: [node, join(ROOT, 'dist/agent/liveupdate-agent.cjs'), 'boot'],
    env: { ...process.env, LIVEUPDATE_AGENT_DIR: agentDir },
    code: 0,
  },
];

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
/** One run: the child's CPU time (bash's `times`, children's line) and wall time, in ms. */
function once(c: Case): { cpu: number; wall: number } {
  const script = `${c.argv.map(q).join(' ')} >/dev/null 2>&1; rc=$?; times; exit $rc`;
  const t0 = performance.now();
  const r = spawnSync('bash', ['-c', script], { env: c.env ?? process.env, encoding: 'utf8' });
  const wall = performance.now() - t0;
  if (r.status !== c.code)
    throw new Error(`bench:cli: ${c.name} exited ${String(r.status)}, expected ${c.code}: ${c.argv.join(' ')}\n${r.stderr}`);
  // `times` prints the shell's own user/sys, then its children's: "0m0.312s 0m0.024s"
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  const secs = [...line.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  if (secs.length !== 2) throw new Error(`bench:cli: cannot read bash's times: ${JSON.stringify(r.stdout)}`);
  return { cpu: (secs[0]! + secs[1]!) * 1000, wall };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

try {
  const cpu = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  const wall = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  for (const c of cases) once(c); // warm the page cache; not counted
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of cases) {
      const m = once(c);
      cpu.get(c.name)!.push(m.cpu);
      wall.get(c.name)!.push(m.wall);
    }
  }
  const med = (name: string, of: Map<string, number[]>): number => median(of.get(name)!);
  const bareCpu = med('bare', cpu);
  const bareWall = med('bare', wall);
  for (const c of cases) {
    console.log(
      `${c.name.padEnd(12)} CPU ${med(c.name, cpu).toFixed(0).padStart(4)} ms (${(med(c.name, cpu) / bareCpu).toFixed(2)}x bare node)   wall ${med(c.name, wall).toFixed(0).padStart(4)} ms (${(med(c.name, wall) / bareWall).toFixed(2)}x)`,
    );
  }
  const figures: Record<string, unknown> = {};
  for (const c of cases.slice(1)) figures[`ratio_${c.name}_cpu_over_bare`] = +(med(c.name, cpu) / bareCpu).toFixed(2);
  for (const c of cases.slice(1)) figures[`ratio_${c.name}_wall_over_bare`] = +(med(c.name, wall) / bareWall).toFixed(2);
  for (const c of cases) figures[`${c.name}_cpu_ms`] = Math.round(med(c.name, cpu));
  for (const c of cases) figures[`${c.name}_wall_ms`] = Math.round(med(c.name, wall));
  figures['rounds'] = ROUNDS;
  figures['targets'] = { version_cpu_over_bare_max: 1.5, plan_cpu_over_bare_max: 2 };
  figures['targets_met'] =
    (figures['ratio_version_cpu_over_bare'] as number) <= 1.5 && (figures['ratio_plan_cpu_over_bare'] as number) <= 2;
  console.log(JSON.stringify({ bench: 'cli', ...figures }));
} finally {
  rmSync(agentDir, { recursive: true, force: true });
}
