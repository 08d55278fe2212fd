// The driver loop: hold the Lease, snapshot, decide, act or wait on the gate, persist after every step.
// Waits are observed conditions with deadlines (I3); a missed deadline stops in a safe, resumable state.
import type { Action, Decision, Gate, RotationEvent } from './decision.js';
import { decide } from './decide.js';
import { checkActionSafety, describeViolation } from './invariants.js';
import { resolveOptions, type DecideOptions } from './options.js';
import type { RotationPorts, WaitCondition } from './ports.js';
import { stoppedState, type StopRecord } from './rules.js';
import type { ClusterSnapshot, Tier, WorkloadRef } from './snapshot.js';
import { initialState, iso, parseState, sameState, serializeState, type Phase, type RotationState, type StopReason } from './state.js';

export interface RunOptions extends Partial<DecideOptions> {
  /** This run's identity on the Lease (the pod name or a unique run id). */
  readonly holder: string;
  /** How long a gate may stay pending with no action in between before the run stops (I3). */
  readonly gateTimeoutMs: number;
  readonly leaseDurationMs: number;
  /** A guard against a decide loop that makes no progress (a bug, never a normal end). */
  readonly maxSteps?: number;
}

export type ProgressEvent =
  | { readonly kind: 'started'; readonly phase: Phase; readonly holder: string }
  | { readonly kind: 'phase'; readonly from: Phase; readonly to: Phase; readonly why: string }
  | { readonly kind: 'action'; readonly phase: Phase; readonly action: Action; readonly summary: string }
  | {
      readonly kind: 'rolled';
      readonly phase: Phase;
      readonly tier: Tier;
      readonly restarted: readonly WorkloadRef[];
      readonly notFound: readonly WorkloadRef[];
      readonly rolled: number;
      readonly total: number;
    }
  | { readonly kind: 'waiting'; readonly gate: Gate; readonly deadline: number }
  | { readonly kind: 'done'; readonly summary: string }
  | { readonly kind: 'stopped'; readonly reason: StopReason; readonly message: string };

export type Progress = (event: ProgressEvent) => void;

export interface RunResult {
  /** `refused`: another run holds the Lease, nothing was written. */
  readonly outcome: 'done' | 'stopped' | 'refused';
  readonly reason?: StopReason;
  readonly message: string;
  readonly state?: RotationState;
  readonly steps: number;
  readonly actions: number;
  readonly rolls: number;
  /** Time spent inside `waitFor`, by the clock port. */
  readonly waitedMs: number;
  /**
   * Set when the run ended on a long gate (`resumeLater`, e.g. `old-leaves-expired`): outcome is
   * `done` (exit 0), the state records where it is, and a run at or after this time resumes.
   */
  readonly resumeAt?: number;
}

class StateConflict extends Error {}

const DEFAULT_MAX_STEPS = 1_000_000;

