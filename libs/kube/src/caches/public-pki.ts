// The public PKI view: one ConfigMap holding only the certificates of the anchor and issuer Secrets
// (never a key), written by the exporter and read by the webhook and the runner. One codec for all.
import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import type { ObjectNames } from '@linkerd-rotator/names';
import { encodePem, parsePem } from '@linkerd-rotator/x509';
import { describeObject } from './projections.js';
import type { CertificateView, IssuerView } from './snapshot.js';

/** The Secrets the view reflects, in the order of its keys. */
export const PUBLIC_PKI_SOURCES = ['preparedAnchor', 'activeAnchor', 'previousAnchor', 'issuer'] as const;
export type PublicPkiSource = (typeof PUBLIC_PKI_SOURCES)[number];

/** Which version of a Secret the view was written from. */
export interface SecretVersion {
  readonly uid: string;
  readonly resourceVersion: string;
}

/** A source Secret; `version` is undefined when the Secret did not exist when the view was written. */
export interface PublishedSecret {
  readonly namespace: string;
  readonly name: string;
  readonly version?: SecretVersion;
}

/** What the exporter holds of one source Secret: its name, version when it exists, and its certificates. */
export interface PublicPkiInputEntry {
  readonly secret: PublishedSecret;
  readonly view?: CertificateView | IssuerView;
}
export type PublicPkiInput = Readonly<Record<PublicPkiSource, PublicPkiInputEntry>>;

/** The decoded view: the same views the Secrets projected to (libs/kube projections), and each source's version. */
export interface PublicPki {
  readonly preparedAnchor?: CertificateView;
  readonly activeAnchor?: CertificateView;
  readonly previousAnchor?: CertificateView;
  readonly issuer?: IssuerView;
  readonly secrets: Readonly<Record<PublicPkiSource, PublishedSecret>>;
}

export type DecodedPublicPki = { readonly ok: true; readonly pki: PublicPki } | { readonly ok: false; readonly problem: string };

/** The data key recording the source Secrets and their versions (JSON). */
export const PUBLIC_PKI_SOURCES_KEY = 'sources.json';

/** Data key of each certificate field: `<source>.<field>`, e.g. `activeAnchor.crossSigner.crt`. */
const FIELDS = { certPem: 'crt', crossSignerPem: 'crossSigner.crt', caPem: 'ca.crt' } as const;
type Field = keyof typeof FIELDS;
const keyOf = (source: PublicPkiSource, field: Field) => `${source}.${FIELDS[field]}`;

/** Every CERTIFICATE block of `pem`, re-encoded; anything else (a key, text, a broken block) is dropped. */
export function certificatesOnly(pem: string): string {
  return parsePem(pem)
    .blocks.filter((block) => block.label === 'CERTIFICATE')
    .map((block) => encodePem(block.label, block.der))
    .join('');
}

/**
 * The input for `encodePublicPki` from the four Secrets by their configured names: `get` returns what
 * is held of a Secret (its metadata must keep uid and resourceVersion), `view` projects it.
 */
export function publicPkiInputOf(
  names: ObjectNames,
  held: { get(source: PublicPkiSource): V1Secret | undefined; view(source: PublicPkiSource, secret: V1Secret): CertificateView | IssuerView | undefined },
): PublicPkiInput {
  const entry = (source: PublicPkiSource): PublicPkiInputEntry => {
    const { namespace, name } = publicPkiSecretName(names, source);
    const secret = held.get(source);
    if (secret === undefined) return { secret: { namespace, name } };
    const uid = secret.metadata?.uid ?? '';
    const resourceVersion = secret.metadata?.resourceVersion ?? '';
    const view = held.view(source, secret);
    return { secret: { namespace, name, version: { uid, resourceVersion } }, ...(view ? { view } : {}) };
  };
  return Object.fromEntries(PUBLIC_PKI_SOURCES.map((source) => [source, entry(source)])) as unknown as PublicPkiInput;
}

