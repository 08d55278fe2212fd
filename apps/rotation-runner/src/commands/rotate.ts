// `rotate`: run or resume a rotation to Done, or to a long gate a later scheduled run resumes (the
// CronJob's command). When nothing is due it answers from four reads, without watching the cluster;
// otherwise it drives the engine's runRotation over the Kubernetes adapter and prints a final report
// (text, or JSON with --output json).
import type { Command } from 'commander';
import type { AnchorSecretFacts, RotationAdapter } from '@linkerd-rotator/kube/rotation';
import { crossSignWindowOf, decide, decideOptionsOf, describePhase, isRotationPhase, parseState, runRotation, shortFp, type ClusterSnapshot, type IssuerSigningFacts, type RotationState, type ProgressEvent, type RotationPorts, type RunOptions, type RunResult } from '@linkerd-rotator/rotation';
import type { CommandIO } from '../cli.js';
import { formatDuration, leafLifetimeProblem, parseClusterConfig, parseRotationFlags, withClusterOptions, withRotationOptions, type ClusterConfig, type RotationFlags } from '../config.js';
import { EXIT, UsageError } from '../exit.js';
import { progressLogger } from '../logging.js';
import { formatParked, parkedRotation } from '../parked.js';
import { timedPorts, type PortTimes } from '../timing.js';
import { startWatching, withSession, type Session } from '../session.js';

export interface RotateReport {
  /** `waiting`: the run ended on a long gate (exit 0); `resumeAt` says when the next scheduled run resumes. */
  outcome: RunResult['outcome'] | 'not-due' | 'waiting';
  reason?: string;
  message: string;
  /** With `waiting`: when the gate opens (ISO 8601), and what it awaits. */
  resumeAt?: string;
  waitingFor?: string;
  phase?: string;
  from?: string;
  to?: string;
  wallMs: number;
  waitedMs: number;
  /** Time spent waiting, by gate (from the progress events), e.g. `pods-trust-both`. */
  gates: Record<string, number>;
  heldByBudgetsMs: number;
  steps: number;
  actions: number;
  rolls: number;
  apiRequests: number;
  requestsByKind: Array<{ verb: string; resource: string; count: number }>;
  peakRssBytes: number;
  /** Time inside each port method (`cluster.readSnapshot`, `workloads.restart`, `state.write`, ...). */
  ports: PortTimes;
  /** CPU time of this process (user + system). */
  cpuMs: number;
  /** process.memoryUsage() at the end, bytes. */
  memory: { rss: number; heapUsed: number; heapTotal: number; external: number };
}

export function runOptions(config: ClusterConfig, flags: RotationFlags): RunOptions {
  return {
    holder: config.holder,
    names: config.names,
    start: flags.force ? 'always' : 'if-due',
    ...(flags.onlyIfOlderThan !== undefined ? { maxActiveAgeMs: flags.onlyIfOlderThan } : {}),
    gentle: flags.gentle,
    maxConcurrentRollouts: flags.maxConcurrentRollouts,
    restartConcurrency: flags.restartConcurrency,
    leafLifetimeMs: flags.leafLifetime,
    strategy: flags.strategy,
    rollAfterPromote: flags.rollAfterPromote,
    crossSignMarginMs: flags.crossSignMargin,
    ...(flags.expiryMargin !== undefined ? { expiryMarginMs: flags.expiryMargin } : {}),
    gateTimeoutMs: flags.phaseTimeout,
    leaseDurationMs: config.leaseDurationMs,
    recover: flags.recoverAuto,
    recoverConcurrency: flags.recoverConcurrency,
    recoverLeafGraceMs: flags.recoverLeafGrace,
  };
}

/**
 * The CronJob's fast path: an idle state, both runner Secrets present, no cross-signature within
 * its margin of its end (pods relying on it may be due for a restart, which needs the pods), the
 * identity issuer's signer on the active Secret, and no rotation due by the engine's own rule, read
 * from the state ConfigMap, the three anchor Secrets, the identity ClusterIssuer and the issuer Certificate only.
 */
async function notDue(adapter: RotationAdapter, options: RunOptions): Promise<string | undefined> {
  if (options.start === 'always') return undefined;
  const stored = await adapter.state.read();
  const parsed = parseState(stored?.data);
  if (!parsed.ok) return undefined;
  const issuerSigning = await adapter.readIssuerSigning();
  if (!issuerSigning) return undefined;
  return quietRun(parsed.state, await adapter.readAnchorSecrets(), options, adapter.context.now(), issuerSigning);
}