/** Runs (or resumes) a rotation to Done, or stops safely; never throws for cluster errors. */
export async function runRotation(ports: RotationPorts, options: RunOptions, progress: Progress = () => {}): Promise<RunResult> {
  const { gateTimeoutMs, leaseDurationMs, maxSteps = DEFAULT_MAX_STEPS, holder } = options;
  if (holder.length === 0) {
    throw new RangeError('expected a non-empty Lease holder identity, found an empty string; pass the pod name or a unique run id');
  }
  // After the rotation this run started or resumed reaches Done, it never starts another one.
  let decideOptions = decideOptionsOf(options);
  const stats = { steps: 0, actions: 0, rolls: 0, waitedMs: 0 };
  const result = (end: { outcome: RunResult['outcome']; message: string; reason?: StopReason; state?: RotationState; resumeAt?: number }): RunResult => ({
    outcome: end.outcome,
    message: end.message,
    ...stats,
    ...(end.resumeAt !== undefined ? { resumeAt: end.resumeAt } : {}),
    ...(end.state ? { state: end.state } : {}),
    ...(end.reason ? { reason: end.reason } : {}),
  });
  /** Ends the run writing nothing more: another run may own the state, or it cannot be written. */
  const endUnwritten = (end: { outcome: 'stopped' | 'refused'; reason: StopReason; message: string; state?: RotationState }): RunResult => {
    progress({ kind: 'stopped', reason: end.reason, message: end.message });
    return result(end);
  };

  let lease: Awaited<ReturnType<RotationPorts['lease']['acquire']>>;
  try {
    lease = await ports.lease.acquire(holder, leaseDurationMs);
  } catch (error) {
    const message = `expected to acquire the rotation Lease, found an error: ${(error as Error).message ?? String(error)}; nothing was written, fix the cause and run again`;
    return endUnwritten({ outcome: 'stopped', reason: 'action-failed', message });
  }
  if (!lease.held) {
    const message = `expected the rotation Lease to be free, found it held by ${lease.holder ?? 'another run'}${lease.expiresAt ? ` until ${iso(lease.expiresAt)}` : ''}; let that run finish (or its Lease expire) and run again`;
    return endUnwritten({ outcome: 'refused', reason: 'lease-held', message });
  }

  let state: RotationState = initialState();
  let resourceVersion: string | undefined;
  const persist = async (next: RotationState): Promise<void> => {
    if (sameState(next, state)) return;
    const written = await ports.state.write(serializeState(next), resourceVersion);
    if (!written.ok) throw new StateConflict();
    resourceVersion = written.resourceVersion;
    state = next;
  };
  const record = async (event: RotationEvent | undefined): Promise<void> => {
    if (event) await ports.events.record(event);
  };
  /** Stops the run: persists `next` (a Stopped state) when given, records a Warning Event, reports. */
  const stopWith = async (stop: { reason: StopReason; message: string; next?: RotationState; event?: RotationEvent }): Promise<RunResult> => {
    const { reason, message } = stop;
    if (stop.next) await persist(stop.next);
    await record(stop.event ?? { type: 'Warning', reason: 'RotationStopped', message: `${reason}: ${message}` });
    progress({ kind: 'stopped', reason, message });
    return result({ outcome: 'stopped', message, state, reason });
  };
  /** Stops the run in the Stopped state of where it is now (rules.ts `stoppedState`). */
  const haltWith = (stop: StopRecord): Promise<RunResult> => stopWith({ ...stop, next: stoppedState(state, stop) });

  try {
    const stored = await ports.state.read();
    const parsed = parseState(stored?.data);
    if (!parsed.ok) return await stopWith({ reason: 'state-invalid', message: parsed.message });
    state = parsed.state;
    resourceVersion = stored?.resourceVersion;
    const fleet = state.fleet;
    if (fleet && !decideOptions.recover) {
      // A fleet's cluster rotated on its own would promote or retire on its own clock (docs/multicluster.md).
      const message = `expected a cluster rotated on its own, found it in a fleet (${fleet.role}${fleet.role === 'member' ? ` of primary ${fleet.primary}` : ` ${fleet.primary}`}): run \`rotator fleet run --primary ${fleet.primary} --member ...\` instead; nothing was written`;
      return await stopWith({ reason: 'state-invalid', message });
    }
    progress({ kind: 'started', phase: state.phase, holder });

    // Per gate name, when this run first waited on it since the last action or phase change.
    let pendingSince = new Map<string, number>();
    let finished: string | undefined;
    for (; stats.steps < maxSteps; stats.steps++) {
      const renewed = await ports.lease.renew(holder, leaseDurationMs);
      if (!renewed.held) {
        const message = `expected to keep the rotation Lease, found it ${renewed.holder ? `held by ${renewed.holder}` : 'gone'}; nothing more was written, run again to resume`;
        return endUnwritten({ outcome: 'stopped', reason: 'lease-lost', message, state });
      }
      const snapshot = await ports.cluster.readSnapshot();
      const decision = decide(snapshot, state, decideOptions);
      switch (decision.kind) {
        case 'done':
          await persist(decision.state);
          progress({ kind: 'done', summary: finished ?? decision.summary });
          return result({ outcome: 'done', message: finished ?? decision.summary, state });
        case 'stop':
          return await stopWith({ reason: decision.reason, message: decision.message, next: decision.state, ...(decision.event ? { event: decision.event } : {}) });
        case 'action': {
          const violations = checkActionSafety(decision.action, { snapshot, state: decision.state, options: decideOptions });
          if (violations.length > 0) {
            const message = `expected ${decision.action.kind} to keep I1 and I2, found ${violations.map(describeViolation).join('; ')}; this is a rotator bug, report it with the state ConfigMap`;
            return await haltWith({ reason: 'invariant-violation', message, at: snapshot.observedAt });
          }
          const applied = await perform(decision, { ports, progress, stats, restartConcurrency: decideOptions.restartConcurrency });
          stats.actions++;
          if (!applied) continue; // a guarded copy found the source changed: decide again on a fresh snapshot
          await persist(decision.state);
          await record(decision.event);
          if (decision.action.kind === 'record-transition') {
            progress({ kind: 'phase', from: decision.action.from, to: decision.action.to, why: decision.action.why });
            if (decision.action.to === 'Done') {
              decideOptions = { ...decideOptions, start: 'never', recover: false };
              finished = decision.action.why;
            }
          }
          pendingSince = new Map();
          break;
        }
        case 'gate': {
          await persist(decision.state);
          const gate = decision.gate;
          const now = ports.clock.now();
          if (gate.resumeLater && gate.notBefore !== undefined && now < gate.notBefore) {
            // Not worth holding a pod for: end with the state recorded; a later scheduled run resumes.
            const message = `waiting until ${iso(gate.notBefore)} (gate ${gate.name}): ${gate.summary}`;
            progress({ kind: 'done', summary: message });
            return result({ outcome: 'done', message, state, resumeAt: gate.notBefore });
          }
          const since = pendingSince.get(gate.name) ?? now;
          pendingSince.set(gate.name, since);
          const deadline = Math.max(since + gateTimeoutMs, gate.notBefore === undefined ? 0 : gate.notBefore + gateTimeoutMs);
          if (now >= deadline) return await stopOnDeadline(gate, now);
          progress({ kind: 'waiting', gate, deadline });
          const condition = gateCondition(gate, state, decideOptions);
          const until = Math.min(deadline, now + Math.max(1, Math.floor(leaseDurationMs / 3)));
          const outcome = await ports.waiter.waitFor(condition, until);
          const after = ports.clock.now();
          stats.waitedMs += Math.max(0, after - now);
          if (outcome === 'timeout' && after >= deadline) return await stopOnDeadline(gate, after);
          break;
        }
      }
    }
    const message = `expected the rotation to settle within ${maxSteps} steps, found it still in phase ${state.phase}; this is a rotator bug, report it with the state ConfigMap`;
    return await haltWith({ reason: 'deadline', message, at: ports.clock.now() });
  } catch (error) {
    if (error instanceof StateConflict) {
      const message = 'expected to own the state ConfigMap, found it changed by someone else (resourceVersion conflict); nothing more was written, check for another runner and run again';
      return endUnwritten({ outcome: 'stopped', reason: 'state-conflict', message, state });
    }
    const message = `expected the cluster call to succeed, found: ${(error as Error).message ?? String(error)}; fix the cause and run again to resume`;
    try {
      return await haltWith({ reason: 'action-failed', message, at: ports.clock.now() });
    } catch {
      return endUnwritten({ outcome: 'stopped', reason: 'action-failed', message, state });
    }
  } finally {
    await ports.lease.release(holder).catch(() => undefined);
  }

  async function stopOnDeadline(gate: Gate, now: number): Promise<RunResult> {
    const message = deadlineMessage(gate);
    return haltWith({ reason: 'deadline', message, at: now, gate: gate.name });
  }
}

