// `fleet plan` and `fleet status` (docs/multicluster.md, "What `check`, `plan`, `status` and the
// exporter add"): what a fleet run would do now, read-only. The fleet's next move is the driver's own
// (`runFleet`), run dry over one snapshot and the stored state of each cluster: its ports read those
// and nothing else; the state it would record stays in memory, and the first call that would change a
// cluster (an anchor Secret, a renewal, a restart, a copy of B) or wait on a gate ends the dry run and
// is reported instead of made. Each cluster's course is the engine's single-cluster `plan`, with the
// options the driver gives that cluster and the fleet's steps (copies of B, fleet gates) in place.
import type { Action, Gate, GateName } from './decision.js';
import { runFleet, type FleetRunResult } from './fleet-driver.js';
import type { DecideOptions } from './options.js';
import { plan, type Plan, type PlanStep } from './plan.js';
import type { AnchorCopy, FleetClusterPorts, StoredState } from './ports.js';
import { decideOptionsOf, type RunOptions } from './runner.js';
import { shortFp, type ClusterSnapshot, type EpochMs, type Tier, type WorkloadRef } from './snapshot.js';
import { parseState, type FleetRotationRecord, type FleetStopReason, type Phase, type RollPhase, type RotationState, type StopReason } from './state.js';

/** One cluster as read for a fleet plan or status: its snapshot and stored state, or why it could not be read. */
export type FleetReadCluster =
  | { readonly name: string; readonly reachable: true; readonly snapshot: ClusterSnapshot; readonly stored?: StoredState }
  | { readonly name: string; readonly reachable: false; readonly error: string };

export interface FleetRead {
  readonly primary: FleetReadCluster;
  readonly members: readonly FleetReadCluster[];
}

/** What the driver would record, do or wait on if it ran now. */
export interface FleetNext {
  /**
   * `act`: the first change it would make (`action`); `wait`: it would wait (`waits`); `resume-later`:
   * every cluster waits on a long gate, the run would end until `resumeAt`; `done`: nothing to do;
   * `stopped`/`refused`: it would stop (`stop`).
   */
  readonly outcome: 'act' | 'wait' | 'resume-later' | 'done' | 'stopped' | 'refused';
  /** Phase changes it would record first, in order (state only, nothing changes in a cluster). */
  readonly transitions: readonly { readonly cluster: string; readonly from: Phase; readonly to: Phase; readonly why: string }[];
  readonly action?: { readonly cluster: string; readonly phase: Phase; readonly kind: Action['kind']; readonly summary: string; readonly workloads?: readonly WorkloadRef[] };
  /** The gates it would wait on: each cluster held, the gate, and the clusters that hold it. */
  readonly waits: readonly FleetWait[];
  readonly stop?: { readonly reason: FleetStopReason | StopReason; readonly cluster?: string; readonly message: string };
  readonly resumeAt?: EpochMs;
  readonly message: string;
}

export interface FleetWait {
  /** The cluster held. */
  readonly cluster: string;
  readonly gate: GateName;
  readonly phase: Phase;
  readonly summary: string;
  readonly missing: readonly string[];
  /** The clusters that hold the gate: a fleet gate's entries name theirs; an engine gate is the cluster's own. */
  readonly blockedBy: readonly string[];
  readonly notBefore?: EpochMs;
}

/** A call that would change a cluster or wait: the dry run ends on it. */
class Planned extends Error {
  constructor(readonly cluster: string) {
    super(`${cluster}: the dry run of the fleet driver ends here (nothing was written)`);
  }
}

/** A cluster's ports for the dry run: reads from what was read, records state in memory, and every other call ends the run. */
function dryPorts(c: FleetReadCluster, now: EpochMs, onPlanned: (cluster: string, gate?: Gate) => void): FleetClusterPorts {
  const unreadable = () => {
    throw new Error(c.reachable ? 'unreadable' : c.error);
  };
  const planned = (gate?: Gate) => {
    onPlanned(c.name, gate);
    throw new Planned(c.name);
  };
  let version = 0;
  const stop = async (): Promise<never> => planned();
  return {
    cluster: { readSnapshot: async () => (c.reachable ? c.snapshot : unreadable()) },
    state: {
      read: async () => (c.reachable ? c.stored : unreadable()),
      write: async () => ({ ok: true, resourceVersion: `dry-run-${++version}` }),
    },
    lease: {
      acquire: async (_holder, durationMs) => ({ held: true, expiresAt: now + durationMs }),
      renew: async (_holder, durationMs) => ({ held: true, expiresAt: now + durationMs }),
      release: async () => {},
    },
    events: { record: async () => {} },
    clock: { now: () => now },
    waiter: { waitFor: async (condition) => planned(condition.gate) },
    anchors: { writeActiveFromPrepared: stop, writePrevious: stop },
    certificates: { renewPreparedAnchor: stop, renewIdentityIssuer: stop, discardIssuerRequest: stop },
    workloads: { restart: stop },
    fleet: { readPreparedCertificate: stop as () => Promise<AnchorCopy | undefined>, readActive: stop as () => Promise<AnchorCopy | undefined>, writePreparedCertificate: stop, writeActiveCopy: stop },
  };
}

