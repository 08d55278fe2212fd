// What `status` shows and `check` judges: the rotation state, the anchors with their expiry, the
// bundle per namespace, the issuer chain, the injector's answer, stale proxies and pods relying on a
// cross-signature. Pure over a snapshot and the state, so the findings can be tested without a cluster.
import type { ObjectNames } from '@linkerd-rotator/names';
import { formatDuration, leafLifetimeProblem } from './config.js';
import { formatParked, type ParkedRotation } from './parked.js';
import { formatRecovery, recoveryFinding, recoveryJson, type RecoveryJson } from './recovery-report.js';
import { DEFAULT_OPTIONS, isUnderWay, recoveryPlan, issuerSignerProblem, objectRefs, podTrust, resumePhase, shortFp, stalenessOf, stalenessStrategy, trustContext, unrestartablePods, unrestartableSummary, type AnchorFacts, type ClusterSnapshot, type Fingerprint, type LeaseFacts, type MeshedPod, type RotationState } from '@linkerd-rotator/rotation';

export interface AnchorStatus {
  role: 'prepared' | 'active' | 'previous';
  fingerprint?: string;
  publicKeyFingerprint?: string;
  notBefore?: string;
  notAfter?: string;
  expiresInHours?: number;
}

export interface StalePod {
  pod: string;
  why: string;
  /** The pod does not trust, for sure, an anchor that signs now (active, or the issuer's): mTLS may fail. */
  critical?: boolean;
}

/** A pod that reaches the issuer's anchor only through a cross-signature: not stale, until that ends. */
export interface RelyingPod {
  pod: string;
  /** The anchor it trusts, which signed the cross-signature. */
  anchor: string;
  /** The cross-signature's notAfter (ISO 8601): a scheduled run restarts the pod before it. */
  until: string;
}

export interface StatusReport {
  observedAt: string;
  rotation: {
    phase: string;
    stoppedReason?: string;
    stoppedMessage?: string;
    from?: string;
    to?: string;
    phaseStartedAt?: string;
    last?: { from: string; to: string; finishedAt: string };
    stateProblem?: string;
    /** Parked on a long gate: when the next scheduled run resumes it (ISO 8601) and what it awaits. */
    waitingUntil?: string;
    waitingFor?: string;
  };
  lease?: { holder?: string; expiresAt?: string };
  anchors: AnchorStatus[];
  issuer?: { fingerprint: string; notAfter: string; expiresInHours: number; chainsTo?: string; chainsToRole?: string; issuing: string };
  bundles: Array<{ namespace: string; sha256: string; anchors: string[] }>;
  bundleSynced: boolean;
  injector: { trustRootSha256?: string; namespace?: string; problem?: string };
  pods: { meshed: number; notReady: number; stale: StalePod[]; unknown: StalePod[]; relyingOnCrossSignature: RelyingPod[] };
  /** An expiry incident (libs/rotation `diagnoseExpiry`) and what `recover` would do; absent when healthy. */
  recovery?: RecoveryJson;
  findings: Finding[];
}

export interface Finding {
  severity: 'problem' | 'note';
  message: string;
}

export interface CheckThresholds {
  /** An anchor (active, or the prepared one waiting) expiring sooner than this is a problem. */
  anchorMinValidityMs: number;
  /** The identity issuer expiring sooner than this is a problem (cert-manager renews it 25h before). */
  issuerMinValidityMs: number;
  /** A rotation whose phase started longer ago than this, with no live Lease, counts as stuck. */
  stuckAfterMs: number;
}

export const DEFAULT_THRESHOLDS: CheckThresholds = { anchorMinValidityMs: 30 * 86_400_000, issuerMinValidityMs: 12 * 3_600_000, stuckAfterMs: 6 * 3_600_000 };

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const hours = (ms: number) => Math.floor(ms / 3_600_000);

function anchorStatus(role: AnchorStatus['role'], a: AnchorFacts | undefined, now: number): AnchorStatus {
  if (!a) return { role };
  return { role, fingerprint: a.fingerprint, publicKeyFingerprint: a.publicKeyFingerprint, notBefore: iso(a.notBefore) as string, notAfter: iso(a.notAfter) as string, expiresInHours: hours(a.notAfter - now) };
}

/**
 * Stale proxies, by libs/rotation `stalenessOf` (the exporter's rule too): a pod relying on a valid
 * cross-signature is not stale, it is counted apart with the time it must be restarted by; after a
 * cross-signed rotation a pod whose trust is known is stale only when it trusts no anchor a valid
 * chain reaches; otherwise injected pods whose trust-root-sha256 is not the current bundle's, and
 * configMapKeyRef pods by inferred trust.
 */
