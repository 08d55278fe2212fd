// The PKI health exporter's Prometheus metrics: gauges filled at scrape time from the cache (no API
// call per scrape), computed afresh each time so a certificate that disappears leaves the output.
import type { Metric, Registry } from 'prom-client';
import type { ExporterSource } from '@linkerd-rotator/kube/caches';
import type { ObjectNames } from '@linkerd-rotator/names';
import { PHASES } from '@linkerd-rotator/rotation';
import { ExporterModel, type ExporterView } from './view.js';

export interface ExporterDeps {
  source: ExporterSource;
  names: ObjectNames;
  now?: () => Date;
  /** Called when computing the view fails (the scrape then shows exporter_synced 0 and no PKI series). */
  onError?: (err: unknown) => void;
}

const CERT_LABELS = ['role', 'namespace', 'fingerprint', 'subject'] as const;

export type Series<L extends string> = { labels: Partial<Record<L, string>>; value: number };
type Emit<L extends string> = (labels: Partial<Record<L, string>>, value: number) => void;

/**
 * A gauge for prom-client's Registry that holds no state: each scrape asks for its series. Unlike
 * prom-client's Gauge, an unlabelled one can be absent, and no series can outlive its object.
 */
export class ViewGauge<L extends string> {
  readonly type = 'gauge';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
    private readonly series: () => Promise<Array<Series<L>>>,
  ) {}

  async get() {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: await this.series() };
  }

  reset(): void {}
}

/** Every metric the exporter registers, by name: the dashboard and alert tests check against this. */
export const EXPORTER_METRICS = {
  synced: 'linkerd_rotator_exporter_synced',
  notAfter: 'linkerd_rotator_certificate_not_after_timestamp_seconds',
  notBefore: 'linkerd_rotator_certificate_not_before_timestamp_seconds',
  bundleInfo: 'linkerd_rotator_trust_bundle_info',
  bundleCertificates: 'linkerd_rotator_trust_bundle_certificates',
  bundleActive: 'linkerd_rotator_trust_bundle_contains_active_anchor',
  bundleIssuer: 'linkerd_rotator_trust_bundle_contains_issuer_anchor',
  meshedPods: 'linkerd_rotator_meshed_pods',
  staleProxies: 'linkerd_rotator_stale_proxies',
  relyingOnCrossSignature: 'linkerd_rotator_proxies_relying_on_cross_signature',
  crossSignatureExpiry: 'linkerd_rotator_cross_signature_expiry_timestamp_seconds',
  phase: 'linkerd_rotator_rotation_phase',
  stateValid: 'linkerd_rotator_rotation_state_valid',
  phaseStart: 'linkerd_rotator_rotation_phase_start_timestamp_seconds',
  waitingUntil: 'linkerd_rotator_rotation_waiting_until_timestamp_seconds',
  lastSuccess: 'linkerd_rotator_rotation_last_success_timestamp_seconds',
  lastFailure: 'linkerd_rotator_rotation_last_failure_timestamp_seconds',
  preparedWaiting: 'linkerd_rotator_prepared_anchor_waiting_seconds',
  /** Registered by registerCaBundleMetric (ca-bundle.ts). */
  caBundleValid: 'linkerd_rotator_ca_bundle_valid',
} as const;

/**
 * Labels every series of `registry` cluster="<name>" (fleet.clusterName, docs/multicluster.md): the
 * gauges here, linkerd_rotator_ca_bundle_valid and the process metrics, registered before or after.
 * No name, no label: a single cluster's series stay as they are. No metric here has a label of that name.
 */
export function labelSeriesWithCluster(registry: Registry, clusterName: string | undefined): void {
  if (clusterName !== undefined) registry.setDefaultLabels({ cluster: clusterName });
}

/**
 * Registers the exporter's gauges on `registry`. One view is computed per distinct input (the
 * caches hand out a new snapshot object only after a change) and shared by all gauges of a scrape.
 */
