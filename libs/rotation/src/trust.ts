// What each proxy trusts and which anchors its peers' leaves may chain to, inferred from facts.
// Conservative by construction: a proxy whose bundle cannot be proven is "unknown", never assumed fresh.
import type { ClusterSnapshot, EpochMs, Fingerprint, IdentityIssuerFacts, MeshedPod } from './snapshot.js';
import { DEFAULT_OPTIONS, type DecideOptions } from './options.js';
import { iso, ms, type KnownBundle, type RotationRecord, type RotationState } from './state.js';

export type PodTrust =
  | {
      readonly known: true;
      /** Anchors the proxy trusts for sure. */
      readonly certain: ReadonlySet<Fingerprint>;
      /** Anchors the proxy may trust (differs from `certain` only for configMapKeyRef inference). */
      readonly possible: ReadonlySet<Fingerprint>;
      /**
       * Every set of anchors the proxy may hold: one, or for configMapKeyRef inference one per bundle
       * it may have read. "Trusts one of these for sure" means every alternative holds one of them.
       */
      readonly alternatives: readonly ReadonlySet<Fingerprint>[];
    }
  | { readonly known: false; readonly why: string };

/** The bundle every target ConfigMap holds, or undefined while they differ (or none exists). */
export function syncedBundle(snapshot: ClusterSnapshot): { sha256: string; anchors: ReadonlySet<Fingerprint> } | undefined {
  const [first, ...rest] = snapshot.bundles;
  if (first === undefined || rest.some((b) => b.sha256 !== first.sha256)) return undefined;
  return { sha256: first.sha256, anchors: new Set(first.anchors) };
}

/** The anchors trust-manager should put in every bundle: prepared, active and previous certificates. */
export function sourceAnchors(snapshot: ClusterSnapshot): ReadonlySet<Fingerprint> {
  const set = new Set<Fingerprint>();
  for (const anchor of [snapshot.prepared.anchor, snapshot.active, snapshot.previous]) {
    if (anchor) set.add(anchor.fingerprint);
  }
  return set;
}

/**
 * Adds the bundles seen in this snapshot to the known-bundle table: the table maps the
 * `trust-root-sha256` of pods injected long ago to the anchors they trust, so it is kept in the state.
 */
export function learnBundles(known: RotationState['knownBundles'], snapshot: ClusterSnapshot): RotationState['knownBundles'] {
  let next = known;
  const now = iso(snapshot.observedAt);
  for (const bundle of snapshot.bundles) {
    if (next[bundle.sha256] === undefined) {
      next = { ...next, [bundle.sha256]: { anchors: [...new Set(bundle.anchors)].sort(), firstSeenAt: now } };
    }
  }
  const synced = syncedBundle(snapshot);
  const entry = synced ? next[synced.sha256] : undefined;
  if (synced && entry && entry.syncedAt === undefined) {
    next = { ...next, [synced.sha256]: { ...entry, syncedAt: now } };
  }
  return next;
}

const KEEP_BUNDLES = 16;

/** Drops known bundles nothing refers to any more, keeping the newest few for configMapKeyRef inference. */
export function pruneBundles(known: RotationState['knownBundles'], snapshot: ClusterSnapshot): RotationState['knownBundles'] {
  const referenced = new Set<string>(snapshot.bundles.map((b) => b.sha256));
  for (const pod of snapshot.pods) if (pod.trustRootSha256) referenced.add(pod.trustRootSha256);
  if (snapshot.injector) referenced.add(snapshot.injector.trustRootSha256);
  const newest = Object.entries(known)
    .sort(([, a], [, b]) => ms(b.firstSeenAt) - ms(a.firstSeenAt))
    .slice(0, KEEP_BUNDLES)
    .map(([hash]) => hash);
  const keep = new Set([...newest, ...[...referenced].filter((hash) => known[hash] !== undefined)]);
  return Object.fromEntries(Object.entries(known).filter(([hash]) => keep.has(hash)));
}

/** The first whole second at or after `t`: Kubernetes start times and event times are truncated to seconds. */
export function nextWholeSecond(t: EpochMs): EpochMs {
  return Math.ceil(t / 1000) * 1000;
}

export interface TrustContext {
  readonly known: RotationState['knownBundles'];
  readonly bundleByNamespace: ReadonlyMap<string, string>;
  /** Linkerd's clock skew allowance: how long after a bundle synced a configMapKeyRef pod's trust stays unknown. */
  readonly clockSkewMs: number;
}