/** The clusters that hold a gate: the names its entries start with (`c2: ...`), else the cluster's own. */
function blockersOf(gate: Gate, cluster: string, names: readonly string[]): string[] {
  const named = names.filter((n) => gate.missing.some((m) => m.startsWith(`${n}: `)));
  return gate.name.startsWith('fleet-') && named.length > 0 ? named : [cluster];
}

/**
 * What `runFleet` would do now, run dry over `read` (docs/multicluster.md, "The fleet driver"):
 * nothing is written to any cluster, no Lease is taken. `now` is the driver's clock.
 */
export async function nextFleetStep(read: FleetRead, options: RunOptions, now: EpochMs): Promise<FleetNext> {
  const clusters = [read.primary, ...read.members];
  const names = clusters.map((c) => c.name);
  let planned: { cluster: string; gate?: Gate } | undefined;
  const transitions: { cluster: string; from: Phase; to: Phase; why: string }[] = [];
  const waits: FleetWait[] = [];
  let action: FleetNext['action'];
  const handle = (c: FleetReadCluster) => ({ name: c.name, ports: dryPorts(c, now, (cluster, gate) => (planned ??= { cluster, ...(gate ? { gate } : {}) })) });
  const result: FleetRunResult = await runFleet(
    { primary: handle(read.primary), members: read.members.map(handle) },
    { ...options, holder: 'fleet-plan (dry run)', maxSteps: 64 },
    ({ cluster, event }) => {
      if (planned) return;
      if (event.kind === 'phase') transitions.push({ cluster, from: event.from, to: event.to, why: event.why });
      // A phase change is state only: the run goes on to the next pass, as the dry run does.
      else if (event.kind === 'action' && event.action.kind !== 'record-transition' && !action) {
        const workloads = event.action.kind === 'roll-workloads' ? { workloads: event.action.workloads } : {};
        action = { cluster, phase: event.phase, kind: event.action.kind, summary: event.summary, ...workloads };
      } else if (event.kind === 'waiting') waits.push(waitOf(cluster, event.gate, names));
    },
  );
  if (planned && action) return { outcome: 'act', transitions, action, waits: [], message: `${action.cluster}: ${action.summary}` };
  if (planned?.gate) {
    const gate = planned.gate;
    // The driver reports the wait it chose before waiting; should it not have, it is the cluster's own.
    if (!waits.some((w) => w.gate === gate.name && w.summary === gate.summary)) waits.unshift(waitOf(planned.cluster, gate, names));
    return { outcome: 'wait', transitions, waits, message: waits.map((w) => `${w.cluster}: waits at ${w.gate}`).join('; ') };
  }
  if (result.resumeAt !== undefined) return { outcome: 'resume-later', transitions, waits, resumeAt: result.resumeAt, message: result.message };
  if (result.outcome === 'done') return { outcome: 'done', transitions, waits, message: result.message };
  return { outcome: result.outcome, transitions, waits, stop: { reason: result.reason ?? 'deadline', ...(result.cluster ? { cluster: result.cluster } : {}), message: result.message }, message: result.message };
}

function waitOf(cluster: string, gate: Gate, names: readonly string[]): FleetWait {
  return {
    cluster,
    gate: gate.name,
    phase: gate.phase,
    summary: gate.summary,
    missing: gate.missing,
    blockedBy: blockersOf(gate, cluster, names),
    ...(gate.notBefore !== undefined ? { notBefore: gate.notBefore } : {}),
  };
}

export interface FleetClusterPlan {
  readonly cluster: string;
  readonly role: 'primary' | 'member';
  readonly reachable: boolean;
  readonly error?: string;
  /** The cluster's own course: the engine's plan with the fleet's steps in place. */
  readonly plan?: Plan;
  /** A state that does not validate: the cluster cannot be planned. */
  readonly stateProblem?: string;
}

export interface FleetPlan {
  readonly primary: string;
  readonly members: readonly string[];
  /** The fleet record in the primary's state, if any. */
  readonly rotation?: FleetRotationRecord;
  readonly next: FleetNext;
  readonly clusters: readonly FleetClusterPlan[];
  /** Every cluster's restarts added up. */
  readonly total: { readonly rolls: number; readonly byPhase: Readonly<Record<RollPhase, number>>; readonly byTier: Readonly<Record<Tier, number>> };
}

function stateOf(c: FleetReadCluster): { state?: RotationState; problem?: string } {
  if (!c.reachable) return {};
  const parsed = parseState(c.stored?.data);
  return parsed.ok ? { state: parsed.state } : { problem: parsed.message };
}