export function registerExporterMetrics(registry: Registry, deps: ExporterDeps): void {
  const model = new ExporterModel();
  const now = deps.now ?? (() => new Date());
  let memo: { snapshot: unknown; view: Promise<ExporterView | undefined>; validUntil?: number } | undefined;

  const current = (): Promise<ExporterView | undefined> => {
    if (!deps.source.isSynced()) return Promise.resolve(undefined);
    const snapshot = deps.source.current();
    const at = now();
    // A view lasts while its snapshot does, unless a cross-signature it counts on ends before.
    if (!memo || memo.snapshot !== snapshot || (memo.validUntil !== undefined && at.getTime() >= memo.validUntil)) {
      const entry: NonNullable<typeof memo> = { snapshot, view: Promise.resolve(undefined) };
      entry.view = model.view({ snapshot, names: deps.names, now: at }).then(
        (view) => {
          if (view.validUntil !== undefined) entry.validUntil = view.validUntil;
          return view;
        },
        (err: unknown) => {
          deps.onError?.(err);
          memo = undefined;
          return undefined;
        },
      );
      memo = entry;
    }
    return memo.view;
  };

  const register = <L extends string>(name: string, help: string, labelNames: readonly L[], series: () => Promise<Array<Series<L>>>) =>
    registry.registerMetric(new ViewGauge(name, help, labelNames, series) as unknown as Metric);

  /** A gauge whose series are exactly those `fill` emits from the current view: none while there is no view. */
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], fill: (emit: Emit<L>, view: ExporterView) => void) =>
    register(name, help, labelNames, async () => {
      const view = await current();
      const values: Array<Series<L>> = [];
      if (view) fill((labels, value) => values.push({ labels, value }), view);
      return values;
    });

  register(EXPORTER_METRICS.synced, '1 when every informer cache has listed its objects and the PKI series below are exported; 0 before (or when computing them failed).', [], async () => [
    { labels: {}, value: (await current()) ? 1 : 0 },
  ]);

  const certHelp = (edge: string) =>
    `${edge} of each certificate, Unix seconds, by role (prepared-anchor, active-anchor, previous-anchor, trust-bundle, identity-issuer, identity-issuer-chain; webhook-serving comes from the webhook itself), namespace of the object holding it, short SHA-256 fingerprint and subject.`;
  gauge(EXPORTER_METRICS.notAfter, certHelp('notAfter (expiry)'), CERT_LABELS, (emit, v) => {
    for (const c of v.certificates) emit({ role: c.role, namespace: c.namespace, fingerprint: c.fingerprint, subject: c.subject }, c.notAfter);
  });
  gauge(EXPORTER_METRICS.notBefore, certHelp('notBefore (issuance)'), CERT_LABELS, (emit, v) => {
    for (const c of v.certificates) emit({ role: c.role, namespace: c.namespace, fingerprint: c.fingerprint, subject: c.subject }, c.notBefore);
  });

  gauge(EXPORTER_METRICS.bundleInfo, 'Always 1, one series per trust-roots ConfigMap, with the SHA-256 of its bundle text (what pods\' linkerd.io/trust-root-sha256 is compared with).', ['namespace', 'sha256'], (emit, v) => {
    for (const b of v.bundles) if (b.sha256 !== '') emit({ namespace: b.namespace, sha256: b.sha256 }, 1);
  });
  gauge(EXPORTER_METRICS.bundleCertificates, 'Certificates in each trust-roots ConfigMap (0 when the ConfigMap or its key is missing in the Linkerd namespace).', ['namespace'], (emit, v) => {
    for (const b of v.bundles) emit({ namespace: b.namespace }, b.certificates);
  });
  gauge(EXPORTER_METRICS.bundleActive, '1 when the trust-roots ConfigMap holds the active anchor (matched by DER), 0 when not; absent while the active anchor Secret is missing.', ['namespace'], (emit, v) => {
    for (const b of v.bundles) if (b.containsActiveAnchor !== undefined) emit({ namespace: b.namespace }, b.containsActiveAnchor ? 1 : 0);
  });
  gauge(EXPORTER_METRICS.bundleIssuer, '1 when the trust-roots ConfigMap holds an anchor that verifies the identity issuer, 0 when not; absent while the issuer Secret is missing.', ['namespace'], (emit, v) => {
    for (const b of v.bundles) if (b.containsIssuerAnchor !== undefined) emit({ namespace: b.namespace }, b.containsIssuerAnchor ? 1 : 0);
  });

  gauge(EXPORTER_METRICS.meshedPods, 'Meshed pods (with a linkerd-proxy container, not terminated) per namespace.', ['namespace'], (emit, v) => {
    for (const p of v.pods) emit({ namespace: p.namespace }, p.meshed);
  });
  gauge(
    EXPORTER_METRICS.staleProxies,
    "Meshed pods per namespace whose proxy holds outdated trust, by the strategy of the rotation under way or else the last one: cross-signed, it trusts no anchor that a valid chain from the identity issuer reaches (the issuer's anchor, or an anchor that cross-signed it while that cross-signature is valid); restart, or a pod whose trust cannot be inferred, it holds another bundle than the Linkerd namespace's current one (linkerd.io/trust-root-sha256 differs). Pods relying on a cross-signature are never stale.",
    ['namespace'],
    (emit, v) => {
      for (const p of v.pods) if (p.stale !== undefined) emit({ namespace: p.namespace }, p.stale);
    },
  );
  gauge(
    EXPORTER_METRICS.relyingOnCrossSignature,
    "Meshed pods per namespace whose proxy trusts only an anchor that reaches the identity issuer through a cross-signature (an old anchor that cross-signed the issuer's anchor): they work until the cross-signature's expiry, and the rotation runner restarts them before it. Absent while the rotation state cannot be read.",
    ['namespace'],
    (emit, v) => {
      for (const p of v.pods) if (p.relyingOnCrossSignature !== undefined) emit({ namespace: p.namespace }, p.relyingOnCrossSignature);
    },
  );
  gauge(
    EXPORTER_METRICS.crossSignatureExpiry,
    "notAfter of each cross-signature the identity issuer's chain carries (after a cross-signed promotion: the new anchor's subject and key, signed by the old anchor), Unix seconds, by its short fingerprint, the anchor it stands for (anchor) and the anchor that signed it (signed_by); absent when the chain carries none.",
    ['fingerprint', 'anchor', 'signed_by', 'subject'],
    (emit, v) => {
      for (const x of v.crossSignatures) emit({ fingerprint: x.fingerprint, anchor: x.anchor, signed_by: x.signedBy, subject: x.subject }, x.notAfter);
    },
  );

  gauge(EXPORTER_METRICS.phase, `Rotation phase from the state ConfigMap: 1 for the current phase, 0 for the others (${PHASES.join(', ')}); all 0 when the state is unreadable.`, ['phase'], (emit, v) => {
    for (const phase of PHASES) emit({ phase }, v.rotation.phase === phase ? 1 : 0);
  });
  gauge(EXPORTER_METRICS.stateValid, '1 when the rotation state ConfigMap is absent or holds a valid state v1, 0 when it cannot be read.', [], (emit, v) => {
    emit({}, v.rotation.stateValid ? 1 : 0);
  });
  gauge(EXPORTER_METRICS.phaseStart, 'When the current rotation phase started, Unix seconds; present while a rotation is under way or stopped.', [], (emit, v) => {
    if (v.rotation.phaseStartedAt !== undefined) emit({}, v.rotation.phaseStartedAt);
  });
  gauge(
    EXPORTER_METRICS.waitingUntil,
    "When the long gate the rotation is parked on opens (cross-signed: old-leaves-expired, one leaf lifetime after identity ran the new issuer), Unix seconds, as the run that parked it recorded; the next scheduled run after it resumes. Present from then until a run moves the rotation on (also once the time has passed), absent when the rotation is not parked. A rotation is stuck only once it has been in its phase, counted from the later of this and the phase start, longer than the threshold.",
    [],
    (emit, v) => {
      if (v.rotation.waitingUntil !== undefined) emit({}, v.rotation.waitingUntil);
    },
  );
  gauge(EXPORTER_METRICS.lastSuccess, 'When the last rotation finished, Unix seconds; absent before the first one.', [], (emit, v) => {
    if (v.rotation.lastSuccessAt !== undefined) emit({}, v.rotation.lastSuccessAt);
  });
  gauge(EXPORTER_METRICS.lastFailure, 'When a rotation run last stopped, Unix seconds, by stop reason (the bounded set of libs/rotation STOP_REASONS); from the state while it records the stop, then remembered by this process.', ['reason'], (emit, v) => {
    if (v.rotation.lastFailure) emit({ reason: v.rotation.lastFailure.reason }, v.rotation.lastFailure.at);
  });
  gauge(EXPORTER_METRICS.preparedWaiting, "Seconds since the prepared anchor was issued when its key differs from the active anchor's (a new anchor waiting for promotion), 0 when none waits; absent while either Secret is missing.", [], (emit, v) => {
    if (!v.prepared) return;
    const since = v.prepared.waitingSince;
    emit({}, since === undefined ? 0 : Math.max(0, Math.floor(now().getTime() / 1000) - since));
  });
}
