// The fleet driver (docs/multicluster.md, "Who drives"): one process, one kubeconfig context per
// cluster, rotating one trust anchor shared by linked clusters. Each cluster runs the engine's own
// `decide` on its own snapshot and state; the driver adds only coordination: the fleet gates
// (fleet.ts) decide whether a cluster may leave TrustBoth and retire A, B is generated once by the
// primary's cert-manager and copied certificate-only into each member's prepared Secret, and each
// member's promotion copies the primary's active Secret (B's key, and X when cross-signed: minted
// once). An unreachable cluster stops the fleet safe, named; the fleet record in the primary's
// state and each cluster's own state make a later run resume, also after kill -9.
import type { Action, Decision, Gate, GateName } from './decision.js';
import { decide } from './decide.js';
import { compareFleetAnchors, fleetMayPromote, fleetMayRetire, type FleetCluster, type FleetGate, type FleetRotation, type ObservedCluster } from './fleet.js';
import { checkActionSafety, describeViolation } from './invariants.js';
import type { DecideOptions } from './options.js';
import type { FleetClusterPorts } from './ports.js';
import { resumePhase, stoppedState } from './rules.js';
import { deadlineMessage, decideOptionsOf, gateCondition, perform, type ProgressEvent, type RunOptions } from './runner.js';
import { shortFp, type ClusterSnapshot, type EpochMs } from './snapshot.js';
import { FLEET_STOP_REASONS, isRotationPhase, iso, parseState, sameState, serializeState, type FleetRecord, type FleetRotationRecord, type FleetStopReason, type Phase, type RotationState, type StopReason } from './state.js';

export interface FleetClusterHandle {
  /** The cluster's name: its kubeconfig context. */
  readonly name: string;
  readonly ports: FleetClusterPorts;
}

export interface FleetHandles {
  readonly primary: FleetClusterHandle;
  readonly members: readonly FleetClusterHandle[];
}

/** Progress of one cluster (the engine's events), or of the fleet, named by the cluster it concerns. */
export interface FleetProgressEvent {
  readonly cluster: string;
  readonly event: ProgressEvent;
}

export type FleetProgress = (event: FleetProgressEvent) => void;

export interface FleetRunResult {
  readonly outcome: 'done' | 'stopped' | 'refused';
  readonly reason?: FleetStopReason | StopReason;
  /** The cluster a stop names. */
  readonly cluster?: string;
  readonly message: string;
  /** The fleet's rotation as last recorded in the primary. */
  readonly rotation?: FleetRotationRecord;
  /** Each cluster's phase at the end (resume phase for a Stopped one). */
  readonly phases: Readonly<Record<string, Phase>>;
  /** Set when the run ended on a long gate: a run at or after this time resumes. */
  readonly resumeAt?: EpochMs;
  readonly steps: number;
  readonly actions: number;
  readonly rolls: number;
  readonly waitedMs: number;
}

const PHASE_ORDER: readonly Exclude<Phase, 'Stopped'>[] = ['Idle', 'Prepare', 'TrustBoth', 'Promote', 'Retire', 'Done'];
const DEFAULT_MAX_STEPS = 1_000_000;

/** A call to one cluster failed: the stop names that cluster. */
class ClusterCallError extends Error {
  constructor(
    readonly cluster: string,
    override readonly cause: unknown,
    readonly unreachable: boolean,
  ) {
    super(`${cluster}: ${(cause as Error)?.message ?? String(cause)}`);
  }
}

class StateConflict extends Error {
  constructor(readonly cluster: string) {
    super(cluster);
  }
}

interface Live {
  readonly name: string;
  readonly role: 'primary' | 'member';
  readonly ports: FleetClusterPorts;
  state: RotationState;
  resourceVersion?: string;
}

/** What one cluster does in a pass: an action to carry out, a wait (engine or fleet gate), done, or a stop. */
type Step =
  | { readonly kind: 'act'; readonly cluster: Live; readonly decision: Extract<Decision, { kind: 'action' }>; readonly run: () => Promise<boolean>; readonly after?: (rotation: FleetRotationRecord) => FleetRotationRecord }
  | { readonly kind: 'wait'; readonly cluster: Live; readonly on: Live; readonly gate: Gate; readonly satisfied: (snapshot: ClusterSnapshot) => boolean; readonly engine?: RotationState }
  | { readonly kind: 'done'; readonly cluster: Live; readonly summary: string }
  | { readonly kind: 'stop'; readonly cluster: Live; readonly reason: FleetStopReason | StopReason; readonly message: string; readonly state?: RotationState };

