// `fleet run` (docs/multicluster.md, issue 17): the fleet driver (libs/rotation `runFleet`) over one
// kubeconfig context per cluster, each cluster read and written as `rotate` does (its own session,
// adapter and watches); every log record names its context. The final report gives the fleet's
// rotation and each cluster's phase, as text or JSON. `fleet plan` and `fleet status` read each
// cluster as `plan` and `status` do (read-only) and report per cluster and for the fleet (fleet-status.ts).
import type { Command } from 'commander';
import { KubeApiError } from '@linkerd-rotator/kube';
import { nextFleetStep, parseState, planFleet, runFleet, shortFp, type ClusterSnapshot, type FleetClusterHandle, type FleetRead, type FleetReadCluster, type FleetRunResult, type StoredState } from '@linkerd-rotator/rotation';
import type { CommandIO } from '../cli.js';
import { leafLifetimeProblem, parseClusterConfig, parseParkedFlags, parseRotationFlags, withClusterOptions, withRotationOptions, type ClusterConfig, type RotationFlags } from '../config.js';
import { EXIT, UsageError } from '../exit.js';
import { fleetContextFlags, fleetContexts, type FleetFlags } from '../fleet-report.js';
import { progressLogger } from '../logging.js';
import { buildFleetStatus, fleetPlanExitCode, fleetPlanJson, fleetStatusExitCode, formatFleetPlan, formatFleetStatus } from '../fleet-status.js';
import { kubeConfigOf, readContexts, startWatching, withSession, type ContextRead, type Session } from '../session.js';
import { DEFAULT_THRESHOLDS } from '../status-report.js';
import { runOptions } from './rotate.js';
import { readStatus } from './status.js';

/** The clusters of `fleet run`, `fleet plan` and `fleet status`: the primary (its cert-manager generates B) and every member. */
export function parseFleetRunFlags(values: Record<string, unknown>, command = 'fleet run'): FleetFlags {
  return fleetContextFlags(values, {
    command,
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

/** Each cluster's read as the fleet's plan takes it: its snapshot and stored state, or the API error. */
function fleetRead<T extends { snapshot: ClusterSnapshot; stored?: StoredState }>(reads: readonly ContextRead<T>[]): FleetRead {
  const one = (r: ContextRead<T>): FleetReadCluster =>
    'value' in r ? { name: r.context, reachable: true, snapshot: r.value.snapshot, ...(r.value.stored ? { stored: r.value.stored } : {}) } : { name: r.context, reachable: false, error: r.error };
  const [primary, ...members] = reads.map(one);
  return { primary: primary as FleetReadCluster, members };
}

/** The driver's clock for a dry run: the primary's snapshot time, else now. */
function nowOf(read: FleetRead): number {
  return read.primary.reachable ? read.primary.snapshot.observedAt : Date.now();
}

const collect = (value: string, previous: string[]) => [...previous, value];

function fleetCommand(fleet: Command, name: string, description: string): Command {
  const command = fleet
    .command(name)
    .description(description)
    .option('--primary <context>', "the kubeconfig context of the primary cluster (its cert-manager generates the new anchor; its state holds the fleet record)")
    .option('--member <context>', 'the kubeconfig context of a member cluster (repeat for each)', collect, [])
    .option('--output <format>', name === 'run' ? 'final report: text or json' : 'text or json', 'text');
  if (name !== 'run') command.option('--verbose', 'list every workload, pod and missing item');
  return withRotationOptions(withClusterOptions(command));
}

export function registerFleet(program: Command, io: CommandIO, setExitCode: (code: number) => void): void {
  const fleet = program.command('fleet').description('rotate one trust anchor shared by linked clusters (docs/multicluster.md)');
  const start = (opts: Record<string, unknown>, command: string) => {
    if (opts['output'] !== 'text' && opts['output'] !== 'json') throw new UsageError(`--output must be text or json, got ${String(opts['output'])}`);
    const config = parseClusterConfig(opts);
    const flags = parseRotationFlags(opts);
    const clusters = parseFleetRunFlags(opts, command);
    const contexts = fleetContexts(clusters);
    for (const context of contexts) kubeConfigOf({ ...config, context });
    return { config, flags, clusters, contexts, json: opts['output'] === 'json', verbose: opts['verbose'] === true };
  };

  fleetCommand(fleet, 'run', "run or resume a fleet rotation: B generated once by the primary's cert-manager, the fleet gates deciding when each cluster promotes and retires").action(async (opts: Record<string, unknown>) => {
    const { config, flags, clusters, contexts, json } = start(opts, 'fleet run');
    const open = (context: string, body: (session: Session) => Promise<number>) => withSession({ command: 'fleet run', config: { ...config, context }, io, budgetTimeoutMs: flags.phaseTimeout }, body);
    const code = await withSessions(contexts, open, async (sessions) => {
      const failed = await startClusters(sessions, config, flags);
      if (failed !== undefined) return failed;
      const result = await fleetRun(sessions, config, flags);
      io.out(json ? `${JSON.stringify(result)}\n` : formatFleetRun(result, clusters));
      return exitCodeOfFleet(result);
    });
    setExitCode(code);
  });

  fleetCommand(fleet, 'plan', 'print what a fleet run would do now (its next action or the gate it waits at, each cluster\'s phases and restarts in order, the total); changes nothing').action(async (opts: Record<string, unknown>) => {
    const { config, flags, contexts, json, verbose } = start(opts, 'fleet plan');
    const reads = await readContexts(contexts, { command: 'fleet plan', config, io, strictInjector: false }, async (session) => {
      const stored = await session.adapter.state.read();
      await startWatching(session);
      return { snapshot: await session.adapter.reader.readSnapshot(), ...(stored ? { stored } : {}) };
    });
    const read = fleetRead(reads);
    const p = await planFleet(read, runOptions(config, flags), nowOf(read));
    io.out(json ? `${JSON.stringify(fleetPlanJson(p))}\n` : formatFleetPlan(p, verbose));
    setExitCode(fleetPlanExitCode(p));
  });

  fleetCommand(fleet, 'status', "show the fleet record (in the primary's state), each cluster's phase and status, and what the fleet waits on and which cluster holds it; exit 4 when a cluster does not answer").action(async (opts: Record<string, unknown>) => {
    const { config, flags, clusters, contexts, json, verbose } = start(opts, 'fleet status');
    const parkedFlags = parseParkedFlags(opts);
    const reads = await readContexts(contexts, { command: 'fleet status', config, io, strictInjector: false }, (session) => readStatus(session, { thresholds: DEFAULT_THRESHOLDS, parkedFlags }));
    const read = fleetRead(reads);
    const primaryState = read.primary.reachable ? parseState(read.primary.stored?.data) : undefined;
    const rotation = primaryState?.ok ? primaryState.state.fleet?.rotation : undefined;
    const next = await nextFleetStep(read, runOptions(config, flags), nowOf(read));
    const status = buildFleetStatus(clusters, reads.map((r) => ('value' in r ? { cluster: r.context, report: r.value.report } : { cluster: r.context, error: r.error })), rotation, next);
    io.out(json ? `${JSON.stringify(status)}\n` : formatFleetStatus(status, verbose));
    setExitCode(fleetStatusExitCode(status));
  });
}