/** The namespace and name of a source Secret. */
export function publicPkiSecretName(names: ObjectNames, source: PublicPkiSource): { namespace: string; name: string } {
  switch (source) {
    case 'preparedAnchor':
      return { namespace: names.trustNamespace, name: names.preparedAnchorSecret };
    case 'activeAnchor':
      return { namespace: names.trustNamespace, name: names.activeAnchorSecret };
    case 'previousAnchor':
      return { namespace: names.trustNamespace, name: names.previousAnchorSecret };
    case 'issuer':
      return { namespace: names.linkerdNamespace, name: names.issuerSecret };
  }
}

/**
 * The ConfigMap data of the view: `<source>.crt` (and `.crossSigner.crt`, `.ca.crt`) holding
 * certificates only, and `sources.json` naming each Secret with its uid and resourceVersion, or
 * without a version when the Secret is absent. A key is present exactly when the Secret's field is.
 */
export function encodePublicPki(input: PublicPkiInput): Record<string, string> {
  const data: Record<string, string> = {};
  const sources: Record<string, PublishedSecret> = {};
  for (const source of PUBLIC_PKI_SOURCES) {
    const { secret, view } = input[source];
    sources[source] = secret.version ? { namespace: secret.namespace, name: secret.name, version: { uid: secret.version.uid, resourceVersion: secret.version.resourceVersion } } : { namespace: secret.namespace, name: secret.name };
    if (view === undefined) continue;
    for (const field of Object.keys(FIELDS) as Field[]) {
      const pem = (view as Partial<Record<Field, string>>)[field];
      if (pem !== undefined) data[keyOf(source, field)] = certificatesOnly(pem);
    }
  }
  data[PUBLIC_PKI_SOURCES_KEY] = JSON.stringify(sources);
  return data;
}

function isPublishedSecret(value: unknown): value is PublishedSecret {
  if (typeof value !== 'object' || value === null) return false;
  const { namespace, name, version } = value as Record<string, unknown>;
  if (typeof namespace !== 'string' || typeof name !== 'string') return false;
  if (version === undefined) return true;
  const v = version as Record<string, unknown> | null;
  return typeof v === 'object' && v !== null && typeof v['uid'] === 'string' && typeof v['resourceVersion'] === 'string';
}

/** Reads the view back into the views the webhook's snapshot holds; a ConfigMap that is not a view is a problem. */
export function decodePublicPki(configMap: V1ConfigMap): DecodedPublicPki {
  const what = describeObject('ConfigMap', configMap.metadata?.namespace, configMap.metadata?.name);
  const data = configMap.data ?? {};
  const raw = data[PUBLIC_PKI_SOURCES_KEY];
  let sources: unknown;
  try {
    sources = raw === undefined ? undefined : JSON.parse(raw);
  } catch {
    sources = undefined;
  }
  const valid = typeof sources === 'object' && sources !== null && PUBLIC_PKI_SOURCES.every((source) => isPublishedSecret((sources as Record<string, unknown>)[source]));
  if (!valid) {
    const found = raw === undefined ? `no ${PUBLIC_PKI_SOURCES_KEY}` : `${PUBLIC_PKI_SOURCES_KEY} of ${raw.length} characters that does not name them`;
    return {
      ok: false,
      problem: `${what}: expected ${PUBLIC_PKI_SOURCES_KEY} naming the Secrets ${PUBLIC_PKI_SOURCES.join(', ')}, found ${found}; the exporter rewrites it, so check that the exporter runs and may write this ConfigMap`,
    };
  }
  const secrets = sources as Record<PublicPkiSource, PublishedSecret>;
  const pki: Record<string, unknown> = { secrets };
  for (const source of PUBLIC_PKI_SOURCES) {
    const certPem = data[keyOf(source, 'certPem')];
    if (certPem === undefined || secrets[source].version === undefined) continue;
    const view: Record<string, string> = { source: describeObject('Secret', secrets[source].namespace, secrets[source].name), certPem };
    for (const field of ['crossSignerPem', 'caPem'] as const) {
      const pem = data[keyOf(source, field)];
      if (pem !== undefined) view[field] = pem;
    }
    pki[source] = view;
  }
  return { ok: true, pki: pki as unknown as PublicPki };
}
