// The fleet rules (docs/multicluster.md, "Fleet gates"): linked clusters share one trust anchor, and
// a proxy in one cluster verifies leaves from every other against its own anchors. Pure over each
// cluster's snapshot and state; every per-cluster rule is the engine's own (trust.ts, invariants.ts,
// gates/), applied to the routes of the leaves of the whole fleet. What the fleet driver will call.
import type { DecideOptions, Strategy } from './options.js';
import { bundlesAndInjector } from './gates/bundles-and-injector.js';
import { describeViolation, podsMissingRoutes } from './invariants.js';
import { decideContext } from './phases/context.js';
import { resumePhase } from './rules.js';
import { shortFp, type BundleFacts, type ClusterSnapshot, type EpochMs, type Fingerprint } from './snapshot.js';
import { iso, type RotationState } from './state.js';
import { coversRoutes, formatAnchors, formatRoutes, leafLifetimeElapsedAt, leafRoutesInCirculation, leavesFreshSince } from './trust.js';

/** One cluster of the fleet, read: its snapshot and its own rotation state. */
export interface ObservedCluster {
  /** The cluster's name (its kubeconfig context). */
  readonly cluster: string;
  readonly reachable: true;
  readonly snapshot: ClusterSnapshot;
  readonly state: RotationState;
}

/** A cluster that could not be read: it fails every gate it is part of. */
export interface UnreachableCluster {
  readonly cluster: string;
  readonly reachable: false;
  /** What failed (the API error), for the operator. */
  readonly error: string;
}

export type FleetCluster = ObservedCluster | UnreachableCluster;

/** The fleet's rotation: one old anchor A, one new anchor B generated once, one strategy for all. */
export interface FleetRotation {
  readonly from: Fingerprint;
  readonly to: Fingerprint;
  readonly strategy: Strategy;
}

export type FleetGateName = 'fleet-trusts-new-anchor' | 'fleet-may-promote' | 'fleet-leaves-chain-to-new';

/** A fleet gate that holds, like a single-cluster Gate: its name, one line, and what is missing, by cluster. */
export interface FleetGate {
  readonly name: FleetGateName;
  readonly summary: string;
  /** Each entry names its cluster first (`c2: ...`). */
  readonly missing: readonly string[];
  /** The clusters that hold the gate, in fleet order. */
  readonly clusters: readonly string[];
  /** For the leaf-lifetime wait of gate 3: the gate opens at this time (if nothing else holds it). */
  readonly notBefore?: EpochMs;
}

interface ClusterProblem {
  readonly cluster: string;
  readonly problem: string;
}

function observed(fleet: readonly FleetCluster[]): ObservedCluster[] {
  return fleet.filter((c): c is ObservedCluster => c.reachable);
}

/** Clusters that could not be read, as problems; an empty fleet is one too (a gate must never pass vacuously). */
function unreachable(fleet: readonly FleetCluster[]): ClusterProblem[] {
  if (fleet.length === 0) return [{ cluster: '(fleet)', problem: 'no cluster given: a fleet gate never opens without clusters to judge' }];
  return fleet.flatMap((c) => (c.reachable ? [] : [{ cluster: c.cluster, problem: `unreachable (${c.error}); the fleet waits for it, never deciding without it` }]));
}

function fleetGate(name: FleetGateName, what: string, problems: readonly ClusterProblem[], notBefore?: EpochMs): FleetGate | undefined {
  if (problems.length === 0) return undefined;
  const clusters = [...new Set(problems.map((p) => p.cluster))];
  return {
    name,
    summary: `${what}: ${clusters.length} cluster(s) hold it (${clusters.join(', ')})`,
    missing: problems.map((p) => `${p.cluster}: ${p.problem}`),
    clusters,
    ...(notBefore !== undefined ? { notBefore } : {}),
  };
}

/** A leaf route in circulation somewhere in the fleet, with the cluster whose leaves take it. */
export interface FleetRoute {
  readonly cluster: string;
  readonly route: ReadonlySet<Fingerprint>;
}

/**
 * The routes of every leaf a proxy anywhere in the fleet can be shown: each cluster's own
 * (`leafRoutesInCirculation`: its issuer's anchor and valid cross-signers, plus the old anchor
 * until its leaves are renewed), tagged with the cluster they come from.
 */