/**
 * The fleet's plan: the driver's next move (`nextFleetStep`) and each cluster's course, by the engine's
 * `plan` with the options the driver gives it: the primary's own; a member starts the fleet's rotation
 * (its strategy) once the primary's has started or would start now, and its Prepare and Promote are
 * copies from the primary; every cluster's Promote waits on fleet gates 1 and 2, its Retire on gate 3.
 */
export async function planFleet(read: FleetRead, options: RunOptions, now: EpochMs): Promise<FleetPlan> {
  const next = await nextFleetStep(read, options, now);
  const base = decideOptionsOf(options);
  const primaryState = stateOf(read.primary).state;
  const record = primaryState?.fleet?.rotation;
  const primaryPlan = read.primary.reachable && primaryState ? plan(read.primary.snapshot, primaryState, { ...base, recover: false, ...(record && record.phase !== 'Done' ? { start: 'never' } : {}) }) : undefined;
  const under = record !== undefined && record.phase !== 'Done' ? record : undefined;
  const fleetStrategy = under?.strategy ?? (primaryPlan?.rotates ? primaryPlan.strategy : undefined);
  const starting = under !== undefined || primaryPlan?.rotates === true;
  const primaryName = read.primary.name;

  const clusters: FleetClusterPlan[] = [read.primary, ...read.members].map((c, i) => {
    const role = i === 0 ? 'primary' : 'member';
    if (!c.reachable) return { cluster: c.name, role, reachable: false, error: c.error };
    const { state, problem } = stateOf(c);
    if (!state) return { cluster: c.name, role, reachable: true, stateProblem: problem ?? 'no state' };
    let own = i === 0 ? primaryPlan : undefined;
    if (i > 0) {
      const joined = state.rotation !== undefined || (under?.to !== undefined && state.last?.to === under.to);
      const opts: DecideOptions = { ...base, recover: false, ...(fleetStrategy ? { strategy: fleetStrategy } : {}), start: starting && !joined ? 'always' : 'never' };
      own = plan(c.snapshot, state, opts);
    }
    return { cluster: c.name, role, reachable: true, ...(own ? { plan: fleetSteps(own, role, primaryName) } : {}) };
  });

  const byPhase: Record<RollPhase, number> = { TrustBoth: 0, Promote: 0, Retire: 0 };
  const byTier: Record<Tier, number> = { 'control-plane': 0, extension: 0, 'data-plane': 0 };
  for (const c of clusters) {
    if (!c.plan?.rotates) continue;
    for (const p of Object.keys(byPhase) as RollPhase[]) byPhase[p] += c.plan.rolls.byPhase[p];
    for (const t of Object.keys(byTier) as Tier[]) byTier[t] += c.plan.rolls.byTier[t];
  }
  return {
    primary: primaryName,
    members: read.members.map((m) => m.name),
    ...(record ? { rotation: record } : {}),
    next,
    clusters,
    total: { rolls: byPhase.TrustBoth + byPhase.Promote + byPhase.Retire, byPhase, byTier },
  };
}

/** A cluster's plan with the fleet's steps: copies of B in a member, and the fleet gates before Promote and Retire. */
function fleetSteps(p: Plan, role: 'primary' | 'member', primary: string): Plan {
  if (!p.rotates) return p;
  const steps: PlanStep[] = [];
  const to = p.to ? shortFp(p.to) : "the fleet's new anchor";
  // Gates 1 and 2 hold the move from TrustBoth to Promote: passed once a cluster is in Promote.
  const beforePromote = p.phase === 'Prepare' || p.phase === 'TrustBoth';
  for (const step of p.steps) {
    if (step.phase === 'Promote' && beforePromote && !steps.some((s) => s.phase === 'Promote')) {
      steps.push({ phase: 'Promote', kind: 'wait', description: `fleet gates 1 and 2: wait until every cluster's bundles hold both anchors and its pods can verify leaves chained to ${to}` });
    }
    if (step.phase === 'Retire' && step.kind === 'write-previous-anchor') {
      steps.push({ phase: 'Retire', kind: 'wait', description: `fleet gate 3: wait until every cluster passed Promote and one leaf lifetime passed since the last cluster's identity ran the issuer under ${to}` });
    }
    if (role === 'member' && step.kind === 'renew-prepared-anchor') {
      steps.push({ ...step, description: `wait for ${primary}'s cert-manager to issue the fleet's new anchor, then write its certificate alone into the prepared Secret` });
    } else if (role === 'member' && step.kind === 'write-active-anchor') {
      steps.push({ ...step, description: `wait for ${primary} to promote ${to}, then copy ${primary}'s active Secret (the key of ${to}, and X when cross-signed: minted once)` });
    } else steps.push(step);
  }
  return { ...p, steps };
}
