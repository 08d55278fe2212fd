// Pure projections from Kubernetes objects to snapshot views: decode the certificate fields and
// drop everything else, so private keys never reach the snapshot.
import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import { z } from 'zod';
import type { BundleView, CertificateView, IssuerView, RotationStateView } from './snapshot.js';

export function describeObject(kind: string, namespace: string | undefined, name: string | undefined): string {
  return `${kind} ${namespace ?? ''}/${name ?? ''}`;
}

function decode(value: string | undefined): string | undefined {
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}

/** tls.crt of an anchor Secret; undefined when the Secret has none. */
export function certificateViewOf(secret: V1Secret): CertificateView | undefined {
  const certPem = decode(secret.data?.['tls.crt']);
  if (certPem === undefined) return undefined;
  return { source: describeObject('Secret', secret.metadata?.namespace, secret.metadata?.name), certPem };
}

export function issuerViewOf(secret: V1Secret): IssuerView | undefined {
  const view = certificateViewOf(secret);
  if (view === undefined) return undefined;
  const caPem = decode(secret.data?.['ca.crt']);
  return caPem === undefined ? view : { ...view, caPem };
}

export function bundleViewOf(configMap: V1ConfigMap, key: string): BundleView | undefined {
  const pem = configMap.data?.[key] ?? decode(configMap.binaryData?.[key]);
  if (pem === undefined) return undefined;
  return { source: describeObject('ConfigMap', configMap.metadata?.namespace, configMap.metadata?.name), pem };
}

const Fingerprint = z.string().regex(/^[0-9a-f]{64}$/);
const AnchorRef = z.looseObject({ fingerprint: Fingerprint });
/** The fields of the rotation engine's state (libs/rotation, `state.json` v1) that the webhook needs. */
const StateForAdmission = z.looseObject({
  version: z.literal(1),
  phase: z.string(),
  rotation: z.looseObject({ from: AnchorRef, to: AnchorRef.optional(), promotedAt: z.string().optional() }).optional(),
  stopped: z.looseObject({ phase: z.string() }).optional(),
});

/** Phases before retirement: proxies started before the rotation trust only the old anchor. */
const KEEP_FROM = new Set(['Prepare', 'TrustBoth', 'Promote']);
/** Phases after promotion: the new anchor signs the issuer. */
const KEEP_TO = new Set(['Promote', 'Retire']);

/**
 * What the rotation state requires of every bundle: the old anchor until the Retire phase, and the
 * new one once promoted. Read from `data["state.json"]` as the rotation engine writes it; a missing
 * key is an idle state, and anything unreadable becomes `problem` (the webhook then fails closed).
 */
export function rotationStateViewOf(configMap: V1ConfigMap): RotationStateView {
  const source = describeObject('ConfigMap', configMap.metadata?.namespace, configMap.metadata?.name);
  const text = configMap.data?.['state.json'];
  if (text === undefined) return { source, phase: configMap.data?.['phase']?.trim() || 'Idle', requiredAnchorFingerprints: [] };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { source, phase: 'unknown', requiredAnchorFingerprints: [], problem: `data["state.json"] of ${source} is not JSON` };
  }
  const parsed = StateForAdmission.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      source,
      phase: 'unknown',
      requiredAnchorFingerprints: [],
      problem: `data["state.json"] of ${source} is not a rotation state v1 (${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'})`,
    };
  }
  const state = parsed.data;
  // A stopped run keeps the guarantees of the phase it stopped in.
  const phase = state.phase === 'Stopped' ? (state.stopped?.phase ?? 'Stopped') : state.phase;
  const required: string[] = [];
  if (state.rotation && KEEP_FROM.has(phase)) required.push(state.rotation.from.fingerprint);
  if (state.rotation?.to && state.rotation.promotedAt && KEEP_TO.has(phase)) required.push(state.rotation.to.fingerprint);
  return { source, phase: state.phase === 'Stopped' ? `Stopped in ${phase}` : phase, requiredAnchorFingerprints: required };
}

const KEPT_SECRET_KEYS = new Set(['tls.crt', 'ca.crt']);
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Removes private material from a Secret in place: every data key but tls.crt and ca.crt, and the
 * `kubectl apply` annotation, which holds a full copy of the Secret's data. Done in place because
 * the informer's own cache holds this very object.
 */
export function stripSecret(secret: V1Secret): V1Secret {
  if (secret.data) {
    for (const key of Object.keys(secret.data)) {
      if (!KEPT_SECRET_KEYS.has(key)) delete secret.data[key];
    }
  }
  delete (secret as { stringData?: unknown }).stringData;
  if (secret.metadata) {
    delete secret.metadata.managedFields;
    if (secret.metadata.annotations) delete secret.metadata.annotations[LAST_APPLIED];
  }
  return secret;
}