export function fleetLeafRoutes(fleet: readonly ObservedCluster[], options: DecideOptions): FleetRoute[] {
  return fleet.flatMap((c) => leafRoutesInCirculation(c.snapshot, c.state, options).map((route) => ({ cluster: c.cluster, route })));
}

function distinctRoutes(routes: readonly ReadonlySet<Fingerprint>[]): ReadonlySet<Fingerprint>[] {
  const byKey = new Map<string, ReadonlySet<Fingerprint>>();
  for (const route of routes) byKey.set([...route].sort().join(','), route);
  return [...byKey.values()];
}

/**
 * Gate 1 (docs/multicluster.md, "Fleet gates"): no cluster promotes B until every cluster's pods can
 * verify B-chained leaves. Every cluster is reachable; its anchor Secrets, bundles and injector hold
 * {A, B} (the engine's `bundlesAndInjector`, as Promote requires locally); and every pod trusts, for
 * sure, an anchor of every route: cross-signed {A|B} (a pod trusting only A verifies through X),
 * restart {A} and {B}, plus the routes of every leaf in circulation anywhere in the fleet (I1).
 */
export function fleetTrustsNewAnchor(fleet: readonly FleetCluster[], rotation: FleetRotation, options: DecideOptions): FleetGate | undefined {
  const { from, to } = rotation;
  const problems = unreachable(fleet);
  const clusters = observed(fleet);
  const promoted = rotation.strategy === 'cross-signed' ? [new Set([from, to])] : [new Set([from]), new Set([to])];
  const routes = distinctRoutes([...promoted, ...fleetLeafRoutes(clusters, options).map((r) => r.route)]);
  for (const c of clusters) {
    const context = decideContext(c.snapshot, c.state, options);
    const bundles = bundlesAndInjector(context, { require: new Set([from, to]) });
    if (bundles?.kind === 'gate') {
      const { name, summary, missing } = bundles.gate;
      problems.push({ cluster: c.cluster, problem: `${name}: ${summary}${missing.length > 0 ? ` (${missing.join('; ')})` : ''}` });
    }
    const why = 'trust, for the new anchor and the leaves of every cluster,';
    for (const v of podsMissingRoutes({ snapshot: c.snapshot, state: c.state, options }, routes, why)) problems.push({ cluster: c.cluster, problem: describeViolation(v) });
  }
  const goal = rotation.strategy === 'cross-signed' ? `${shortFp(from)} or ${shortFp(to)}` : `both ${shortFp(from)} and ${shortFp(to)}`;
  return fleetGate('fleet-trusts-new-anchor', `waiting for every cluster's bundles to hold ${formatAnchors([from, to])} and its pods to trust ${goal} before any cluster promotes ${shortFp(to)}`, problems);
}

/**
 * Gate 2: `cluster` may promote B, in any order, once gate 1 holds fleet-wide and the cluster's
 * prepared anchor is the fleet's B (a cluster preparing its own new anchor would split the fleet).
 * Other clusters' phases do not matter: a leaf under Ik_B verifies everywhere through X or B, and one
 * under Ik_A still does, because A stays in every bundle until gate 3.
 */
export function fleetMayPromote(fleet: readonly FleetCluster[], cluster: string, rotation: FleetRotation, options: DecideOptions): FleetGate | undefined {
  const target = fleet.find((c) => c.cluster === cluster);
  const problems: ClusterProblem[] = [];
  if (!target) problems.push({ cluster, problem: `is not in the fleet (${fleet.map((c) => c.cluster).join(', ')})` });
  else if (target.reachable && target.snapshot.prepared.anchor?.fingerprint !== rotation.to) {
    problems.push({ cluster, problem: `its prepared anchor is ${shortFp(target.snapshot.prepared.anchor?.fingerprint)}, not the fleet's new anchor ${shortFp(rotation.to)}: it would promote an anchor the other clusters do not trust` });
  }
  const own = fleetGate('fleet-may-promote', `holding the promotion of ${shortFp(rotation.to)} in ${cluster}`, problems);
  return own ?? fleetTrustsNewAnchor(fleet, rotation, options);
}