/**
 * The fast path's rule (pure): the summary of a run with nothing to do, else undefined (take the full
 * path). A signer the engine would stop on (issuer-signer-not-active), a half-finished rotation
 * (active anchor not the previous one) or a cross-signature in phase Idle (a lost state, judged by
 * the pods) takes the full path, which stops and says what to do.
 */
export function quietRun(state: RotationState, anchors: AnchorSecretFacts, options: RunOptions, now: number, issuerSigning?: IssuerSigningFacts): string | undefined {
  if (options.start === 'always' || state.phase === 'Stopped' || isRotationPhase(state.phase)) return undefined;
  // With recover.auto a scheduled run must see the issuer, the bundles and the pods (diagnoseExpiry), which four reads do not.
  if (options.recover === true || state.phase === 'Recover') return undefined;
  const { prepared, active, previous, activeCrossSignatureNotAfter } = anchors;
  if (!active || !previous) return undefined;
  const decideOptions = decideOptionsOf(options);
  if (activeCrossSignatureNotAfter !== undefined && now >= activeCrossSignatureNotAfter - crossSignWindowOf(decideOptions)) return undefined;
  // A cross-signature in phase Idle: a cross-signed rotation whose state is gone; the pods decide (rotation-state-lost).
  if (activeCrossSignatureNotAfter !== undefined && state.phase === 'Idle') return undefined;
  const snapshot: ClusterSnapshot = {
    observedAt: now,
    prepared: { issuing: 'absent', revision: 0, ...(prepared ? { anchor: prepared } : {}) },
    active,
    previous,
    ...(issuerSigning ? { issuerSigning } : {}),
    bundles: [],
    pods: [],
    workloads: [],
    identityEvents: [],
  };
  const decision = decide(snapshot, state, decideOptions);
  return decision.kind === 'done' ? decision.summary : undefined;
}

/**
 * Runs `rotate`, or with `recover` the `recover` command's run: no rotation starts (start never),
 * an expiry incident is recovered (docs/rotation.md "Recover"), and the fast path is never taken.
 */
export async function rotate(session: Session, flags: RotationFlags, mode: 'rotate' | 'recover' = 'rotate'): Promise<RotateReport> {
  const { adapter, config, logger } = session;
  const options: RunOptions = mode === 'recover' ? { ...runOptions(config, flags), start: 'never', recover: true } : runOptions(config, flags);
  const base = () => ({
    wallMs: Date.now() - session.started,
    heldByBudgetsMs: adapter.restarts.heldMs,
    apiRequests: adapter.requests.total,
    requestsByKind: adapter.requests.byKind(),
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    cpuMs: Math.round(((u) => (u.user + u.system) / 1000)(process.cpuUsage())),
    ports,
    memory: (({ rss, heapUsed, heapTotal, external }) => ({ rss, heapUsed, heapTotal, external }))(process.memoryUsage()),
  });
  const ports: PortTimes = {};
  // An active Secret written before anchor.crt existed gets it first: the chart's Bundle reads it.
  await adapter.anchors.addAnchorKey();
  const quiet = await notDue(adapter, options);
  if (quiet !== undefined) {
    logger.info({}, `nothing to do: ${quiet}`);
    return { outcome: 'not-due', message: quiet, waitedMs: 0, gates: {}, steps: 0, actions: 0, rolls: 0, ...base() };
  }
  await startWatching(session);
  // Issue 14 item 11: leaves identity signs must not outlive what the gates wait for (gentle mode,
  // cross-signed's old-leaves-expired, leavesRenewed): refuse before the engine writes anything. The
  // reader takes identity's Deployment from the watch cache, so only once it is synced (before, it
  // reads as missing and nothing would be refused); `check` reports the same problem when nothing is due.
  const shortLifetime = leafLifetimeProblem(flags.leafLifetime, await adapter.reader.identityIssuanceLifetime(), config.names);
  if (shortLifetime !== undefined) throw new UsageError(shortLifetime);
  const timer = gateTimer(progressLogger(logger));
  const watched = withLastSnapshot(adapter.ports);
  const result = await runRotation(timedPorts(watched.ports, ports), options, timer.progress);
  timer.progress({ kind: 'done', summary: '' }, false);
  const state = result.state;
  const r = state?.rotation;
  return {
    ...endOf(result, { snapshot: watched.last(), options }),
    ...(result.reason ? { reason: result.reason } : {}),
    ...(state ? { phase: describePhase(state) } : {}),
    ...(r?.from ?? state?.last ? { from: r?.from.fingerprint ?? state?.last?.from } : {}),
    ...(r?.to ?? state?.last ? { to: r?.to?.fingerprint ?? state?.last?.to } : {}),
    waitedMs: result.waitedMs,
    gates: timer.gates,
    steps: result.steps,
    actions: result.actions,
    rolls: result.rolls,
    ...base(),
  };
}