export function stalePods(
  snapshot: ClusterSnapshot,
  state: RotationState | undefined,
  current: { sha256: string; anchors: ReadonlySet<Fingerprint> } | undefined,
): { stale: StalePod[]; unknown: StalePod[]; relying: RelyingPod[] } {
  const stale: StalePod[] = [];
  const unknown: StalePod[] = [];
  const relying: RelyingPod[] = [];
  if (!current) return { stale, unknown, relying };
  const context = trustContext(snapshot, state ?? { version: 1, phase: 'Idle', knownBundles: {} });
  const strategy = stalenessStrategy(state);
  const signing = [snapshot.active?.fingerprint, snapshot.issuer?.chainsTo].filter((fp): fp is Fingerprint => fp !== undefined);
  const key = (p: MeshedPod) => `${p.namespace}/${p.name}`;
  for (const pod of snapshot.pods) {
    const judged = stalenessOf(pod, { trust: context, issuer: snapshot.issuer, now: snapshot.observedAt, strategy });
    if (judged.relying) {
      relying.push({ pod: key(pod), anchor: judged.relying.anchor, until: iso(judged.relying.until) as string });
      continue;
    }
    if (judged.stale === false) continue;
    const trust = podTrust(pod, context);
    const critical = trust.known && signing.some((fp) => !trust.certain.has(fp));
    if (judged.stale === true) {
      stale.push({ pod: key(pod), why: `trusts none of the anchors a valid chain reaches (the issuer chains to ${shortFp(snapshot.issuer?.chainsTo)})`, ...(critical ? { critical } : {}) });
      continue;
    }
    if (!pod.trustFromConfigMap) {
      if (pod.trustRootSha256 === undefined) unknown.push({ pod: key(pod), why: 'no linkerd.io/trust-root-sha256 annotation' });
      else if (pod.trustRootSha256 !== current.sha256) stale.push({ pod: key(pod), why: `trust-root-sha256 ${pod.trustRootSha256.slice(0, 16)} is not the current bundle's ${current.sha256.slice(0, 16)}`, ...(critical ? { critical } : {}) });
      continue;
    }
    // Control-plane pods read the bundle by configMapKeyRef; their annotation hashes a Helm value.
    if (!trust.known) unknown.push({ pod: key(pod), why: trust.why });
    else if (trust.possible.size !== current.anchors.size || [...trust.possible].some((fp) => !current.anchors.has(fp))) {
      stale.push({ pod: key(pod), why: 'started before the current bundle was synced (reads it by configMapKeyRef)', ...(critical ? { critical } : {}) });
    }
  }
  return { stale, unknown, relying };
}

/** The pod whose cross-signature ends first (ISO times compare as text). */
function firstToEnd(relying: readonly RelyingPod[]): RelyingPod | undefined {
  return relying.reduce<RelyingPod | undefined>((a, b) => (a === undefined || b.until < a.until ? b : a), undefined);
}

export interface ReportInput {
  snapshot: ClusterSnapshot;
  state?: RotationState;
  stateProblem?: string;
  lease?: LeaseFacts;
  injector: { namespace?: string; problem?: string };
  /** The install's object names: the bundle in Linkerd's namespace is the reference, and findings name objects. */
  names: ObjectNames;
  thresholds: CheckThresholds;
  /** The rotation is parked on a long gate (parked.ts): waiting is expected, not stuck. */
  parked?: ParkedRotation;
  /** The runs' --leaf-lifetime (`status`/`check` take the CronJob's LEAF_LIFETIME): checked against identity's issuance lifetime. */
  leafLifetimeMs?: number;
  /** The time a rotation needs before the active anchor ends (libs/rotation `expiryMarginOf`): less left escalates. */
  expiryMarginMs?: number;
  /** `recover`'s knobs, for the recovery it would make (defaults when absent). */
  recover?: { recoverConcurrency: number; recoverLeafGraceMs: number };
}

/**
 * Why cert-manager does not renew the identity issuer, most specific first (issue 15): its last
 * failed issuance (the CertificateRequest's message, in the Issuing condition), a signer that is not
 * the ClusterIssuer on the active Secret, that ClusterIssuer not Ready (its CA Secret missing or
 * unusable), the active anchor Secret missing or expired; else where to look.
 */