/** The engine's options within a run's, defaults filled: what `decide` and `plan` take. */
export function decideOptionsOf(options: RunOptions): DecideOptions {
  const { gateTimeoutMs, leaseDurationMs: _lease, maxSteps: _steps, holder: _holder, ...decideOptions } = options;
  // Every gate's deadline is the phase timeout the engine counts in rotationNeedMs.
  return resolveOptions({ ...decideOptions, phaseTimeoutMs: gateTimeoutMs });
}

/** Why a run stopped on a missed gate deadline (I3): what the gate awaits and who blocks it. */
export function deadlineMessage(gate: Gate): string {
  const details = [...gate.blockers.map((b) => b.message), ...gate.missing.slice(0, 5)];
  return `expected gate ${gate.name} to open before the deadline, found: ${gate.summary}${details.length > 0 ? ` (${details.join('; ')})` : ''}; fix what it names (or raise the timeout) and run again to resume`;
}

/** The gate is satisfied once `decide` on a fresh snapshot no longer waits on this same gate. */
export function gateCondition(gate: Gate, state: RotationState, options: DecideOptions): WaitCondition {
  return {
    gate,
    satisfied(snapshot: ClusterSnapshot): boolean {
      const next: Decision = decide(snapshot, state, options);
      return !(next.kind === 'gate' && next.gate.name === gate.name);
    },
  };
}

/** Carries out one action; false when a guarded copy found its source changed (nothing written). */
export async function perform(
  decision: Extract<Decision, { kind: 'action' }>,
  run: { ports: RotationPorts; progress: Progress; stats: { rolls: number }; restartConcurrency: number },
): Promise<boolean> {
  const { ports, progress, stats } = run;
  const action = decision.action;
  const phase = decision.state.phase;
  progress({ kind: 'action', phase, action, summary: decision.summary });
  switch (action.kind) {
    case 'write-active-anchor':
      return (await (action.crossSignedBy !== undefined
        ? ports.anchors.writeActiveFromPrepared(action.fingerprint, { crossSignedBy: action.crossSignedBy })
        : ports.anchors.writeActiveFromPrepared(action.fingerprint))).written;
    case 'write-previous-anchor':
      return (await ports.anchors.writePrevious(action.source, action.fingerprint)).written;
    case 'renew-prepared-anchor':
      await ports.certificates.renewPreparedAnchor();
      return true;
    case 'renew-identity-issuer':
      await ports.certificates.renewIdentityIssuer();
      return true;
    case 'discard-issuer-request':
      await ports.certificates.discardIssuerRequest(action.name);
      return true;
    case 'roll-workloads': {
      const outcomes = await mapConcurrently(action.workloads, run.restartConcurrency, (workload) => ports.workloads.restart(workload, action.restartedAt));
      const restarted = action.workloads.filter((_, i) => outcomes[i] === 'restarted');
      const notFound = action.workloads.filter((_, i) => outcomes[i] === 'not-found');
      stats.rolls += restarted.length;
      progress({ kind: 'rolled', phase: action.phase, tier: action.tier, restarted, notFound, rolled: action.rolled, total: action.total });
      return true;
    }
    case 'record-transition':
      return true;
  }
}

/**
 * `fn` over `items` with at most `limit` calls in flight, started in order; the results in the items'
 * order. After a call fails no further call starts; the ones in flight are awaited (nothing of this
 * action runs on after the run has stopped), then the first failure is thrown.
 */
async function mapConcurrently<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let failure: { readonly error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
  return results;
}
