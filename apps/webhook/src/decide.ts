// The admission decision, pure: an AdmissionRequest plus the cluster's trust snapshot in, a verdict
// out. Routes the trust-roots ConfigMap and the identity issuer Secret to the libs/x509 rules.
import type { TrustSnapshot } from '@linkerd-rotator/kube/caches';
import type { ObjectNames } from '@linkerd-rotator/names';
import {
  checkIssuer,
  checkTrustBundle,
  defaultBundleCache,
  type BundleCache,
  type BundleLimits,
  type Verdict,
} from '@linkerd-rotator/x509';
import { z } from 'zod';
import type { AdmissionRequest } from './admission.js';

export type GuardedObject = 'trust-roots' | 'identity-issuer' | 'other';

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
}

export const NAMESPACE_CONTROLLER = 'system:serviceaccount:kube-system:namespace-controller';

const ObjectMeta = z.looseObject({ name: z.string().optional(), namespace: z.string().optional() });
const StringMap = z.record(z.string(), z.string());
const ConfigMapShape = z.looseObject({ metadata: ObjectMeta.optional(), data: StringMap.nullish(), binaryData: StringMap.nullish() });
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
  const name = request.name || nameOf(request.object) || nameOf(request.oldObject);
  if (request.resource.group !== '' || request.subResource) return 'other';
  if (request.resource.resource === 'configmaps' && name === names.trustRootsConfigMap) return 'trust-roots';
  if (request.resource.resource === 'secrets' && name === names.issuerSecret && request.namespace === names.linkerdNamespace) {
    return 'identity-issuer';
  }
  return 'other';
}

function nameOf(obj: unknown): string | undefined {
  const parsed = z.looseObject({ metadata: ObjectMeta }).safeParse(obj);
  return parsed.success ? parsed.data.metadata.name : undefined;
}

export async function decide(request: AdmissionRequest, snapshot: TrustSnapshot, context: DecideContext): Promise<Decision> {
  const object = classify(request, context.names);
  if (object === 'other') return allow(object);
  const what = `${object === 'trust-roots' ? 'ConfigMap' : 'Secret'} ${request.namespace ?? ''}/${request.name || nameOf(request.object) || ''}`;
  if (request.operation === 'CONNECT') return allow(object);
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
  const verdict = await checkTrustBundle(
    {
      bundle,
      bundleName: `${what} (${key})`,
      activeAnchor: snapshot.activeAnchor && { pem: snapshot.activeAnchor.certPem, source: snapshot.activeAnchor.source },
      issuer: snapshot.issuer && { pem: snapshot.issuer.certPem, source: snapshot.issuer.source },
      required: (rotation?.requiredAnchorFingerprints ?? []).map((fingerprint) => ({
        fingerprint,
        source: `the rotation in phase "${rotation?.phase}" (${rotation?.source})`,
      })),
      expected: [snapshot.preparedAnchor, snapshot.previousAnchor]
        .filter((v) => v !== undefined)
        .map((v) => ({ pem: v.certPem, source: v.source })),
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
  const verdict = await checkIssuer(
    {
      certPem,
      keyPem: field('tls.key'),
      caPem: field('ca.crt'),
      source: what,
      bundle: snapshot.trustRoots && { pem: snapshot.trustRoots.pem, source: snapshot.trustRoots.source },
      now: context.now,
    },
    context.cache ?? defaultBundleCache,
  );
  return fromVerdict('identity-issuer', verdict);
}
