// The admission decision, pure: an AdmissionRequest plus the cluster's trust snapshot in, a verdict
// out. Routes the trust-roots ConfigMap and the identity issuer Secret to the libs/x509 rules, and
// guards what can delete the ConfigMap without a DELETE of it reaching this webhook: its
// ownerReferences and trust-manager's Bundle that owns it (issue 14 item 2).
import { isDeepStrictEqual } from 'node:util';
import type { CertificateView, TrustSnapshot } from '@linkerd-rotator/kube/caches';
import type { ObjectNames } from '@linkerd-rotator/names';
import {
  checkIssuer,
  checkTrustBundle,
  crossSignatureAmong,
  defaultBundleCache,
  isValidAt,
  type BundleCache,
  type BundleLimits,
  type IssuerSigner,
  type ParsedCertificate,
  type SourcedPem,
  type Verdict,
} from '@linkerd-rotator/x509';
import { z } from 'zod';
import type { AdmissionRequest } from './admission.js';

export type GuardedObject = 'trust-roots' | 'identity-issuer' | 'trust-bundle' | 'target-namespace' | 'other';

export interface Decision {
  allowed: boolean;
  /** Which guarded object the request was about (for logs and metrics). */
  object: GuardedObject;
  /** On denial: the message shown to the user (reasons joined). */
  message?: string;
  /** HTTP-style status code on denial: 403 policy, 400 malformed object, 503 not ready. */
  code?: number;
  reasons: string[];
  warnings: string[];
}

export interface DecideContext {
  names: ObjectNames;
  now: Date;
  limits?: Partial<BundleLimits>;
  /** False until the snapshot has been listed from the cluster; guarded writes are then refused. */
  synced?: boolean;
  cache?: BundleCache;
  /**
   * Users allowed to delete the trust-roots ConfigMap. By default the namespace controller, so that
   * deleting a whole namespace is not blocked half way.
   */
  allowDeleteBy?: readonly string[];
  /**
   * Users allowed to change the trust-roots ConfigMap's ownerReferences. By default trust-manager's
   * ServiceAccount in the trust namespace (`trustManagerUser`), which sets its Bundle as the owner.
   */
  allowOwnerReferencesBy?: readonly string[];
}

export const NAMESPACE_CONTROLLER = 'system:serviceaccount:kube-system:namespace-controller';

/**
 * trust-manager's ServiceAccount as installed by its Helm chart (release `trust-manager`) in its trust
 * namespace, which is also where it reads the anchor Secrets from (`--trust-namespace`).
 */
export const trustManagerUser = (trustNamespace: string): string => `system:serviceaccount:${trustNamespace}:trust-manager`;

/**
 * trust-manager's Bundle (trust.cert-manager.io) and ClusterBundle (trust-manager.io), by resource.
 * Of their spec only the target is guarded (decideBundle): it decides where trust-manager writes. The
 * sources are not: what they publish reaches every trust-roots ConfigMap through trust-manager's own
 * writes, which this webhook checks (decideTrustRoots: the active anchor present, nothing foreign),
 * and the chart's adoption flow and upgrades change them (helm upgrade adding the rotator's Secrets).
 */
const BUNDLE_KINDS: Record<string, string> = {
  'trust.cert-manager.io/bundles': 'Bundle',
  'trust-manager.io/clusterbundles': 'ClusterBundle',
};

const ObjectMeta = z.looseObject({ name: z.string().optional(), namespace: z.string().optional() });
const StringMap = z.record(z.string(), z.string());
const ConfigMapShape = z.looseObject({ metadata: ObjectMeta.optional(), data: StringMap.nullish(), binaryData: StringMap.nullish() });
const OwnerReference = z.looseObject({ kind: z.string().optional(), name: z.string().optional(), uid: z.string().optional() });
const OwnedShape = z.looseObject({ metadata: z.looseObject({ ownerReferences: z.array(OwnerReference).nullish() }).optional() });
const SpecShape = z.looseObject({ spec: z.record(z.string(), z.unknown()).nullish() });
const LabelledShape = z.looseObject({ metadata: z.looseObject({ labels: StringMap.nullish() }).optional() });
const SecretShape = z.looseObject({ metadata: ObjectMeta.optional(), data: StringMap.nullish(), stringData: StringMap.nullish() });

const allow = (object: GuardedObject, warnings: string[] = []): Decision => ({ allowed: true, object, reasons: [], warnings });