/** A cluster whose own rotation has passed its Promote gates: Retire (or Done) with the fleet's B. */
function passedPromote(c: ObservedCluster, rotation: FleetRotation): string | undefined {
  const phase = resumePhase(c.state);
  const record = c.state.rotation;
  if (phase === 'Done' && c.state.last?.to === rotation.to) return undefined;
  if (phase === 'Retire' && record?.to?.fingerprint === rotation.to && record.identityFreshAt !== undefined) return undefined;
  const target = record?.to?.fingerprint;
  return `its rotation is in phase ${phase}${target !== undefined && target !== rotation.to ? ` towards ${shortFp(target)}` : ''}: it has not passed its Promote gates for ${shortFp(rotation.to)}`;
}

/**
 * Gate 3: no cluster retires A until every cluster's leaves chain to B. Every cluster is reachable
 * and has passed its own Promote gates (phase Retire); no leaf in circulation anywhere in the fleet
 * needs A any more (each cluster's `leafRoutesInCirculation` is covered by B); and one leaf lifetime
 * plus the clock skew allowance (`leafLifetimeElapsedAt`) has passed since the **last** cluster's
 * identity ran I_B (`leavesFreshSince`). The wait is the fleet's, not each cluster's own.
 */
export function fleetMayRetire(fleet: readonly FleetCluster[], rotation: FleetRotation, options: DecideOptions, now: EpochMs): FleetGate | undefined {
  const problems = unreachable(fleet);
  const clusters = observed(fleet);
  const after = new Set([rotation.to]);
  let last: { cluster: string; since: EpochMs } | undefined;
  for (const c of clusters) {
    const notPassed = passedPromote(c, rotation);
    if (notPassed) problems.push({ cluster: c.cluster, problem: notPassed });
    const needsOld = leafRoutesInCirculation(c.snapshot, c.state, options).filter((route) => !coversRoutes(after, [route]));
    if (needsOld.length > 0) {
      problems.push({ cluster: c.cluster, problem: `its leaves may still chain only to ${formatRoutes(needsOld)}: pods elsewhere that trust only ${shortFp(rotation.to)} would reject them` });
    }
    const since = c.state.rotation?.to?.fingerprint === rotation.to ? leavesFreshSince(c.state.rotation) : undefined;
    if (since !== undefined && (last === undefined || since > last.since)) last = { cluster: c.cluster, since };
  }
  let notBefore: EpochMs | undefined;
  if (last !== undefined && problems.length === 0) {
    const until = leafLifetimeElapsedAt(last.since, options);
    if (now < until) {
      notBefore = until;
      problems.push({
        cluster: last.cluster,
        problem: `its identity ran the issuer under ${shortFp(rotation.to)} last in the fleet (${iso(last.since)}): leaves issued before may live one leaf lifetime plus the clock skew allowance, until ${iso(until)}`,
      });
    }
  }
  return fleetGate('fleet-leaves-chain-to-new', `holding the retirement of ${shortFp(rotation.from)} in every cluster until every cluster's leaves chain to ${shortFp(rotation.to)}`, problems, notBefore);
}

/** A cluster as `check --fleet` compares it: its snapshot (no state needed), or why it could not be read. */
export type FleetAnchorView = Pick<ObservedCluster, 'cluster' | 'reachable' | 'snapshot'> | UnreachableCluster;

export interface FleetDisagreement {
  readonly cluster: string;
  readonly subject: 'reachable' | 'active' | 'prepared' | 'bundle' | 'cross-signature';
  readonly message: string;
}

export interface FleetClusterAnchors {
  readonly cluster: string;
  readonly reachable: boolean;
  readonly error?: string;
  readonly active?: Fingerprint;
  readonly prepared?: Fingerprint;
  /** The cross-signature X the active Secret's tls.crt holds instead of the anchor, if any. */
  readonly crossSignature?: Fingerprint;
  readonly bundles: readonly Pick<BundleFacts, 'namespace' | 'sha256' | 'anchors'>[];
}

export interface FleetAnchorComparison {
  /** The cluster the others are compared with: the first one given (the primary) when reachable. */
  readonly reference?: string;
  readonly clusters: readonly FleetClusterAnchors[];
  /** Empty when the fleet agrees; each names its cluster. */
  readonly disagreements: readonly FleetDisagreement[];
}

function sameSet(a: readonly Fingerprint[], b: readonly Fingerprint[]): boolean {
  const x = new Set(a);
  const y = new Set(b);
  return x.size === y.size && [...x].every((fp) => y.has(fp));
}