/** The same ports, remembering the last snapshot the engine decided on. */
function withLastSnapshot(ports: RotationPorts): { ports: RotationPorts; last: () => ClusterSnapshot | undefined } {
  let last: ClusterSnapshot | undefined;
  const readSnapshot = async () => (last = await ports.cluster.readSnapshot());
  return { ports: { ...ports, cluster: { ...ports.cluster, readSnapshot } }, last: () => last };
}

/**
 * How a run ended, for the report: a run that ended on a long gate (`resumeAt`) is `waiting`, not
 * `done`, with what it awaits from the engine's gate on the last snapshot (the engine's message if none).
 */
export function endOf(result: RunResult, last: { snapshot?: ClusterSnapshot | undefined; options: RunOptions }): Pick<RotateReport, 'outcome' | 'message' | 'resumeAt' | 'waitingFor'> {
  if (result.resumeAt === undefined || result.outcome !== 'done') return { outcome: result.outcome, message: result.message };
  const parked = last.snapshot && result.state ? parkedRotation(last.snapshot, result.state, decideOptionsOf(last.options)) : undefined;
  const awaits = parked?.until === result.resumeAt ? parked.awaits : result.message;
  return { outcome: 'waiting', message: formatParked({ until: result.resumeAt, awaits }), resumeAt: new Date(result.resumeAt).toISOString(), waitingFor: awaits };
}

/** Adds up the time from each `waiting` event to the next event, per gate. */
export function gateTimer(log: (event: ProgressEvent) => void, now: () => number = Date.now) {
  const gates: Record<string, number> = {};
  let open: { gate: string; at: number } | undefined;
  return {
    gates,
    progress(event: ProgressEvent, forward = true): void {
      const t = now();
      if (open) gates[open.gate] = (gates[open.gate] ?? 0) + t - open.at;
      open = event.kind === 'waiting' ? { gate: event.gate.name, at: t } : undefined;
      if (forward) log(event);
    },
  };
}

export function exitCodeOf(report: RotateReport): number {
  if (report.outcome === 'done' || report.outcome === 'not-due' || report.outcome === 'waiting') return EXIT.ok;
  if (report.outcome === 'refused') return EXIT.leaseHeld;
  return EXIT.stopped;
}

export function formatRotateReport(report: RotateReport): string {
  const lines = [report.outcome === 'waiting' ? report.message : `${report.outcome === 'not-due' ? 'not due' : report.outcome}: ${report.message}`];
  if (report.phase) lines.push(`  phase:     ${report.phase}${report.from ? `  (${shortFp(report.from)} -> ${shortFp(report.to)})` : ''}`);
  if (report.outcome !== 'not-due') {
    lines.push(`  restarts:  ${report.rolls} workload rolls in ${report.actions} actions, ${report.steps} steps`);
    lines.push(`  time:      ${formatDuration(report.wallMs)} in all, ${formatDuration(report.waitedMs)} waiting on gates`);
  }
  lines.push(`  requests:  ${report.apiRequests} Kubernetes API requests`);
  return lines.join('\n') + '\n';
}

export function registerRotate(program: Command, io: CommandIO, setExitCode: (code: number) => void): void {
  const command = program
    .command('rotate')
    .description('run or resume a trust-anchor rotation to completion (what the CronJob runs); exits 0 quickly when nothing is due')
    .option('--output <format>', 'final report: text or json', 'text');
  withRotationOptions(withClusterOptions(command)).action(async (opts: Record<string, unknown>) => {
    if (opts['output'] !== 'text' && opts['output'] !== 'json') throw new UsageError(`--output must be text or json, got ${String(opts['output'])}`);
    const config = parseClusterConfig(opts);
    const flags = parseRotationFlags(opts);
    const code = await withSession({ command: 'rotate', config, io, budgetTimeoutMs: flags.phaseTimeout }, async (session) => {
      const report = await rotate(session, flags);
      io.out(opts['output'] === 'json' ? `${JSON.stringify(report)}\n` : formatRotateReport(report));
      return exitCodeOf(report);
    });
    setExitCode(code);
  });
}