export function issuerRenewalCause(s: ClusterSnapshot, names: ObjectNames): string {
  const objects = objectRefs(names);
  if (s.issuer?.issuing === 'false') return `its last issuance failed (${s.issuer.lastFailureMessage ?? 'no message'})`;
  const signer = s.issuerSigning && issuerSignerProblem(s.issuerSigning, names);
  if (signer) return signer;
  const clusterIssuer = s.issuerSigning?.clusterIssuer;
  if (clusterIssuer?.found && clusterIssuer.notReady) return `${objects.identityClusterIssuer} is not Ready (${clusterIssuer.notReady}); fix its CA, ${objects.activeSecret}`;
  if (!s.active) return `its CA, ${objects.activeSecret}, is missing or holds no certificate; run \`bootstrap\``;
  if (s.active.notAfter <= s.observedAt) return `its CA, the active anchor ${shortFp(s.active.fingerprint)}, expired ${iso(s.active.notAfter)}`;
  return (
    `no failure is on record (${objects.issuerCertificate} Issuing=${s.issuer?.issuing ?? 'unknown'}); check the cert-manager controller's logs, and whether the linkerd-rotator webhook denies its writes of ${objects.issuerSecret} ` +
    '(the webhook logs each denial with its reason; metric linkerd_rotator_admission_requests_total{resource="secrets",verdict="denied"})'
  );
}