function deny(object: GuardedObject, reasons: string[], code = 403, warnings: string[] = []): Decision {
  const message =
    reasons.length === 1 ? (reasons[0] as string) : `${reasons.length} problems: ${reasons.map((r, i) => `(${i + 1}) ${r}`).join('; ')}`;
  return { allowed: false, object, message, code, reasons, warnings };
}

function fromVerdict(object: GuardedObject, verdict: Verdict): Decision {
  return verdict.allowed ? allow(object, verdict.warnings) : deny(object, verdict.reasons, 403, verdict.warnings);
}

/** Which guarded object a request targets, if any. */
export function classify(request: AdmissionRequest, names: ObjectNames): GuardedObject {
  // A collection delete reaches admission once per object with the collection's empty name and the
  // object in oldObject (apiserver rest.AdmissionToValidateObjectDeleteFunc), hence the fallbacks.
  const name = nameOfRequest(request);
  if (request.subResource) return 'other';
  if (bundleKind(request) !== undefined) return name === names.trustRootsConfigMap ? 'trust-bundle' : 'other';
  if (request.resource.group !== '') return 'other';
  // Sent by the chart only when the UPDATE takes the namespace out of the Bundle's target (its matchCondition).
  if (request.resource.resource === 'namespaces') return request.operation === 'UPDATE' ? 'target-namespace' : 'other';
  if (request.resource.resource === 'configmaps' && name === names.trustRootsConfigMap) return 'trust-roots';
  if (request.resource.resource === 'secrets' && name === names.issuerSecret && request.namespace === names.linkerdNamespace) {
    return 'identity-issuer';
  }
  return 'other';
}

function nameOfRequest(request: AdmissionRequest): string {
  return request.name || nameOf(request.object) || nameOf(request.oldObject) || '';
}

function bundleKind(request: AdmissionRequest): string | undefined {
  return BUNDLE_KINDS[`${request.resource.group}/${request.resource.resource}`];
}

const NamedShape = z.looseObject({ metadata: ObjectMeta });

function nameOf(obj: unknown): string | undefined {
  const parsed = NamedShape.safeParse(obj);
  return parsed.success ? parsed.data.metadata.name : undefined;
}

export async function decide(request: AdmissionRequest, snapshot: TrustSnapshot, context: DecideContext): Promise<Decision> {
  const object = classify(request, context.names);
  if (object === 'other') return allow(object);
  if (request.operation === 'CONNECT') return allow(object);
  if (object === 'trust-bundle') return decideBundle(request);
  if (object === 'target-namespace') return decideTargetNamespace(request, context);
  const what = `${object === 'trust-roots' ? 'ConfigMap' : 'Secret'} ${request.namespace ?? ''}/${nameOfRequest(request)}`;
  if (request.operation === 'DELETE') {
    if (object === 'identity-issuer') {
      return allow(object, [`${what} deleted: cert-manager re-issues it; the identity controller keeps its current issuer until then`]);
    }
    const user = request.userInfo?.username ?? '';
    if ((context.allowDeleteBy ?? [NAMESPACE_CONTROLLER]).includes(user)) {
      return allow(object, [`${what} deleted by ${user}`]);
    }
    return deny(object, [
      `deleting ${what} is refused: every proxy and Linkerd's identity controller read their trust anchors from it, so pods started without it cannot join the mesh; to uninstall, delete the linkerd-rotator ValidatingWebhookConfiguration first`,
    ]);
  }
  if (object === 'trust-roots' && request.operation === 'UPDATE') {
    const refused = ownerReferencesRefused(request, context, what);
    if (refused) return refused;
  }
  if (context.synced === false) {
    return deny(
      object,
      [`linkerd-rotator has not finished loading the cluster's trust state yet, so it cannot check this write to ${what}; retry in a few seconds`],
      503,
    );
  }
  if (request.object === undefined || request.object === null) {
    return deny(object, [`the ${request.operation} request for ${what} carries no object; expected the new ${object === 'trust-roots' ? 'ConfigMap' : 'Secret'}`], 400);
  }
  return object === 'trust-roots' ? decideTrustRoots(request, snapshot, context, what) : decideIssuer(request, snapshot, context, what);
}

/**
 * The garbage collector deletes an object whose owners are all gone, and the webhook configuration
 * lets the garbage collector through (it also deletes the ConfigMap with its namespace), so an owner
 * added by hand (one that does not exist, or one about to be deleted) deletes the trust roots
 * unchecked. Only trust-manager, which sets its Bundle as the owner, may add or change one. Removing
 * owners only is allowed: it can keep the ConfigMap from being collected, never make it collected
 * (and `kubectl replace` of a manifest without them does it). Pure on the request.
 */