/** Runs (or resumes) a fleet rotation to Done in every cluster, or stops safely naming a cluster. */
export async function runFleet(handles: FleetHandles, options: RunOptions, progress: FleetProgress = () => {}): Promise<FleetRunResult> {
  const { gateTimeoutMs, leaseDurationMs, maxSteps = DEFAULT_MAX_STEPS, holder } = options;
  const names = [handles.primary.name, ...handles.members.map((m) => m.name)];
  if (handles.members.length === 0) throw new RangeError('expected at least one --member cluster besides the primary, found none; a single cluster rotates with `rotator rotate`');
  const duplicate = names.find((n, i) => n.length === 0 || names.indexOf(n) !== i);
  if (duplicate !== undefined) throw new RangeError(`expected distinct non-empty cluster names, found ${JSON.stringify(duplicate)} ${duplicate.length === 0 ? '(empty)' : 'twice'} in ${names.join(', ')}`);
  if (holder.length === 0) throw new RangeError('expected a non-empty Lease holder identity, found an empty string; pass a unique run id');

  const baseOptions = decideOptionsOf(options);
  const clusters: Live[] = [
    { name: handles.primary.name, role: 'primary', ports: tagged(handles.primary.name, handles.primary.ports), state: { version: 1, phase: 'Idle', knownBundles: {} } },
    ...handles.members.map((m): Live => ({ name: m.name, role: 'member', ports: tagged(m.name, m.ports), state: { version: 1, phase: 'Idle', knownBundles: {} } })),
  ];
  const primary = clusters[0] as Live;
  const stats = { steps: 0, actions: 0, rolls: 0, waitedMs: 0 };
  const now = () => primary.ports.clock.now();
  const report = (cluster: string) => (event: ProgressEvent) => progress({ cluster, event });
  const result = (end: { outcome: FleetRunResult['outcome']; message: string; reason?: FleetStopReason | StopReason; cluster?: string; resumeAt?: EpochMs }): FleetRunResult => {
    const rotation = primary.state.fleet?.rotation;
    return {
      ...end,
      ...(rotation ? { rotation } : {}),
      phases: Object.fromEntries(clusters.map((c) => [c.name, resumePhase(c.state)])),
      ...stats,
    };
  };

  const persist = async (c: Live, next: RotationState): Promise<void> => {
    if (sameState(next, c.state)) return;
    const written = await c.ports.state.write(serializeState(next), c.resourceVersion);
    if (!written.ok) throw new StateConflict(c.name);
    c.resourceVersion = written.resourceVersion;
    c.state = next;
  };
  const marker = (c: Live): FleetRecord => (c.role === 'primary' ? { ...(primary.state.fleet ?? {}), role: 'primary', primary: primary.name } : { role: 'member', primary: primary.name });
  /** The state a decision leaves, with the cluster's fleet record kept (the engine does not know it). */
  const withMarker = (c: Live, state: RotationState): RotationState => ({ ...state, fleet: c === primary ? { ...marker(c), ...(primary.state.fleet?.rotation ? { rotation: primary.state.fleet.rotation } : {}) } : marker(c) });
  const setRotation = async (rotation: FleetRotationRecord): Promise<void> => {
    const fleet: FleetRecord = { ...marker(primary), rotation };
    await persist(primary, { ...primary.state, fleet });
  };
  /** Stops the fleet: records the stop in the primary's fleet record (when it answers) and reports it. */
  const stopFleet = async (stop: { reason: FleetStopReason | StopReason; cluster: string; message: string; clusterState?: { live: Live; state: RotationState } }): Promise<FleetRunResult> => {
    const message = `${stop.cluster}: ${stop.message}`;
    if (stop.clusterState) await persist(stop.clusterState.live, withMarker(stop.clusterState.live, stop.clusterState.state)).catch(() => undefined);
    const rotation = primary.state.fleet?.rotation;
    // A cluster's own engine stop is recorded as `cluster-stopped` (its state keeps the reason).
    const fleetReason = FLEET_STOP_REASONS.find((r) => r === stop.reason) ?? 'cluster-stopped';
    if (rotation) await setRotation({ ...rotation, stopped: { reason: fleetReason, cluster: stop.cluster, message: stop.message, at: iso(now()) } }).catch(() => undefined);
    progress({ cluster: stop.cluster, event: { kind: 'stopped', reason: stop.reason as StopReason, message } });
    return result({ outcome: 'stopped', reason: stop.reason, cluster: stop.cluster, message });
  };

  // One Lease per cluster: the primary's keeps two fleet drivers apart, each member's keeps that
  // member's own single-cluster runner out while the fleet drives it.
  const held: Live[] = [];
  try {
    for (const c of clusters) {
      let lease;
      try {
        lease = await c.ports.lease.acquire(holder, leaseDurationMs);
      } catch (error) {
        return await stopFleet({ reason: 'cluster-unreachable', cluster: c.name, message: `expected to acquire its rotation Lease, found an error: ${messageOf(error)}; nothing was written, run again once it answers` });
      }
      if (!lease.held) {
        const message = `${c.name}: expected its rotation Lease to be free, found it held by ${lease.holder ?? 'another run'}${lease.expiresAt ? ` until ${iso(lease.expiresAt)}` : ''}; let that run finish (or its Lease expire) and run again`;
        progress({ cluster: c.name, event: { kind: 'stopped', reason: 'lease-held', message } });
        return result({ outcome: 'refused', reason: 'lease-held', cluster: c.name, message });
      }
      held.push(c);
    }

    for (const c of clusters) {
      const stored = await c.ports.state.read();
      const parsed = parseState(stored?.data);
      if (!parsed.ok) return await stopFleet({ reason: 'state-invalid', cluster: c.name, message: parsed.message });
      c.state = parsed.state;
      c.resourceVersion = stored?.resourceVersion;
      const mismatch = fleetMembership(c, primary.name, names);
      if (mismatch) return await stopFleet({ reason: 'fleet-mismatch', cluster: c.name, message: mismatch });
      progress({ cluster: c.name, event: { kind: 'started', phase: c.state.phase, holder } });
    }
    // A primary whose last fleet rotation is Done starts the next only if this run allows it.
    let finished = false;
    let pendingSince = new Map<string, number>();

    for (; stats.steps < maxSteps; stats.steps++) {
      for (const c of clusters) {
        const renewed = await c.ports.lease.renew(holder, leaseDurationMs);
        if (!renewed.held) {
          // The kube adapter reports a Lease it could not renew before it expired as gone (no holder):
          // when the cluster does not answer a read either, the stop is the cluster's, not the Lease's.
          const unreachable = renewed.holder === undefined ? await c.ports.state.read().then(() => undefined, (error: unknown) => messageOf(error instanceof ClusterCallError ? error.cause : error)) : undefined;
          if (unreachable !== undefined) {
            return await stopFleet({
              reason: 'cluster-unreachable',
              cluster: c.name,
              message: `expected to renew its rotation Lease, found the cluster unreachable (${unreachable}); the fleet stopped in a safe state (no cluster retires or promotes without it), run again once it answers to resume`,
            });
          }
          return await stopFleet({ reason: 'lease-lost', cluster: c.name, message: `expected to keep its rotation Lease, found it ${renewed.holder ? `held by ${renewed.holder}` : 'gone'}; nothing more was written, run again to resume` });
        }
      }
      const observed = await Promise.all(
        clusters.map(async (c): Promise<FleetCluster> => {
          try {
            return { cluster: c.name, reachable: true, snapshot: await c.ports.cluster.readSnapshot(), state: c.state };
          } catch (error) {
            return { cluster: c.name, reachable: false, error: messageOf(error instanceof ClusterCallError ? error.cause : error) };
          }
        }),
      );
      const down = observed.find((o) => !o.reachable);
      if (down && !down.reachable) {
        return await stopFleet({
          reason: 'cluster-unreachable',
          cluster: down.cluster,
          message: `expected to read the cluster, found it unreachable (${down.error}); the fleet stopped in a safe state (no cluster retires or promotes without it), run again once it answers to resume`,
        });
      }
      const fleet = observed as ObservedCluster[];
      const snapshotOf = (c: Live) => (fleet.find((o) => o.cluster === c.name) as ObservedCluster).snapshot;

      // The fleet record follows the clusters: each one's phase and when its identity ran I_B. A run
      // killed between the primary's start of a rotation and its record makes the record now.
      const started = primary.state.rotation;
      if (started && isRotationPhase(resumePhase(primary.state)) && primary.state.fleet?.rotation?.id !== started.id) await setRotation(newFleetRecord(primary.state, clusters));
      const record = primary.state.fleet?.rotation;
      if (record) {
        const next = refreshRecord(record, clusters);
        if (next.phase !== record.phase) progress({ cluster: primary.name, event: { kind: 'phase', from: record.phase, to: next.phase, why: `fleet rotation ${record.id}: every cluster has reached ${next.phase}` } });
        await setRotation(next);
      }
      const rotation = primary.state.fleet?.rotation;
      const under = rotation !== undefined && rotation.phase !== 'Done' ? rotation : undefined;
      if (rotation?.phase === 'Done' && record !== undefined && record.phase !== 'Done') finished = true;

      const steps = clusters.map((c) => stepOf(c, { snapshot: snapshotOf(c), fleet, rotation: under, finished, primary, clusters, options: baseOptions, now: now(), progress: report(c.name), stats }));
      const stop = steps.find((s): s is Extract<Step, { kind: 'stop' }> => s.kind === 'stop');
      if (stop) return await stopFleet({ reason: stop.reason, cluster: stop.cluster.name, message: stop.message, ...(stop.state ? { clusterState: { live: stop.cluster, state: stop.state } } : {}) });
      const action = steps.find((s): s is Extract<Step, { kind: 'act' }> => s.kind === 'act');
      if (action) {
        const { cluster: c, decision } = action;
        const violations = checkActionSafety(decision.action, { snapshot: snapshotOf(c), state: decision.state, options: baseOptions });
        if (violations.length > 0) {
          const message = `expected ${decision.action.kind} to keep I1 and I2, found ${violations.map(describeViolation).join('; ')}; this is a rotator bug, report it with the state ConfigMaps`;
          return await stopFleet({ reason: 'invariant-violation', cluster: c.name, message, clusterState: { live: c, state: stoppedState(c.state, { reason: 'invariant-violation', message, at: now() }) } });
        }
        const applied = await action.run();
        stats.actions++;
        if (!applied) continue;
        await persist(c, withMarker(c, decision.state));
        if (decision.event) await c.ports.events.record(decision.event);
        if (action.after) {
          const current = primary.state.fleet?.rotation;
          if (current) await setRotation(action.after(current));
        }
        if (decision.action.kind === 'record-transition') {
          progress({ cluster: c.name, event: { kind: 'phase', from: decision.action.from, to: decision.action.to, why: decision.action.why } });
          if (c === primary && decision.action.to === 'Prepare') await setRotation(newFleetRecord(decision.state, clusters));
        }
        pendingSince = new Map();
        continue;
      }
      const waits = steps.filter((s): s is Extract<Step, { kind: 'wait' }> => s.kind === 'wait');
      if (waits.length === 0) {
        const summary = rotation ? `fleet rotation ${rotation.id} ${shortFp(rotation.from)} -> ${shortFp(rotation.to)}: ${rotation.phase === 'Done' ? 'done in every cluster' : `phase ${rotation.phase}`}` : (steps[0] as Extract<Step, { kind: 'done' }>).summary;
        for (const c of clusters) await persist(c, withMarker(c, c.state));
        progress({ cluster: primary.name, event: { kind: 'done', summary } });
        return result({ outcome: 'done', message: summary });
      }
      for (const w of waits) if (w.engine) await persist(w.cluster, withMarker(w.cluster, w.engine));
      const t = now();
      const long = waits.filter((w) => w.gate.resumeLater && w.gate.notBefore !== undefined && t < w.gate.notBefore);
      if (long.length === waits.length) {
        const resumeAt = Math.min(...long.map((w) => w.gate.notBefore as number));
        const first = long.find((w) => w.gate.notBefore === resumeAt) as Extract<Step, { kind: 'wait' }>;
        const message = `${first.cluster.name}: waiting until ${iso(resumeAt)} (gate ${first.gate.name}): ${first.gate.summary}`;
        progress({ cluster: first.cluster.name, event: { kind: 'done', summary: message } });
        return result({ outcome: 'done', message, resumeAt });
      }
      // A cluster's own gate first: a fleet gate holds because of what other clusters still await.
      // Every cluster a fleet gate holds is reported (the logger shows each gate once while it stays the same).
      for (const w of waits) if (!w.engine && !long.includes(w)) progress({ cluster: w.cluster.name, event: { kind: 'waiting', gate: w.gate, deadline: (pendingSince.get(`${w.cluster.name}/${w.gate.name}`) ?? t) + gateTimeoutMs } });
      const wait = waits.filter((w) => !long.includes(w)).sort((a, b) => (a.engine ? 0 : 1) - (b.engine ? 0 : 1))[0] as Extract<Step, { kind: 'wait' }>;
      const key = `${wait.cluster.name}/${wait.gate.name}`;
      const since = pendingSince.get(key) ?? t;
      pendingSince.set(key, since);
      const deadline = Math.max(since + gateTimeoutMs, wait.gate.notBefore === undefined ? 0 : wait.gate.notBefore + gateTimeoutMs);
      const missed = async (at: number) =>
        stopFleet({
          reason: 'deadline',
          // A fleet gate's deadline names the cluster that holds it, not the one it holds back.
          cluster: wait.engine ? wait.cluster.name : wait.on.name,
          message: deadlineMessage(wait.gate),
          ...(wait.engine ? { clusterState: { live: wait.cluster, state: stoppedState(wait.cluster.state, { reason: 'deadline', message: deadlineMessage(wait.gate), at, gate: wait.gate.name }) } } : {}),
        });
      if (t >= deadline) return await missed(t);
      if (wait.engine) progress({ cluster: wait.cluster.name, event: { kind: 'waiting', gate: wait.gate, deadline } });
      const until = Math.min(deadline, t + Math.max(1, Math.floor(leaseDurationMs / 3)));
      const outcome = await wait.on.ports.waiter.waitFor({ gate: wait.gate, satisfied: wait.satisfied }, until);
      const after = now();
      stats.waitedMs += Math.max(0, after - t);
      if (outcome === 'timeout' && after >= deadline) return await missed(after);
    }
    return await stopFleet({ reason: 'deadline', cluster: primary.name, message: `expected the fleet rotation to settle within ${maxSteps} steps; this is a rotator bug, report it with the state ConfigMaps` });
  } catch (error) {
    if (error instanceof StateConflict) {
      const message = `${error.cluster}: expected to own its state ConfigMap, found it changed by someone else (resourceVersion conflict); nothing more was written, check for another runner and run again`;
      progress({ cluster: error.cluster, event: { kind: 'stopped', reason: 'state-conflict', message } });
      return result({ outcome: 'stopped', reason: 'state-conflict', cluster: error.cluster, message });
    }
    const cluster = error instanceof ClusterCallError ? error.cluster : primary.name;
    const cause = error instanceof ClusterCallError ? error.cause : error;
    const reason = error instanceof ClusterCallError && error.unreachable ? 'cluster-unreachable' : 'action-failed';
    return await stopFleet({ reason, cluster, message: `expected the cluster call to succeed, found: ${messageOf(cause)}; the fleet stopped in a safe state, fix the cause and run again to resume` }).catch(() =>
      result({ outcome: 'stopped', reason, cluster, message: `${cluster}: ${messageOf(cause)}` }),
    );
  } finally {
    for (const c of held) await c.ports.lease.release(holder).catch(() => undefined);
  }
}