export function buildReport(input: ReportInput): StatusReport {
  const { snapshot: s, state } = input;
  const now = s.observedAt;
  const effective = state ? resumePhase(state) : undefined;
  // A recovery under way tolerates what a rotation under way does (anchors moving, pods to restart).
  const inRotation = effective !== undefined && isUnderWay(effective);
  const roles: Array<[AnchorStatus['role'], AnchorFacts | undefined]> = [
    ['prepared', s.prepared.anchor],
    ['active', s.active],
    ['previous', s.previous],
  ];
  // The signing role first: the active anchor is usually also the prepared one.
  const roleOf = (fp: string | undefined) => [roles[1], roles[2], roles[0]].find((r) => r?.[1] && r[1].fingerprint === fp)?.[0];
  const first = s.bundles[0];
  const bundleSynced = first !== undefined && s.bundles.every((b) => b.sha256 === first.sha256);
  const home = s.bundles.find((b) => b.namespace === input.names.linkerdNamespace) ?? first;
  const current = home ? { sha256: home.sha256, anchors: new Set(home.anchors) } : undefined;
  const { stale, unknown, relying } = stalePods(s, state, current);
  const findings: Finding[] = [];
  const problem = (message: string) => findings.push({ severity: 'problem', message });
  const note = (message: string) => findings.push({ severity: 'note', message });
  const t = input.thresholds;

  if (input.stateProblem) problem(input.stateProblem);
  const recovery = recoveryPlan(s, { names: input.names, recoverConcurrency: input.recover?.recoverConcurrency ?? DEFAULT_OPTIONS.recoverConcurrency, recoverLeafGraceMs: input.recover?.recoverLeafGraceMs ?? DEFAULT_OPTIONS.recoverLeafGraceMs });
  if (recovery) problem(recoveryFinding(recovery));
  if (!s.active) problem('Secret of the active anchor is missing: run `bootstrap`');
  else if (s.active.notAfter <= now) {
    // The expiry incident finding above says it, with what recovery does.
    if (!recovery) problem(`active anchor ${shortFp(s.active.fingerprint)} expired ${iso(s.active.notAfter)}: chains to it no longer verify, so proxies refuse new leaves and identity refuses its issuer`);
  }
  else if (input.expiryMarginMs !== undefined && s.active.notAfter - now <= input.expiryMarginMs) {
    problem(
      `active anchor ${shortFp(s.active.fingerprint)} expires ${iso(s.active.notAfter)} (in ${formatDuration(s.active.notAfter - now)}), within the ${formatDuration(input.expiryMarginMs)} a rotation needs (--expiry-margin): ${inRotation ? 'the rotation under way must finish before then' : 'the next scheduled run starts a rotation; `rotate` starts it now'}`,
    );
  } else if (s.active.notAfter - now < t.anchorMinValidityMs) problem(`active anchor ${shortFp(s.active.fingerprint)} expires ${iso(s.active.notAfter)} (in ${hours(s.active.notAfter - now)}h): rotate now`);
  if (!s.previous) problem('Secret of the previous anchor is missing: run `bootstrap`');
  // issue 14: what `rotate` stops on, found before a run does (libs/rotation's own rules and messages).
  const signer = s.issuerSigning && issuerSignerProblem(s.issuerSigning, input.names);
  if (signer) problem(signer);
  if (!inRotation && s.active && s.previous && s.active.fingerprint !== s.previous.fingerprint) {
    problem(`the previous anchor ${shortFp(s.previous.fingerprint)} is not the active anchor ${shortFp(s.active.fingerprint)} outside a rotation: a rotation was promoted and not retired and its state is gone (rotate stops half-finished-rotation; docs/rotation.md "Lost state")`);
  }
  // issue 14 item 11: what gentle mode and cross-signed wait for, and whose trust roots the Bundle writes.
  const shortLeafLifetime = input.leafLifetimeMs === undefined ? undefined : leafLifetimeProblem(input.leafLifetimeMs, s.identityIssuanceLifetimeMs, input.names);
  if (shortLeafLifetime) problem(shortLeafLifetime);
  const others = s.otherControlPlaneTargets ?? [];
  if (others.length > 0) {
    problem(
      `the trust-roots Bundle ${input.names.trustRootsConfigMap} targets the namespace of another Linkerd control plane: ${others.map((o) => `${o.namespace} (${o.why})`).join(', ')}; ` +
        "trust-manager overwrites that control plane's trust roots with this one's anchors and every rotation changes them: scope the Bundle's namespaceSelector to this control plane's namespaces (docs/runner.md, \"Scoping the trust bundle\")",
    );
  }
  const { trustNamespace, preparedAnchorSecret, preparedAnchorCertificate } = input.names;
  if (!s.prepared.anchor) problem(`the prepared anchor Secret ${trustNamespace}/${preparedAnchorSecret} is missing: check Certificate ${trustNamespace}/${preparedAnchorCertificate}`);
  if (s.prepared.issuing === 'false') problem(`cert-manager failed to issue the prepared anchor: ${s.prepared.lastFailureMessage ?? 'no message'}`);
  if (!s.issuer) problem(`the identity issuer is missing: Certificate ${input.names.linkerdNamespace}/${input.names.issuerCertificate} does not exist or cert-manager has not issued it yet`);
  else {
    // Said first: an issuer that expires stops every new leaf, and the cause is what to fix.
    if (s.issuer.notAfter - now < t.issuerMinValidityMs) {
      const when = s.issuer.notAfter <= now ? `expired ${iso(s.issuer.notAfter)}` : `expires ${iso(s.issuer.notAfter)} (in ${hours(s.issuer.notAfter - now)}h)`;
      findings.unshift({ severity: 'problem', message: `identity issuer ${shortFp(s.issuer.fingerprint)} ${when}: cert-manager is not renewing it: ${issuerRenewalCause(s, input.names)}` });
    }
    if (!s.issuer.chainsTo) problem(`identity issuer ${shortFp(s.issuer.fingerprint)} chains to no known anchor: proxies will reject its leaves`);
    else if (!inRotation && s.active && s.issuer.chainsTo !== s.active.fingerprint) problem(`identity issuer chains to ${shortFp(s.issuer.chainsTo)}, not to the active anchor ${shortFp(s.active.fingerprint)}`);
    if (s.issuer.issuing === 'false' && s.issuer.notAfter - now >= t.issuerMinValidityMs) problem(`cert-manager failed to issue the identity issuer: ${s.issuer.lastFailureMessage ?? 'no message'}`);
  }
  if (s.bundles.length === 0) problem('no trust-roots ConfigMap found in any namespace: check the trust-manager Bundle');
  for (const b of s.bundles) {
    if (s.active && !b.anchors.includes(s.active.fingerprint)) problem(`the trust bundle in namespace ${b.namespace} does not hold the active anchor ${shortFp(s.active.fingerprint)}`);
    if (s.issuer?.chainsTo && !b.anchors.includes(s.issuer.chainsTo)) problem(`the trust bundle in namespace ${b.namespace} does not hold the anchor the identity issuer chains to (${shortFp(s.issuer.chainsTo)})`);
  }
  if (!inRotation) {
    if (!bundleSynced && s.bundles.length > 0) problem(`the trust-roots ConfigMaps differ between namespaces (${s.bundles.map((b) => `${b.namespace}: ${b.sha256.slice(0, 12)}`).join(', ')})`);
    const critical = stale.filter((p) => p.critical);
    if (critical.length > 0) problem(`${critical.length} meshed pod(s) do not trust the anchor that signs identities now, outside a rotation (first: ${critical[0]?.pod}: ${critical[0]?.why}); restart them or run \`rotate --force\``);
    else if (stale.length > 0) problem(`${stale.length} meshed pod(s) do not run with the current bundle outside a rotation (first: ${stale[0]?.pod}: ${stale[0]?.why}); the next rotation restarts them, or restart them now`);
    if (current && s.injector && s.injector.trustRootSha256 !== current.sha256) problem(`the proxy-injector injects bundle ${s.injector.trustRootSha256.slice(0, 16)}, not the current ${current.sha256.slice(0, 16)}`);
  }
  if (!s.injector) note(`the proxy-injector check could not run: ${input.injector.problem ?? 'no answer'}`);
  const endsFirst = firstToEnd(relying);
  if (endsFirst) {
    note(`${relying.length} meshed pod(s) rely on a cross-signature by ${shortFp(endsFirst.anchor)} until ${endsFirst.until} (first: ${endsFirst.pod}); a scheduled run restarts them before it ends`);
  }
  // issue 14 item 8: pods a restartedAt patch never replaces; which ones a rotation must restart depends on its strategy.
  const unrestartable = unrestartableSummary(unrestartablePods(s));
  if (unrestartable) {
    note(`${unrestartable.pods} meshed pod(s) are not replaced by a restart of their controller, so a rotation that must restart them stops pods-not-restartable (strategy restart: always; cross-signed: when they trust neither anchor): ${unrestartable.text}`);
  }
  const history = s.issuerSigning?.certificateIssuerRef ? s.issuerSigning.revisionHistoryLimit : 2;
  if (history === undefined || history < 2) {
    note(
      `Certificate ${input.names.linkerdNamespace}/${input.names.issuerCertificate} keeps spec.revisionHistoryLimit ${history ?? 'unset (1 since cert-manager v1.18)'}: ` +
        'a renewal deletes the CertificateRequest the runner reads the issuer chain from until it is issued, and a run that starts then stops in a safe state; set it to 2 or more (the chart\'s Certificate sets 2)',
    );
  }
  if (unknown.length > 0) note(`${unknown.length} meshed pod(s) of unknown trust (first: ${unknown[0]?.pod}: ${unknown[0]?.why})`);
  if (state?.phase === 'Stopped') problem(`the last rotation run stopped (${state.stopped?.reason}): ${state.stopped?.message ?? ''}`);
  if (inRotation && state?.rotation) {
    // A rotation parked on a long gate is stuck only once that gate has been open this long.
    const since = Math.max(Date.parse(state.rotation.phaseStartedAt), state.rotation.waitingUntil ? Date.parse(state.rotation.waitingUntil) : 0);
    const leaseLive = input.lease?.holder !== undefined && (input.lease.expiresAt ?? Infinity) > now;
    if (input.parked) note(`the rotation is ${formatParked(input.parked)}`);
    else if (!leaseLive && now - since > t.stuckAfterMs) problem(`a rotation has been in phase ${effective} since ${state.rotation.phaseStartedAt}${state.rotation.waitingUntil ? ` (its wait ended at ${state.rotation.waitingUntil})` : ''} with no run holding the Lease: run \`rotate\` to resume it, and check that the CronJob runs`);
  }
  if (inRotation && stale.length > 0) note(`${stale.length} meshed pod(s) still to be restarted by the rotation in progress`);

  const lease = input.lease;
  return {
    observedAt: iso(now) as string,
    rotation: {
      phase: state?.phase ?? 'unknown',
      ...(state?.stopped ? { stoppedReason: state.stopped.reason, stoppedMessage: state.stopped.message } : {}),
      ...(state?.rotation ? { from: state.rotation.from.fingerprint, phaseStartedAt: state.rotation.phaseStartedAt, ...(state.rotation.to ? { to: state.rotation.to.fingerprint } : {}) } : {}),
      ...(state?.last ? { last: { from: state.last.from, to: state.last.to, finishedAt: state.last.finishedAt } } : {}),
      ...(input.stateProblem ? { stateProblem: input.stateProblem } : {}),
      ...(input.parked ? { waitingUntil: iso(input.parked.until) as string, waitingFor: input.parked.awaits } : {}),
    },
    ...(lease ? { lease: { ...(lease.holder ? { holder: lease.holder } : {}), ...(lease.expiresAt !== undefined ? { expiresAt: iso(lease.expiresAt) as string } : {}) } } : {}),
    anchors: roles.map(([role, a]) => anchorStatus(role, a, now)),
    ...(s.issuer
      ? {
          issuer: {
            fingerprint: s.issuer.fingerprint,
            notAfter: iso(s.issuer.notAfter) as string,
            expiresInHours: hours(s.issuer.notAfter - now),
            ...(s.issuer.chainsTo ? { chainsTo: s.issuer.chainsTo } : {}),
            ...(roleOf(s.issuer.chainsTo) ? { chainsToRole: roleOf(s.issuer.chainsTo) as string } : {}),
            issuing: s.issuer.issuing,
          },
        }
      : {}),
    bundles: s.bundles.map((b) => ({ namespace: b.namespace, sha256: b.sha256, anchors: [...b.anchors] })),
    bundleSynced,
    injector: { ...(s.injector ? { trustRootSha256: s.injector.trustRootSha256 } : {}), ...(input.injector.namespace ? { namespace: input.injector.namespace } : {}), ...(input.injector.problem ? { problem: input.injector.problem } : {}) },
    pods: { meshed: s.pods.length, notReady: s.pods.filter((p) => !p.ready).length, stale, unknown, relyingOnCrossSignature: relying },
    ...(recovery ? { recovery: recoveryJson(recovery) } : {}),
    findings,
  };
}