/** What each pod trusts, from this snapshot's bundles and the state's known ones; `options` defaults to the engine's. */
export function trustContext(snapshot: ClusterSnapshot, state: RotationState, options: Pick<DecideOptions, 'clockSkewMs'> = DEFAULT_OPTIONS): TrustContext {
  return {
    known: learnBundles(state.knownBundles, snapshot),
    bundleByNamespace: new Map(snapshot.bundles.map((b) => [b.namespace, b.sha256])),
    clockSkewMs: options.clockSkewMs,
  };
}

/**
 * Start-time inference (issue 14, item 9): a pod's `startedAt` is stamped by its node's clock, which
 * may differ from the runner's by up to the clock skew allowance. A pod proves it started at or
 * after `t` (runner time) only with a start time at or after `t` plus the allowance.
 */
export function provenStartAfter(t: EpochMs, clockSkewMs: number): EpochMs {
  return t + clockSkewMs;
}

/**
 * The earliest moment to restart pods that must prove a start after `t` by their start times: one
 * more allowance, so that a pod restarted then on a node whose clock lags still proves it (a roll
 * whose pods can never prove it would wait on them forever).
 */
export function restartsProveStartAfter(t: EpochMs, clockSkewMs: number): EpochMs {
  return provenStartAfter(t, clockSkewMs) + clockSkewMs;
}

/** The start time that proves a pod of a roll started after what the roll waited for (`restartsProveStartAfter` inverted). */
export function provenStartOfRoll(rollBaseline: EpochMs, clockSkewMs: number): EpochMs {
  return rollBaseline - clockSkewMs;
}

/**
 * The first start time at which a configMapKeyRef pod counts as holding a bundle the engine saw
 * synced at `syncedAt`: the next whole second (start times are whole seconds) plus the clock skew
 * allowance, since the kubelet resolves the ConfigMap from its own cache on a node whose clock drifts.
 */
export function configMapSettledAt(syncedAt: EpochMs, clockSkewMs: number): EpochMs {
  return provenStartAfter(nextWholeSecond(syncedAt), clockSkewMs);
}

export function bundleAnchors(context: TrustContext, sha256: string | undefined): ReadonlySet<Fingerprint> | undefined {
  const entry = sha256 === undefined ? undefined : context.known[sha256];
  return entry ? new Set(entry.anchors) : undefined;
}

/**
 * What a pod's proxy trusts: the parsed anchors when the adapter has them; for configMapKeyRef pods,
 * every bundle that may have been in their namespace's ConfigMap when they started; otherwise the
 * bundle its `trust-root-sha256` names.
 */
export function podTrust(pod: MeshedPod, context: TrustContext): PodTrust {
  if (pod.trustedAnchors) {
    const set = new Set(pod.trustedAnchors);
    return { known: true, certain: set, possible: set, alternatives: [set] };
  }
  if (pod.trustFromConfigMap) return configMapTrust(pod, context);
  const anchors = bundleAnchors(context, pod.trustRootSha256);
  if (anchors) return { known: true, certain: anchors, possible: anchors, alternatives: [anchors] };
  return {
    known: false,
    why:
      pod.trustRootSha256 === undefined
        ? 'no linkerd.io/trust-root-sha256 annotation'
        : `trust-root-sha256 ${pod.trustRootSha256.slice(0, 16)} matches no bundle seen by the rotator`,
  };
}

function configMapTrust(pod: MeshedPod, context: TrustContext): PodTrust {
  const current = context.bundleByNamespace.get(pod.namespace);
  if (current === undefined) {
    return { known: false, why: `reads trust roots by configMapKeyRef, but namespace ${pod.namespace} has no trust-roots ConfigMap` };
  }
  const entries = Object.entries(context.known);
  let base: [string, KnownBundle] | undefined;
  for (const entry of entries) {
    const syncedAt = entry[1].syncedAt;
    if (syncedAt === undefined || nextWholeSecond(ms(syncedAt)) > pod.startedAt) continue;
    if (base === undefined || ms(syncedAt) > ms(base[1].syncedAt as string)) base = entry;
  }
  if (base === undefined) {
    return { known: false, why: 'reads trust roots by configMapKeyRef and started before the rotator saw its bundle synced' };
  }
  const baseSyncedAt = ms(base[1].syncedAt as string);
  if (pod.startedAt < configMapSettledAt(baseSyncedAt, context.clockSkewMs)) {
    return {
      known: false,
      why: `reads trust roots by configMapKeyRef and started ${iso(pod.startedAt)}, within the clock skew allowance (${context.clockSkewMs / 1000}s) of the rotator seeing bundle ${base[0].slice(0, 16)} synced (${iso(baseSyncedAt)}): its kubelet may have served the bundle before`,
    };
  }
  const candidates = new Set<string>([base[0], current]);
  for (const [hash, entry] of entries) if (ms(entry.firstSeenAt) > baseSyncedAt) candidates.add(hash);
  const sets = [...candidates].map((hash) => new Set(context.known[hash]?.anchors ?? []));
  const certain = new Set([...(sets[0] ?? [])].filter((fp) => sets.every((s) => s.has(fp))));
  const possible = new Set(sets.flatMap((s) => [...s]));
  return { known: true, certain, possible, alternatives: sets };
}