function ownerReferencesRefused(request: AdmissionRequest, context: DecideContext, what: string): Decision | undefined {
  const refsOf = (obj: unknown) => {
    const parsed = OwnedShape.safeParse(obj);
    return parsed.success ? (parsed.data.metadata?.ownerReferences ?? []) : [];
  };
  const before = refsOf(request.oldObject);
  const after = refsOf(request.object);
  const without = (refs: typeof before, others: typeof before) => refs.filter((r) => !others.some((o) => isDeepStrictEqual(r, o)));
  const added = without(after, before);
  const removed = without(before, after);
  if (added.length === 0) return undefined;
  const allowed = context.allowOwnerReferencesBy ?? [trustManagerUser(context.names.trustNamespace)];
  const user = request.userInfo?.username ?? '';
  if (allowed.includes(user)) return undefined;
  const describe = (r: (typeof before)[number]) => `${r.kind ?? '?'} ${r.name ?? '?'}, uid ${r.uid ?? '?'}`;
  const changes = [...added.map((r) => `${describe(r)} added`), ...removed.map((r) => `${describe(r)} removed`)].join('; ');
  return deny('trust-roots', [
    `changing the ownerReferences of ${what} is refused (${changes}): the garbage collector deletes an object once its owners are gone, without this webhook being asked, so an added owner that does not exist or is deleted later removes the trust anchors every proxy and Linkerd's identity controller read; only ${allowed.join(', ')} (trust-manager) may change them${user ? `, not ${user}` : ''}`,
  ]);
}

/**
 * trust-manager's Bundle owns every trust-roots ConfigMap (ownerReferences), so deleting it makes the
 * garbage collector delete them all, and its target decides where they are written (a target that
 * selects fewer namespaces or another key makes trust-manager remove the ConfigMap or the key).
 * Other updates (sources, labels, annotations, status) are allowed. Pure on the request.
 */
function decideBundle(request: AdmissionRequest): Decision {
  const kind = bundleKind(request) as string;
  const name = nameOfRequest(request);
  const what = `${kind} ${name}`;
  const uninstall = `to uninstall, delete the linkerd-rotator ValidatingWebhookConfiguration first, and keep the ${kind} (the chart keeps it: pki.bundle.keepOnUninstall)`;
  if (request.operation === 'DELETE') {
    return deny('trust-bundle', [
      `deleting ${what} is refused: trust-manager owns every trust-roots ConfigMap ${name} through ownerReferences, so the garbage collector would delete them all and pods started afterwards could not join the mesh; ${uninstall}`,
    ]);
  }
  if (request.operation !== 'UPDATE') return allow('trust-bundle');
  const specOf = (obj: unknown) => {
    const parsed = SpecShape.safeParse(obj);
    return parsed.success ? (parsed.data.spec ?? {}) : {};
  };
  if (isDeepStrictEqual(specOf(request.oldObject)['target'], specOf(request.object)['target'])) return allow('trust-bundle');
  const why = 'trust-manager deletes the trust-roots ConfigMap from every namespace the new target no longer selects (or drops the key Linkerd reads), without this webhook being asked';
  return deny('trust-bundle', [
    `changing spec.target of ${what} is refused: ${why}; to change it on purpose (helm upgrade with new pki.bundle values), delete the linkerd-rotator ValidatingWebhookConfiguration first (helm upgrade creates it again); ${uninstall}`,
  ]);
}

/**
 * A namespace that stops matching the Bundle's namespaceSelector loses its trust-roots ConfigMap:
 * trust-manager deletes it, and no request for the ConfigMap reaches this webhook. The selector is
 * applied by the webhook configuration's matchCondition (old labels selected, new ones not), so this
 * only checks that a label actually went (an UPDATE sent without a label change is allowed). Pure.
 */
function decideTargetNamespace(request: AdmissionRequest, context: DecideContext): Decision {
  const labelsOf = (obj: unknown): Record<string, string> => {
    const parsed = LabelledShape.safeParse(obj);
    return parsed.success ? (parsed.data.metadata?.labels ?? {}) : {};
  };
  const before = labelsOf(request.oldObject);
  const after = labelsOf(request.object);
  const changes = Object.entries(before)
    .filter(([key, value]) => after[key] !== value)
    .map(([key, value]) => (key in after ? `label ${key}=${value} changed to ${JSON.stringify(after[key])}` : `label ${key}=${value} removed`));
  if (changes.length === 0) return allow('target-namespace');
  const { trustRootsConfigMap } = context.names;
  return deny('target-namespace', [
    `taking Namespace ${nameOfRequest(request)} out of the target of the trust-roots Bundle ${trustRootsConfigMap} is refused (${changes.join('; ')}): trust-manager then deletes the trust-roots ConfigMap ${trustRootsConfigMap} in it, without this webhook being asked, and pods started there afterwards (Linkerd's control plane, meshed pods) cannot get their trust anchors; to take the namespace out on purpose, delete the linkerd-rotator ValidatingWebhookConfiguration first (helm upgrade creates it again)`,
  ]);
}