export function formatReport(r: StatusReport, verbose = false): string {
  const out: string[] = [];
  const rot = r.rotation;
  out.push(`Rotation:   ${rot.phase}${rot.stoppedReason ? ` (${rot.stoppedReason})` : ''}${rot.from ? `  ${shortFp(rot.from)} -> ${rot.to ? shortFp(rot.to) : '(new anchor)'} since ${rot.phaseStartedAt}` : ''}`);
  if (rot.waitingUntil) out.push(`Waiting:    until ${rot.waitingUntil} for ${rot.waitingFor ?? 'a long gate'}; the next scheduled run resumes`);
  if (rot.last) out.push(`Last:       ${shortFp(rot.last.from)} -> ${shortFp(rot.last.to)} finished ${rot.last.finishedAt}`);
  out.push(`Lease:      ${r.lease?.holder ? `held by ${r.lease.holder} until ${r.lease.expiresAt}` : 'free'}`);
  out.push('Anchors:');
  for (const a of r.anchors) {
    out.push(`  ${a.role.padEnd(9)} ${a.fingerprint ? `${shortFp(a.fingerprint)}  expires ${a.notAfter} (${Math.floor((a.expiresInHours ?? 0) / 24)}d)` : '(missing)'}`);
  }
  if (r.issuer) out.push(`Issuer:     ${shortFp(r.issuer.fingerprint)}  expires ${r.issuer.notAfter} (${r.issuer.expiresInHours}h)  chains to ${r.issuer.chainsTo ? `${shortFp(r.issuer.chainsTo)}${r.issuer.chainsToRole ? ` (${r.issuer.chainsToRole})` : ''}` : 'no known anchor'}`);
  else out.push('Issuer:     (missing)');
  out.push(`Bundles:    ${r.bundles.length} namespace(s), ${r.bundleSynced ? 'all the same' : 'DIFFERENT'}`);
  for (const b of r.bundles) out.push(`  ${b.namespace.padEnd(20)} sha256 ${b.sha256.slice(0, 16)}  {${b.anchors.map((a) => shortFp(a)).join(', ')}}`);
  out.push(`Injector:   ${r.injector.trustRootSha256 ? `injects ${r.injector.trustRootSha256.slice(0, 16)} (dry-run in ${r.injector.namespace})` : `unknown (${r.injector.problem ?? 'no answer'})`}`);
  const relying = r.pods.relyingOnCrossSignature;
  const until = firstToEnd(relying) ? ` until ${firstToEnd(relying)?.until}` : '';
  out.push(`Pods:       ${r.pods.meshed} meshed, ${r.pods.notReady} not Ready, ${r.pods.stale.length} stale, ${r.pods.unknown.length} of unknown trust, ${relying.length} relying on a cross-signature${until}`);
  const list = verbose ? r.pods.stale : r.pods.stale.slice(0, 10);
  for (const p of list) out.push(`  stale ${p.pod}: ${p.why}`);
  if (list.length < r.pods.stale.length) out.push(`  ... and ${r.pods.stale.length - list.length} more`);
  if (r.recovery) out.push(...formatRecovery(r.recovery, verbose));
  if (r.findings.length > 0) {
    out.push('Findings:');
    for (const f of r.findings) out.push(`  ${f.severity === 'problem' ? 'PROBLEM' : 'note'}: ${f.message}`);
  } else out.push('Findings:   none');
  return out.join('\n') + '\n';
}