interface PassContext {
  readonly snapshot: ClusterSnapshot;
  readonly fleet: readonly ObservedCluster[];
  /** The fleet rotation under way (the primary's record), if any. */
  readonly rotation?: FleetRotationRecord;
  /** This run finished a fleet rotation: it starts no other. */
  readonly finished: boolean;
  readonly primary: Live;
  readonly clusters: readonly Live[];
  readonly options: DecideOptions;
  readonly now: EpochMs;
  readonly progress: (event: ProgressEvent) => void;
  readonly stats: { rolls: number };
}

/** The engine's decision for one cluster, with the fleet's coordination applied to it. */
function stepOf(c: Live, pass: PassContext): Step {
  const { rotation, snapshot } = pass;
  const options = clusterOptions(c, pass);
  const decision = decide(snapshot, c.state, options);
  switch (decision.kind) {
    case 'done':
      return { kind: 'done', cluster: c, summary: decision.summary };
    case 'stop':
      return { kind: 'stop', cluster: c, reason: decision.reason, message: decision.message, state: decision.state };
    case 'gate':
      return { kind: 'wait', cluster: c, on: c, gate: decision.gate, satisfied: gateCondition(decision.gate, c.state, options).satisfied, engine: decision.state };
    case 'action':
      break;
  }
  const action = decision.action;
  const act = (run: () => Promise<boolean>, after?: (r: FleetRotationRecord) => FleetRotationRecord): Step => ({ kind: 'act', cluster: c, decision, run, ...(after ? { after } : {}) });
  const engine = () => perform(decision, { ports: c.ports, progress: pass.progress, stats: pass.stats, restartConcurrency: options.restartConcurrency });

  if (c.role === 'member') {
    const substituted = memberAction(c, action, decision, pass, act);
    if (substituted) return substituted;
  }

  // The primary starts the fleet's rotation only while every cluster agrees on the anchors (check --fleet).
  if (c.role === 'primary' && action.kind === 'record-transition' && action.to === 'Prepare') {
    const comparison = compareFleetAnchors(pass.fleet);
    const first = comparison.disagreements[0];
    if (first) return { kind: 'stop', cluster: pass.clusters.find((x) => x.name === first.cluster) ?? c, reason: 'fleet-mismatch', message: `expected every cluster to agree on the anchors before a fleet rotation starts, found: ${comparison.disagreements.map((d) => d.message).join('; ')}; fix it (\`rotator check --fleet\`) and run again` };
    return act(async () => true);
  }
  if (!rotation) return act(engine);
  const fleetRotation: FleetRotation | undefined = rotation.to !== undefined ? { from: rotation.from, to: rotation.to, strategy: rotation.strategy } : undefined;

  // Every cluster's rotation is the fleet's: from A, to the primary's B, with the fleet's strategy.
  const own = decision.state.rotation;
  if (action.kind === 'record-transition' && own && (own.from.fingerprint !== rotation.from || (own.strategy ?? 'restart') !== rotation.strategy)) {
    return { kind: 'stop', cluster: c, reason: 'fleet-mismatch', message: `expected its rotation to be the fleet's (${shortFp(rotation.from)}, strategy ${rotation.strategy}), found ${shortFp(own.from.fingerprint)} with strategy ${own.strategy ?? 'restart'}; restore its active anchor to the fleet's or finish the fleet rotation first` };
  }
  if (c.role === 'member' && action.kind === 'record-transition' && action.from === 'Prepare' && action.to === 'TrustBoth' && own?.to?.fingerprint !== rotation.to) {
    return { kind: 'stop', cluster: c, reason: 'fleet-mismatch', message: `expected its new anchor to be the fleet's B ${shortFp(rotation.to)}, found ${shortFp(own?.to?.fingerprint)}: the clusters would promote different anchors; restore its prepared Secret to B and run again` };
  }
  // Gates 1 and 2: leave TrustBoth (towards Promote) only when every cluster can verify B-chained leaves.
  if (action.kind === 'record-transition' && action.from === 'TrustBoth' && action.to === 'Promote') {
    if (!fleetRotation) return { kind: 'stop', cluster: c, reason: 'fleet-mismatch', message: 'expected the fleet record to name B before a cluster leaves TrustBoth, found none; repair the primary state ConfigMap' };
    const held = fleetMayPromote(pass.fleet, c.name, fleetRotation, pass.options);
    if (held) return fleetWait(c, held, pass, (fleet) => fleetMayPromote(fleet, c.name, fleetRotation, pass.options));
  }
  // Gate 3: retire A only when every cluster's leaves chain to B, one leaf lifetime after the last one.
  if (action.kind === 'write-previous-anchor' && action.purpose === 'retire') {
    if (!fleetRotation) return { kind: 'stop', cluster: c, reason: 'fleet-mismatch', message: 'expected the fleet record to name B before a cluster retires A, found none; repair the primary state ConfigMap' };
    const held = fleetMayRetire(pass.fleet, fleetRotation, pass.options, pass.now);
    if (held) return fleetWait(c, held, pass, (fleet, at) => fleetMayRetire(fleet, fleetRotation, pass.options, at));
  }
  return act(engine);
}