/**
 * What `check --fleet` judges (docs/multicluster.md): the real anchors of every cluster against the
 * reference (the first reachable one, the primary): the same active anchor, every trust bundle holding
 * the same anchors (and the active one), the same prepared anchor B where the reference has one
 * waiting (a prepared anchor that is not its active one), and on the same active anchor the same
 * cross-signature X in the active Secret's tls.crt, or none in both. Every disagreement names its
 * cluster; an unreachable cluster is one.
 */
export function compareFleetAnchors(fleet: readonly FleetAnchorView[]): FleetAnchorComparison {
  const disagreements: FleetDisagreement[] = [];
  const clusters: FleetClusterAnchors[] = fleet.map((c) =>
    c.reachable
      ? {
          cluster: c.cluster,
          reachable: true,
          ...(c.snapshot.active ? { active: c.snapshot.active.fingerprint } : {}),
          ...(c.snapshot.active?.crossSignature ? { crossSignature: c.snapshot.active.crossSignature } : {}),
          ...(c.snapshot.prepared.anchor ? { prepared: c.snapshot.prepared.anchor.fingerprint } : {}),
          bundles: c.snapshot.bundles.map((b) => ({ namespace: b.namespace, sha256: b.sha256, anchors: [...b.anchors] })),
        }
      : { cluster: c.cluster, reachable: false, error: c.error, bundles: [] },
  );
  for (const c of clusters) if (!c.reachable) disagreements.push({ cluster: c.cluster, subject: 'reachable', message: `${c.cluster}: could not be read (${c.error}); its anchors are unknown` });
  const reference = clusters.find((c) => c.reachable);
  if (!reference) return { clusters, disagreements };
  const refBundle = reference.bundles[0]?.anchors ?? [];
  const waiting = reference.prepared !== undefined && reference.prepared !== reference.active ? reference.prepared : undefined;
  const against = `${reference.cluster} (the reference)`;
  for (const c of clusters) {
    if (!c.reachable) continue;
    const say = (subject: FleetDisagreement['subject'], message: string) => disagreements.push({ cluster: c.cluster, subject, message: `${c.cluster}: ${message}` });
    if (c.active === undefined) say('active', `has no active anchor Secret; ${against} is on ${shortFp(reference.active)}`);
    else if (c.active !== reference.active) say('active', `active anchor ${shortFp(c.active)}, but ${against} is on ${shortFp(reference.active)}`);
    // On the same active anchor, the same X: a member copies the primary's active Secret (X minted once).
    else if (c.crossSignature !== reference.crossSignature) {
      const own = c.crossSignature === undefined ? 'no cross-signature' : `the cross-signature X ${shortFp(c.crossSignature)}`;
      const theirs = reference.crossSignature === undefined ? 'none' : c.crossSignature === undefined ? `X ${shortFp(reference.crossSignature)}` : shortFp(reference.crossSignature);
      say('cross-signature', `active Secret carries ${own}, but ${against} carries ${theirs}: every cluster must carry the one X minted in the primary`);
    }
    if (c !== reference) {
      if (c.prepared !== undefined && reference.prepared !== undefined && c.prepared !== reference.prepared && (waiting !== undefined || c.prepared !== c.active)) {
        say('prepared', `prepared anchor ${shortFp(c.prepared)}, but ${against} prepares ${shortFp(reference.prepared)}: the clusters would promote different new anchors`);
      } else if (c.prepared === undefined && waiting !== undefined) {
        say('prepared', `has no prepared anchor Secret, but ${against} has ${shortFp(waiting)} waiting: its bundles would not trust it before promotion`);
      }
    }
    if (c.bundles.length === 0) say('bundle', 'has no trust-roots ConfigMap in any target namespace');
    for (const b of c.bundles) {
      if (!sameSet(b.anchors, refBundle)) say('bundle', `bundle in namespace ${b.namespace} holds ${formatAnchors(b.anchors)}, but ${against} holds ${formatAnchors(refBundle)}`);
      else if (reference.active !== undefined && !b.anchors.includes(reference.active)) say('bundle', `bundle in namespace ${b.namespace} holds ${formatAnchors(b.anchors)}, without the active anchor ${shortFp(reference.active)}`);
    }
  }
  return { reference: reference.cluster, clusters, disagreements };
}
