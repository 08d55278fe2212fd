// `fleet run` (docs/multicluster.md, issue 17): the fleet driver (libs/rotation `runFleet`) over one
// kubeconfig context per cluster, each cluster read and written as `rotate` does (its own session,
// adapter and watches); every log record names its context. The final report gives the fleet's
// rotation and each cluster's phase, as text or JSON.
import type { Command } from 'commander';
import { KubeApiError } from '@linkerd-rotator/kube';
import { runFleet, shortFp, type FleetClusterHandle, type FleetRunResult } from '@linkerd-rotator/rotation';
import type { CommandIO } from '../cli.js';
import { leafLifetimeProblem, parseClusterConfig, parseRotationFlags, withClusterOptions, withRotationOptions, type ClusterConfig, type RotationFlags } from '../config.js';
import { EXIT, UsageError } from '../exit.js';
import { fleetContextFlags, fleetContexts, type FleetFlags } from '../fleet-report.js';
import { progressLogger } from '../logging.js';
import { kubeConfigOf, startWatching, withSession, type Session } from '../session.js';
import { runOptions } from './rotate.js';

/** The clusters of `fleet run`: the primary (its cert-manager generates B) and every member. */
export function parseFleetRunFlags(values: Record<string, unknown>): FleetFlags {
  return fleetContextFlags(values, {
    command: 'fleet run',
    primary: "the kubeconfig context of the cluster whose cert-manager generates the fleet's new anchor",
    member: 'a single cluster rotates with `rotate`',
  });
}

/** Opens one session per context, nested, and runs `body` with all of them; each is closed after. */
function withSessions(contexts: readonly string[], open: (context: string, body: (session: Session) => Promise<number>) => Promise<number>, body: (sessions: Session[]) => Promise<number>): Promise<number> {
  const next = (i: number, sessions: Session[]): Promise<number> => (i === contexts.length ? body(sessions) : open(contexts[i] as string, (s) => next(i + 1, [...sessions, s])));
  return next(0, []);
}

export function exitCodeOfFleet(result: FleetRunResult): number {
  if (result.outcome === 'done') return EXIT.ok;
  if (result.outcome === 'refused') return EXIT.leaseHeld;
  return EXIT.stopped;
}

export function formatFleetRun(result: FleetRunResult, flags: FleetFlags): string {
  const head = result.resumeAt !== undefined ? `waiting: ${result.message} (a run at or after ${new Date(result.resumeAt).toISOString()} resumes)` : `${result.outcome}: ${result.message}`;
  const lines = [head];
  const r = result.rotation;
  if (r) {
    lines.push(`  fleet:     rotation ${r.id}, ${shortFp(r.from)} -> ${shortFp(r.to)} (strategy ${r.strategy}${r.crossSignature ? `, X ${shortFp(r.crossSignature)}` : ''}), phase ${r.phase}`);
    if (r.stopped) lines.push(`  stopped:   ${r.stopped.cluster}: ${r.stopped.reason} at ${r.stopped.at}`);
  }
  for (const name of fleetContexts(flags)) {
    const fresh = r?.clusters[name]?.identityFreshAt;
    lines.push(`  ${`${name}${name === flags.primary ? ' (primary)' : ''}`.padEnd(22)} ${result.phases[name] ?? '-'}${fresh ? `  (identity on the new anchor since ${fresh})` : ''}`);
  }
  lines.push(`  restarts:  ${result.rolls} workload rolls in ${result.actions} actions, ${result.steps} steps`);
  return lines.join('\n') + '\n';
}

/**
 * Starts each cluster as `rotate` does (anchor.crt added, watches synced, the leaf lifetime checked);
 * an API that refuses or does not answer is logged on that cluster's logger: exit 4, nothing written.
 */
async function startClusters(sessions: readonly Session[], config: ClusterConfig, flags: RotationFlags): Promise<number | undefined> {
  for (const session of sessions) {
    try {
      await session.adapter.anchors.addAnchorKey();
      await startWatching(session);
      const problem = leafLifetimeProblem(flags.leafLifetime, await session.adapter.reader.identityIssuanceLifetime(), config.names);
      if (problem !== undefined) throw new UsageError(`${session.config.context}: ${problem}`);
    } catch (err) {
      if (!(err instanceof KubeApiError)) throw err;
      session.logger.error({ kind: err.kind, code: err.code }, err.message);
      return EXIT.cluster;
    }
  }
  return undefined;
}

async function fleetRun(sessions: readonly Session[], config: ClusterConfig, flags: RotationFlags): Promise<FleetRunResult> {
  const handles: FleetClusterHandle[] = sessions.map((s) => ({ name: s.config.context as string, ports: s.adapter.ports }));
  const loggers = new Map(sessions.map((s) => [s.config.context as string, progressLogger(s.logger)]));
  return runFleet({ primary: handles[0] as FleetClusterHandle, members: handles.slice(1) }, runOptions(config, flags), (e) => loggers.get(e.cluster)?.(e.event));
}

export function registerFleet(program: Command, io: CommandIO, setExitCode: (code: number) => void): void {
  const fleet = program.command('fleet').description('rotate one trust anchor shared by linked clusters (docs/multicluster.md)');
  const command = fleet
    .command('run')
    .description("run or resume a fleet rotation: B generated once by the primary's cert-manager, the fleet gates deciding when each cluster promotes and retires")
    .option('--primary <context>', "the kubeconfig context of the primary cluster (its cert-manager generates the new anchor; its state holds the fleet record)")
    .option('--member <context>', 'the kubeconfig context of a member cluster (repeat for each)', (value: string, previous: string[]) => [...previous, value], [])
    .option('--output <format>', 'final report: text or json', 'text');
  withRotationOptions(withClusterOptions(command)).action(async (opts: Record<string, unknown>) => {
    if (opts['output'] !== 'text' && opts['output'] !== 'json') throw new UsageError(`--output must be text or json, got ${String(opts['output'])}`);
    const config = parseClusterConfig(opts);
    const flags = parseRotationFlags(opts);
    const clusters = parseFleetRunFlags(opts);
    const contexts = fleetContexts(clusters);
    for (const context of contexts) kubeConfigOf({ ...config, context });
    const open = (context: string, body: (session: Session) => Promise<number>) => withSession({ command: 'fleet run', config: { ...config, context }, io, budgetTimeoutMs: flags.phaseTimeout }, body);
    const code = await withSessions(contexts, open, async (sessions) => {
      const failed = await startClusters(sessions, config, flags);
      if (failed !== undefined) return failed;
      const result = await fleetRun(sessions, config, flags);
      io.out(opts['output'] === 'json' ? `${JSON.stringify(result)}\n` : formatFleetRun(result, clusters));
      return exitCodeOfFleet(result);
    });
    setExitCode(code);
  });
}