/**
 * A member has no prepared Certificate and no key of B: where its engine asks cert-manager for a new
 * prepared anchor, the driver writes B's certificate from the primary; where it promotes, the driver
 * writes the primary's active Secret (B's key, X) once the primary has promoted.
 */
function memberAction(c: Live, action: Action, decision: Extract<Decision, { kind: 'action' }>, pass: PassContext, act: (run: () => Promise<boolean>, after?: (r: FleetRotationRecord) => FleetRotationRecord) => Step): Step | undefined {
  const { rotation, primary } = pass;
  if (action.kind === 'write-active-anchor' && action.purpose !== 'promote') {
    return { kind: 'stop', cluster: c, reason: 'fleet-mismatch', message: `expected a member to have its active anchor Secret (a member has no prepared key to ${action.purpose} from), found it missing; copy the fleet's active Secret into it as docs/multicluster.md "Adding a cluster to an existing fleet" says, then run again` };
  }
  if (!rotation) return undefined;
  const say = () => pass.progress({ kind: 'action', phase: decision.state.phase, action, summary: decision.summary });
  const primarySnapshot = (pass.fleet.find((o) => o.cluster === primary.name) as ObservedCluster).snapshot;
  if (action.kind === 'renew-prepared-anchor') {
    const b = rotation.to;
    if (b === undefined) {
      return memberWait(c, pass, 'fleet-anchor-prepared', `waiting for the primary ${primary.name}'s cert-manager to issue the fleet's new anchor B (its phase ${resumePhase(primary.state)})`, () => primary.state.fleet?.rotation?.to !== undefined || primarySnapshot.prepared.issuing !== 'true');
    }
    return act(async () => {
      pass.progress({ kind: 'action', phase: decision.state.phase, action, summary: `write the fleet's new anchor ${shortFp(b)} (certificate only, from ${primary.name}) into the prepared Secret` });
      const copy = await primary.ports.fleet.readPreparedCertificate(b);
      if (!copy) return false;
      return (await c.ports.fleet.writePreparedCertificate(copy)).written;
    });
  }
  if (action.kind === 'write-active-anchor' && action.purpose === 'promote') {
    const b = action.fingerprint;
    if (primarySnapshot.active?.fingerprint !== b) {
      return memberWait(c, pass, 'fleet-primary-promoted', `waiting for the primary ${primary.name} to promote ${shortFp(b)} first: its active Secret holds the key and X every member copies`, (snapshot) => snapshot.active?.fingerprint === b);
    }
    let x: string | undefined;
    return act(
      async () => {
        say();
        const copy = await primary.ports.fleet.readActive(b);
        if (!copy) return false;
        if (rotation.crossSignature !== undefined && copy.crossSignature !== rotation.crossSignature) {
          throw new Error(`expected the primary's active Secret to carry X ${shortFp(rotation.crossSignature)} (minted once), found ${shortFp(copy.crossSignature)}`);
        }
        x = copy.crossSignature;
        return (await c.ports.fleet.writeActiveCopy(copy, rotation.from)).written;
      },
      (r) => (x !== undefined ? { ...r, crossSignature: x } : r),
    );
  }
  return undefined;
}