async function decideTrustRoots(request: AdmissionRequest, snapshot: TrustSnapshot, context: DecideContext, what: string): Promise<Decision> {
  const key = context.names.trustRootsKey;
  const parsed = ConfigMapShape.safeParse(request.object);
  if (!parsed.success) return deny('trust-roots', [`${what} is not a well-formed ConfigMap (data must map strings to strings)`], 400);
  const bundle = bundleText(parsed.data, key);
  if (bundle === undefined) {
    return deny('trust-roots', [`${what} has no data key "${key}"; it must hold the PEM trust bundle under that key`], 400);
  }

  const rotation = snapshot.rotation;
  if (rotation?.problem) {
    return deny('trust-roots', [
      `the rotation state cannot be read (${rotation.problem}), so linkerd-rotator cannot tell which anchors must stay in ${what}; fix or re-run the rotation, which rewrites its state`,
    ]);
  }
  const verdict = snapshot.pkiUnknown !== undefined ? pkiUnknownVerdict(snapshot.pkiUnknown, what) : await checkTrustBundle(
    {
      bundle,
      bundleName: `${what} (${key})`,
      activeAnchor: snapshot.activeAnchor && { pem: snapshot.activeAnchor.certPem, source: snapshot.activeAnchor.source },
      issuer: snapshot.issuer && { pem: snapshot.issuer.certPem, source: snapshot.issuer.source },
      required: (rotation?.requiredAnchorFingerprints ?? []).map((fingerprint) => ({
        fingerprint,
        source: `the rotation in phase "${rotation?.phase}" (${rotation?.source})`,
      })),
      preparedAnchor: sourced(snapshot.preparedAnchor),
      previousAnchor: sourced(snapshot.previousAnchor),
      ...(rotation?.recovering ? { issuerReplacedBy: `the rotation in phase "${rotation.phase}", ${rotation.source}` } : {}),
      crossSigners: snapshot.activeAnchor?.crossSignerPem ? [{ pem: snapshot.activeAnchor.crossSignerPem, source: `cross-signer.crt of ${snapshot.activeAnchor.source}` }] : [],
      now: context.now,
      limits: context.limits,
    },
    context.cache ?? defaultBundleCache,
  );

  // An update that leaves the bundle as it is (labels, annotations) must not be blocked by a
  // problem it did not create; the problem is still reported.
  if (!verdict.allowed && request.operation === 'UPDATE') {
    const old = ConfigMapShape.safeParse(request.oldObject);
    if (old.success && bundleText(old.data, key) === bundle) {
      return allow('trust-roots', [
        `${key} is unchanged by this update, but would be refused if written now: ${verdict.reasons[0]}`,
        ...verdict.warnings,
      ]);
    }
  }
  return fromVerdict('trust-roots', verdict);
}

/**
 * The verdict while the anchors and the issuer are not known (the public PKI view is missing): every
 * write they would judge is refused, where absent Secrets (before bootstrap) would let it through.
 */
function pkiUnknownVerdict(problem: string, what: string): Verdict {
  return { allowed: false, reasons: [`${what} cannot be checked against the trust anchors and the identity issuer: ${problem}`], warnings: [] };
}

function sourced(view: CertificateView | undefined): SourcedPem | undefined {
  return view && { pem: view.certPem, source: view.source };
}

function bundleText(configMap: z.infer<typeof ConfigMapShape>, key: string): string | undefined {
  const text = configMap.data?.[key];
  if (text !== undefined) return text;
  const binary = configMap.binaryData?.[key];
  return binary === undefined ? undefined : Buffer.from(binary, 'base64').toString('utf8');
}

