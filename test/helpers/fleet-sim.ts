/**
 * TEST DOUBLE — a fleet simulator for scale: ONE ssh2 server that plays N hosts, the SSH user
 * naming the host. A host answers `sim phase NAME` after `latencyMs`; it can be told to fail a
 * phase, or to be unreachable (its SSH authentication is refused). The simulator records every
 * connection and command per host, so tests can prove which hosts were touched. The SSH on both
 * sides is real (ssh2 server, the orchestrator's SshHost with known_hosts verification); what a
 * host does for a phase is simulated.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { ExecEvent } from '../../src/exec/events.js';
import type { Phase } from '../../src/plan/types.js';
import { SshHost, parseTarget } from '../../src/host/ssh.js';
import type { HostUpdater } from '../../src/fleet/run.js';
import { freePort } from './sshd.js';
import { tempDir } from './temp.js';

export interface FleetSim {
  port: number;
  identity: string;
  knownHosts: string;
  latencyMs: number;
  /** host -> SSH connections accepted (authenticated) */
  connections: Map<string, number>;
  /** host -> commands run */
  commands: Map<string, string[]>;
  /** host -> what goes wrong; refuseExec: that many exec requests are refused (SSH_MSG_CHANNEL_FAILURE, nothing run) */
  faults: Map<string, { failPhase?: string; unreachable?: boolean; refuseExec?: number }>;
  /** host -> exec requests refused */
  refused: Map<string, number>;
  /** the most commands that ran at once, over all hosts */
  maxRunning: number;
  close: () => Promise<void>;
}

/** `ident`: the server's software version in its SSH identification string (e.g. dropbear_2022.83). */
export async function startFleetSim(opts: { latencyMs?: number; ident?: string } = {}): Promise<FleetSim> {
  const dir = tempDir('/tmp/lu-fleet-sim-');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'client_key')]);
  const port = await freePort();
  const hostPub = readFileSync(join(dir, 'host_key.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
  writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${hostPub}\n`);
  const sim: FleetSim = {
    port,
    identity: join(dir, 'client_key'),
    knownHosts: join(dir, 'known_hosts'),
    latencyMs: opts.latencyMs ?? 20,
    connections: new Map(),
    commands: new Map(),
    faults: new Map(),
    refused: new Map(),
    maxRunning: 0,
    close: async () => {
      for (const c of clients) c.end();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const clients = new Set<ssh2.Connection>();
  let running = 0;
  const server = new ssh2.Server(
    { hostKeys: [readFileSync(join(dir, 'host_key'))], ...(opts.ident ? { ident: opts.ident } : {}) },
    (client) => {
      clients.add(client);
      let user = '';
      client.on('authentication', (ctx) => {
        user = ctx.username;
        if (sim.faults.get(user)?.unreachable) return ctx.reject();
        if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
        ctx.accept();
      });
      client.on('ready', () => {
        sim.connections.set(user, (sim.connections.get(user) ?? 0) + 1);
        client.on('session', (accept) => {
          accept().on('exec', (acc, rej, info) => {
            const fault = sim.faults.get(user);
            if (fault?.refuseExec) {
              // SSH_MSG_CHANNEL_FAILURE: the server declines to start the command
              fault.refuseExec--;
              sim.refused.set(user, (sim.refused.get(user) ?? 0) + 1);
              return rej();
            }
            const stream = acc();
            sim.maxRunning = Math.max(sim.maxRunning, ++running);
            (sim.commands.get(user) ?? sim.commands.set(user, []).get(user)!).push(info.command);
            const m = /^sim phase ([a-z]+)$/.exec(info.command);
            const answer = (): void => {
              if (!m) {
                stream.stderr.write(`sim: unknown command ${info.command}\n`);
                stream.exit(127);
              } else if (sim.faults.get(user)?.failPhase === m[1]) {
                stream.stderr.write(`sim: ${user} fails ${m[1]}\n`);
                stream.exit(1);
              } else {
                stream.write(`${m[1]} done\n`);
                stream.exit(0);
              }
              running--;
              stream.end();
            };
            // latency 0: answered in the same tick as the exec's confirmation, so the client reads the
            // confirmation, the exit status and the close in one go
            if (sim.latencyMs === 0) answer();
            else setTimeout(answer, sim.latencyMs);
          });
        });
      });
      client.on('error', () => undefined);
      client.on('close', () => clients.delete(client));
    },
  );
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return sim;
}

const PHASES: Phase[] = ['prepare', 'suspend', 'kexec', 'resume'];

/**
 * TEST DOUBLE of the per-host update: one SSH connection per host (the real SshHost), one
 * simulated command per phase, events shaped like the executor's.
 */
export function simUpdater(sim: FleetSim): HostUpdater {
  return async (h, _journalDir, onEvent) => {
    const host = new SshHost(parseTarget(`${h.user}@${h.address}:${h.port}`), { identity: sim.identity, knownHosts: sim.knownHosts });
    const events: ExecEvent[] = [];
    const emit = (e: ExecEvent): void => {
      events.push(e);
      onEvent(e);
    };
    try {
      for (const phase of PHASES) {
        const id = `${phase}/sim`;
        const t0 = Date.now();
        emit({ type: 'step-start', id, phase, blackout: false, at: t0 });
        const r = await host.exec(['sim', 'phase', phase]);
        if (r.exitCode !== 0) {
          emit({
            type: 'step-failed',
            id,
            phase,
            blackout: false,
            at: Date.now(),
            ms: Date.now() - t0,
            code: 'STEP_FAILED',
            message: r.stderr.trim(),
          });
          return { ok: false, error: `${id}: ${r.stderr.trim()}`, events };
        }
        emit({ type: 'step-end', id, phase, blackout: false, at: Date.now(), ms: Date.now() - t0, result: 'ok' });
      }
      return { ok: true, events };
    } finally {
      await host.close();
    }
  };
}