/** A member waits on the primary: watched on the primary's prepared and anchor Secrets. */
function memberWait(c: Live, pass: PassContext, name: GateName, summary: string, satisfied: (primarySnapshot: ClusterSnapshot) => boolean): Step {
  const gate: Gate = { name, phase: c.state.phase, summary: `${c.name}: ${summary}`, missing: [`${pass.primary.name}: ${summary}`], blockers: [], watch: ['prepared-anchor', 'anchor-secrets'] };
  return { kind: 'wait', cluster: c, on: pass.primary, gate, satisfied };
}

/** A fleet gate holds `c`: wait on the first cluster it names, re-judging the gate on its fresh snapshots. */
function fleetWait(c: Live, held: FleetGate, pass: PassContext, judge: (fleet: readonly ObservedCluster[], at: EpochMs) => FleetGate | undefined): Step {
  const on = pass.clusters.find((x) => x.name === held.clusters[0]) ?? c;
  const clock = held.notBefore !== undefined;
  const gate: Gate = {
    name: held.name,
    phase: c.state.phase,
    summary: `${c.name}: ${held.summary}`,
    missing: held.missing,
    blockers: [],
    watch: clock ? ['clock', 'pods'] : ['anchor-secrets', 'bundles', 'injector', 'pods', 'workloads', 'issuer', 'identity-events'],
    ...(held.notBefore !== undefined ? { notBefore: held.notBefore, resumeLater: true } : {}),
  };
  const satisfied = (snapshot: ClusterSnapshot) => {
    const fleet = pass.fleet.map((o) => (o.cluster === on.name ? { ...o, snapshot } : o));
    const again = judge(fleet, snapshot.observedAt);
    return again === undefined || again.summary !== held.summary || again.missing.join() !== held.missing.join();
  };
  return { kind: 'wait', cluster: c, on, gate, satisfied };
}