async function decideIssuer(request: AdmissionRequest, snapshot: TrustSnapshot, context: DecideContext, what: string): Promise<Decision> {
  const parsed = SecretShape.safeParse(request.object);
  if (!parsed.success) return deny('identity-issuer', [`${what} is not a well-formed Secret (data must map strings to base64 strings)`], 400);
  const field = (key: string): string | undefined => {
    const plain = parsed.data.stringData?.[key];
    if (plain !== undefined) return plain;
    const encoded = parsed.data.data?.[key];
    return encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8');
  };
  const certPem = field('tls.crt');
  if (certPem === undefined) {
    return deny('identity-issuer', [`${what} has no tls.crt; Linkerd reads the issuer certificate from it (scheme kubernetes.io/tls)`], 400);
  }
  const caPem = field('ca.crt');
  const bundle = snapshot.trustRoots && (context.cache ?? defaultBundleCache).parse(snapshot.trustRoots.pem).certificates;
  // cert-manager writes ca.crt = X when its CA Secret holds the cross-signature X (docs/cross-signing.md):
  // not an anchor, and expected, so it is no reason to warn.
  const expectedCa = caPem !== undefined && bundle !== undefined && (await validCrossSignatureAmong({ pem: caPem, anchors: bundle, now: context.now, cache: context.cache ?? defaultBundleCache }));
  const verdict = snapshot.pkiUnknown !== undefined ? pkiUnknownVerdict(snapshot.pkiUnknown, what) : await checkIssuer(
    {
      certPem,
      keyPem: field('tls.key'),
      ...(expectedCa ? {} : { caPem }),
      source: what,
      bundle: snapshot.trustRoots && { pem: snapshot.trustRoots.pem, source: snapshot.trustRoots.source },
      signers: issuerSigners(snapshot, context.cache ?? defaultBundleCache),
      now: context.now,
    },
    context.cache ?? defaultBundleCache,
  );
  // Like the bundle: an update that leaves the credentials as they are (labels, annotations) is not
  // blocked by a problem it did not create; the problem is still reported.
  if (!verdict.allowed && request.operation === 'UPDATE') {
    const old = SecretShape.safeParse(request.oldObject);
    const before = (key: string) => (old.success ? (old.data.stringData?.[key] ?? decoded(old.data.data?.[key])) : undefined);
    if (old.success && before('tls.crt') === certPem && before('tls.key') === field('tls.key')) {
      return allow('identity-issuer', [`tls.crt and tls.key are unchanged by this update, but would be refused if written now: ${verdict.reasons[0]}`, ...verdict.warnings]);
    }
  }
  return fromVerdict('identity-issuer', verdict);
}

function decoded(encoded: string | undefined): string | undefined {
  return encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8');
}

/**
 * The anchors the identity issuer may chain to: the active anchor, and the rotation's target once
 * the rotation state pins it. The state pins the new anchor only after promotion (libs/rotation
 * `requiredAnchors`; before it, only the old anchor `from`, which is the active one), and the
 * target is the prepared anchor, so a prepared anchor other than the active one counts exactly when
 * its fingerprint is among the state's required anchors; before promotion an issuer signed by the
 * prepared anchor is refused. Undefined when the active anchor is not known (before bootstrap).
 */
function issuerSigners(snapshot: TrustSnapshot, cache: BundleCache): IssuerSigner[] | undefined {
  const active = snapshot.activeAnchor;
  if (active === undefined) return undefined;
  const signers: IssuerSigner[] = [{ role: 'the active anchor', pem: active.certPem, source: active.source }];
  const prepared = snapshot.preparedAnchor && cache.parse(snapshot.preparedAnchor.certPem).certificates[0];
  const activeFingerprint = cache.parse(active.certPem).certificates[0]?.fingerprint;
  const pinned = new Set(snapshot.rotation?.requiredAnchorFingerprints ?? []);
  if (snapshot.preparedAnchor && prepared && prepared.fingerprint !== activeFingerprint && pinned.has(prepared.fingerprint)) {
    signers.push({ role: `the rotation's promoted anchor (phase "${snapshot.rotation?.phase}")`, pem: snapshot.preparedAnchor.certPem, source: snapshot.preparedAnchor.source });
  }
  return signers;
}

/** True when `pem` is one certificate, a cross-signature of one of `anchors` by another of them, valid at `now`. */
async function validCrossSignatureAmong(input: { pem: string; anchors: readonly ParsedCertificate[]; now: Date; cache: BundleCache }): Promise<boolean> {
  const [candidate, ...rest] = input.cache.parse(input.pem).certificates;
  if (candidate === undefined || rest.length > 0 || !isValidAt(candidate, input.now)) return false;
  return (await crossSignatureAmong(candidate, input.anchors)) !== undefined;
}