/** True when the proxy trusts, for sure, at least one anchor of `route` (every set it may hold has one). */
export function trustsOneOf(trust: Extract<PodTrust, { known: true }>, route: ReadonlySet<Fingerprint>): boolean {
  return trust.alternatives.every((held) => [...route].some((fp) => held.has(fp)));
}

/** A pod that started at or after this time got its leaf from the issuer chained to the new anchor. */
export function leavesFreshSince(rotation: RotationRecord | undefined): EpochMs | undefined {
  return rotation?.identityFreshAt === undefined ? undefined : nextWholeSecond(ms(rotation.identityFreshAt));
}

/**
 * True when no running proxy can still hold a leaf issued before every identity controller served
 * the new issuer: every pod started after that, or a whole leaf lifetime has passed.
 */
export function leavesRenewed(snapshot: ClusterSnapshot, rotation: RotationRecord | undefined, options: DecideOptions): boolean {
  const since = leavesFreshSince(rotation);
  if (since === undefined) return false;
  if (snapshot.observedAt >= leafLifetimeElapsedAt(since, options)) return true;
  return snapshot.pods.every((pod) => pod.startedAt >= provenStartAfter(since, options.clockSkewMs));
}

export function leafLifetimeElapsedAt(since: EpochMs, options: DecideOptions): EpochMs {
  return since + options.leafLifetimeMs + options.clockSkewMs;
}

/**
 * Anchors that leaves held by running proxies (or issued next) may chain to: the current issuer's
 * anchor, plus the rotation's old anchor until every leaf has been renewed under the new issuer.
 */
export function leafAnchorsInCirculation(snapshot: ClusterSnapshot, state: RotationState, options: DecideOptions): ReadonlySet<Fingerprint> {
  return new Set(leafRoutesInCirculation(snapshot, state, options).flatMap((route) => [...route]));
}

/**
 * The anchors a valid chain from `issuer` reaches at `now` (webpki builds paths through the
 * intermediates it is shown): the issuer's own anchor, plus every anchor that cross-signed it,
 * until that cross-signature's notAfter.
 */
export function reachableAnchors(issuer: IdentityIssuerFacts | undefined, now: EpochMs): ReadonlySet<Fingerprint> {
  const set = new Set<Fingerprint>();
  if (issuer?.chainsTo === undefined) return set;
  set.add(issuer.chainsTo);
  for (const via of issuer.chainVia ?? []) if (via.notAfter > now) set.add(via.anchor);
  return set;
}

/**
 * The leaves in circulation as routes: each route is the set of anchors through which a proxy can
 * verify those leaves (trusting any one of a route is enough). The current issuer's leaves reach its
 * anchor and every valid cross-signer; leaves issued before promotion reach the old anchor only,
 * until every leaf has been renewed under the new issuer.
 */
export function leafRoutesInCirculation(snapshot: ClusterSnapshot, state: RotationState, options: DecideOptions): ReadonlySet<Fingerprint>[] {
  const routes: ReadonlySet<Fingerprint>[] = [];
  const current = reachableAnchors(snapshot.issuer, snapshot.observedAt);
  if (current.size > 0) routes.push(current);
  const rotation = state.rotation;
  if (rotation && !leavesRenewed(snapshot, rotation, options) && !current.has(rotation.from.fingerprint)) routes.push(new Set([rotation.from.fingerprint]));
  return routes;
}

/** True when `trusted` holds at least one anchor of every route. */
export function coversRoutes(trusted: ReadonlySet<Fingerprint>, routes: readonly ReadonlySet<Fingerprint>[]): boolean {
  return routes.every((route) => [...route].some((fp) => trusted.has(fp)));
}

/** Routes for messages: `{A}` or `{B|A}` (any one anchor of a route is enough). */
export function formatRoutes(routes: readonly ReadonlySet<Fingerprint>[]): string {
  return routes.map((route) => `{${[...route].map((fp) => fp.slice(0, 16)).join('|')}}`).join(', ');
}

export function formatAnchors(set: Iterable<Fingerprint>): string {
  const list = [...set].map((fp) => fp.slice(0, 16)).sort();
  return `{${list.join(', ')}}`;
}