/** The engine's options for one cluster: members start only with the fleet's rotation, with its strategy. */
function clusterOptions(c: Live, pass: PassContext): DecideOptions {
  const { rotation, options } = pass;
  const base: DecideOptions = { ...options, recover: false };
  if (c.role === 'primary') return rotation || pass.finished ? { ...base, start: 'never' } : base;
  if (!rotation) return { ...base, start: 'never' };
  const joined = c.state.rotation !== undefined || (rotation.to !== undefined && c.state.last?.to === rotation.to);
  return { ...base, strategy: rotation.strategy, start: joined ? 'never' : 'always' };
}

/** A new fleet record from the primary's new rotation. */
function newFleetRecord(state: RotationState, clusters: readonly Live[]): FleetRotationRecord {
  const r = state.rotation;
  if (!r) throw new Error('expected the primary to record its new rotation, found none');
  return {
    id: r.id,
    strategy: r.strategy ?? 'restart',
    from: r.from.fingerprint,
    phase: 'Prepare',
    startedAt: r.startedAt,
    clusters: Object.fromEntries(clusters.map((c) => [c.name, { phase: c === clusters[0] ? 'Prepare' : resumePhase(c.state) }])),
  };
}

/** Each cluster's phase and identityFreshAt for B, and the fleet's phase: the least advanced cluster's. */
function refreshRecord(current: FleetRotationRecord, clusters: readonly Live[]): FleetRotationRecord {
  // B is the primary's target once its cert-manager issued it (Prepare -> TrustBoth).
  const primaryTo = (clusters[0] as Live).state.rotation?.to?.fingerprint;
  const record = current.to === undefined && primaryTo !== undefined && (clusters[0] as Live).state.rotation?.from.fingerprint === current.from ? { ...current, to: primaryTo } : current;
  const entries = clusters.map((c) => {
    const own = c.state.rotation;
    const finished = c.state.last !== undefined && record.to !== undefined && c.state.last.to === record.to && c.state.last.from === record.from;
    const phase: Phase = finished ? 'Done' : own?.from.fingerprint === record.from ? resumePhase(c.state) : 'Idle';
    const fresh = own?.to?.fingerprint === record.to && own?.identityFreshAt !== undefined ? own.identityFreshAt : record.clusters[c.name]?.identityFreshAt;
    return [c.name, { phase, ...(fresh !== undefined ? { identityFreshAt: fresh } : {}) }] as const;
  });
  const phases = entries.map(([, e]) => e.phase);
  const least = PHASE_ORDER.find((p) => phases.includes(p)) ?? 'Idle';
  const { stopped: _stopped, ...rest } = record;
  return { ...rest, clusters: Object.fromEntries(entries), phase: least === 'Idle' ? 'Prepare' : least };
}

