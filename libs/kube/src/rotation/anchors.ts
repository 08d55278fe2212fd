// AnchorSecrets: the only code that copies anchor material. Each copy is guarded: one read of the
// source, written only if its certificate is the expected one; the key goes only to the active
// Secret, the previous Secret gets the certificate alone (I5). Nothing read here is ever logged.
import type { V1Secret } from '@kubernetes/client-node';
import type { AnchorFacts, AnchorSecrets, Fingerprint, WriteOutcome } from '@linkerd-rotator/rotation';
import { checkKeyMatchesCertificate, toPem } from '@linkerd-rotator/x509';
import type { Collection } from '../collection.js';
import { FIELD_MANAGER, type AdapterContext } from './context.js';
import { KubeApiError } from '../errors.js';
import { anchorFactsOf, certificatesOf, decodeSecretKey } from './pki-facts.js';

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const MANAGED_LABELS = { 'app.kubernetes.io/managed-by': 'linkerd-rotator', 'app.kubernetes.io/component': 'trust-anchor' };

/** A Secret of the trust namespace, read with a GET (never from a cache); undefined when it does not exist. */
async function readTrustSecret(ctx: AdapterContext, name: string): Promise<V1Secret | undefined> {
  const namespace = ctx.names.trustNamespace;
  try {
    return await ctx.call({ verb: 'get', resource: 'secrets', namespace, name }, () => ctx.core.readNamespacedSecret({ namespace, name }));
  } catch (err) {
    if (err instanceof KubeApiError && err.kind === 'not-found') return undefined;
    throw err;
  }
}

export interface AnchorSecretFacts {
  readonly prepared?: AnchorFacts;
  readonly active?: AnchorFacts;
  readonly previous?: AnchorFacts;
}

/** The three anchor Secrets as facts, each read with a GET; a missing Secret (or certificate) is undefined. */
export async function readAnchorSecrets(ctx: AdapterContext): Promise<AnchorSecretFacts> {
  const n = ctx.names;
  const secrets = await Promise.all([n.preparedAnchorSecret, n.activeAnchorSecret, n.previousAnchorSecret].map((name) => readTrustSecret(ctx, name)));
  const [prepared, active, previous] = secrets.map(anchorFactsOf);
  return { ...(prepared ? { prepared } : {}), ...(active ? { active } : {}), ...(previous ? { previous } : {}) };
}

export class KubeAnchorSecrets implements AnchorSecrets {
  constructor(
    private readonly ctx: AdapterContext,
    private readonly caches: { active: Collection<V1Secret>; previous: Collection<V1Secret> },
  ) {}

  async writeActiveFromPrepared(expected: Fingerprint): Promise<WriteOutcome> {
    const n = this.ctx.names;
    const source = await this.read(n.preparedAnchorSecret);
    const pem = decodeSecretKey(source, 'tls.crt');
    const keyPem = decodeSecretKey(source, 'tls.key');
    const cert = pem === undefined ? undefined : certificatesOf(pem)[0];
    if (!cert || cert.fingerprint !== expected) return cert ? { written: false, found: cert.fingerprint } : { written: false };
    if (keyPem === undefined || !checkKeyMatchesCertificate(keyPem, cert).ok) {
      throw new KubeApiError(
        'invalid',
        undefined,
        { verb: 'get', resource: 'secrets', namespace: n.trustNamespace, name: n.preparedAnchorSecret },
        `expected Secret ${n.trustNamespace}/${n.preparedAnchorSecret} to hold the private key of its certificate, found ${keyPem === undefined ? 'no tls.key' : 'a key that does not match'}; check Certificate ${n.preparedAnchorCertificate}`,
      );
    }
    const data: Record<string, string> = { 'tls.crt': b64(toPem(cert)), 'tls.key': b64(keyPem) };
    await this.write(n.activeAnchorSecret, 'kubernetes.io/tls', data, this.caches.active, expected);
    return { written: true };
  }

  async writePrevious(sourceRole: 'prepared' | 'active', expected: Fingerprint): Promise<WriteOutcome> {
    const n = this.ctx.names;
    const source = await this.read(sourceRole === 'prepared' ? n.preparedAnchorSecret : n.activeAnchorSecret);
    const pem = decodeSecretKey(source, 'tls.crt');
    const cert = pem === undefined ? undefined : certificatesOf(pem)[0];
    if (!cert || cert.fingerprint !== expected) return cert ? { written: false, found: cert.fingerprint } : { written: false };
    await this.write(n.previousAnchorSecret, 'Opaque', { 'tls.crt': b64(toPem(cert)) }, this.caches.previous, expected);
    return { written: true };
  }

  private read(name: string): Promise<V1Secret | undefined> {
    return readTrustSecret(this.ctx, name);
  }

  /**
   * Creates or replaces `name` with `data` (optimistic concurrency on resourceVersion; a conflict is
   * re-read and retried). Already holding `fingerprint` is success without a write.
   */
  private async write(name: string, type: string, data: Record<string, string>, cache: Collection<V1Secret>, fingerprint: Fingerprint): Promise<void> {
    const { ctx } = this;
    const namespace = ctx.names.trustNamespace;
    for (let attempt = 0; attempt < 4; attempt++) {
      const current = await this.read(name);
      const held = decodeSecretKey(current, 'tls.crt');
      if (held !== undefined && certificatesOf(held)[0]?.fingerprint === fingerprint && (data['tls.key'] === undefined || current?.data?.['tls.key'] === data['tls.key'])) {
        cache.remember(current as V1Secret);
        return;
      }
      try {
        let written: V1Secret;
        if (!current) {
          const body: V1Secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace, labels: MANAGED_LABELS }, type, data };
          written = await ctx.call({ verb: 'create', resource: 'secrets', namespace, name }, () => ctx.core.createNamespacedSecret({ namespace, body, fieldManager: FIELD_MANAGER }));
        } else {
          // The type of a Secret cannot change; a kubernetes.io/tls previous-anchor Secret needs a tls.key
          // entry, so it gets an empty one (never a key).
          const currentType = current.type ?? 'Opaque';
          const payload = currentType === 'kubernetes.io/tls' && data['tls.key'] === undefined ? { ...data, 'tls.key': '' } : data;
          const body: V1Secret = {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { ...current.metadata, managedFields: undefined, labels: { ...(current.metadata?.labels ?? {}), ...MANAGED_LABELS } } as V1Secret['metadata'],
            type: currentType,
            data: payload,
          };
          delete (body.metadata?.annotations ?? {})['kubectl.kubernetes.io/last-applied-configuration'];
          written = await ctx.call({ verb: 'update', resource: 'secrets', namespace, name }, () => ctx.core.replaceNamespacedSecret({ namespace, name, body, fieldManager: FIELD_MANAGER }));
        }
        cache.remember(written);
        ctx.logger.info({ secret: `${namespace}/${name}`, fingerprint: fingerprint.slice(0, 16) }, 'anchor Secret written');
        return;
      } catch (err) {
        if (err instanceof KubeApiError && (err.kind === 'conflict' || (err.kind === 'not-found' && current))) continue;
        throw err;
      }
    }
    throw new KubeApiError('conflict', 409, { verb: 'update', resource: 'secrets', namespace, name }, `expected to write Secret ${namespace}/${name}, found it changed by someone else on every attempt; check what else writes it and run again`);
  }
}