/** A cluster's state must belong to this fleet: a member of another primary, or a fleet started with other clusters, is refused. */
function fleetMembership(c: Live, primary: string, names: readonly string[]): string | undefined {
  const fleet = c.state.fleet;
  if (!fleet) return undefined;
  if (fleet.primary !== primary || (fleet.role === 'primary') !== (c.name === primary)) {
    return `expected it to be ${c.name === primary ? 'the primary' : `a member of primary ${primary}`}, found its state recording it as ${fleet.role === 'primary' ? 'the primary' : `a member of primary ${fleet.primary}`}; run with the fleet's own --primary`;
  }
  const rotation = fleet.rotation;
  if (rotation && rotation.phase !== 'Done') {
    const recorded = Object.keys(rotation.clusters).sort();
    const given = [...names].sort();
    if (recorded.join() !== given.join()) {
      return `expected the clusters of fleet rotation ${rotation.id} (${recorded.join(', ')}), found ${given.join(', ')}; a rotation under way resumes with the same clusters`;
    }
  }
  return undefined;
}

function messageOf(error: unknown): string {
  return (error as Error)?.message ?? String(error);
}

/**
 * The cluster's ports, every failure tagged with its name (a read failing means it is unreachable).
 * A Proxy, not a copy of own properties: the kube adapter's ports are class instances whose methods
 * live on their prototypes (a copy had none: `lease.acquire is not a function` on real clusters).
 */
function tagged(name: string, ports: FleetClusterPorts): FleetClusterPorts {
  const wrap = <T extends object>(target: T, unreachable: boolean): T =>
    new Proxy(target, {
      get(object, key) {
        const value: unknown = Reflect.get(object, key, object);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          try {
            return await (value as (...a: unknown[]) => unknown).apply(object, args);
          } catch (error) {
            if (error instanceof ClusterCallError) throw error;
            throw new ClusterCallError(name, error, unreachable);
          }
        };
      },
    });
  return {
    cluster: wrap(ports.cluster, true),
    anchors: wrap(ports.anchors, false),
    certificates: wrap(ports.certificates, false),
    workloads: wrap(ports.workloads, false),
    state: wrap(ports.state, true),
    lease: wrap(ports.lease, true),
    events: wrap(ports.events, false),
    clock: ports.clock,
    waiter: wrap(ports.waiter, true),
    fleet: wrap(ports.fleet, false),
  };
}
