// AnchorSecrets: the only code that copies anchor material. Each copy is guarded: one read of the
// source, written only if its certificate is the expected one; the key goes only to the active
// Secret, the previous Secret gets the certificate alone (I5). Nothing read here is ever logged.
import type { V1Secret } from '@kubernetes/client-node';
import type { AnchorCopy, AnchorFacts, AnchorSecrets, FleetAnchors, Fingerprint, WriteOutcome } from '@linkerd-rotator/rotation';
import { ANCHOR_CERT_KEY, CROSS_SIGNER_CERT_KEY } from '@linkerd-rotator/names';
import { CrossSignRefusedError, checkKeyMatchesCertificate, crossSign, toPem, type ParsedCertificate } from '@linkerd-rotator/x509';
import { anchorPemOf } from '../slim.js';
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

/** A "expected Secret ... <what>" error about a Secret of the trust namespace. */
function invalidSecret(ctx: AdapterContext, name: string, what: string): KubeApiError {
  const namespace = ctx.names.trustNamespace;
  return new KubeApiError('invalid', undefined, { verb: 'get', resource: 'secrets', namespace, name }, `expected Secret ${namespace}/${name} ${what}`);
}

/**
 * What an active-anchor Secret holds: its anchor (anchorPemOf), and whether tls.crt is a
 * cross-signature of it (another certificate with the anchor's key) rather than the anchor itself.
 */
function heldLayout(secret: V1Secret | undefined): { anchor: Fingerprint; crossSigned: boolean; head: ParsedCertificate } | undefined {
  const anchorPem = anchorPemOf(secret);
  const anchor = anchorPem === undefined ? undefined : certificatesOf(anchorPem)[0];
  const headPem = decodeSecretKey(secret, 'tls.crt');
  const head = headPem === undefined ? undefined : certificatesOf(headPem)[0];
  if (!anchor || !head) return undefined;
  return { anchor: anchor.fingerprint, crossSigned: head.fingerprint !== anchor.fingerprint && head.spkiFingerprint === anchor.spkiFingerprint, head };
}

/** The fingerprint of the cross-signature X an active-anchor Secret's tls.crt holds in place of its anchor, if any. */
export function activeCrossSignatureOf(secret: V1Secret | undefined): Fingerprint | undefined {
  const layout = heldLayout(secret);
  return layout?.crossSigned ? layout.head.fingerprint : undefined;
}

export interface AnchorSecretFacts {
  readonly prepared?: AnchorFacts;
  readonly active?: AnchorFacts;
  readonly previous?: AnchorFacts;
  /**
   * The notAfter of the cross-signature the active Secret's tls.crt holds (X, which cert-manager puts
   * after every identity issuer it signs), when it holds one: pods relying on X are due for a restart
   * `crossSignWindowOf` before it (the cross-sign margin, at least the expiry margin), so the
   * CronJob's fast path must not answer "not due" from then on.
   */
  readonly activeCrossSignatureNotAfter?: number;
}

/** The three anchor Secrets as facts, each read with a GET; a missing Secret (or certificate) is undefined. */
export async function readAnchorSecrets(ctx: AdapterContext): Promise<AnchorSecretFacts> {
  const n = ctx.names;
  const secrets = await Promise.all([n.preparedAnchorSecret, n.activeAnchorSecret, n.previousAnchorSecret].map((name) => readTrustSecret(ctx, name)));
  const [prepared, active, previous] = secrets.map(anchorFactsOf);
  const layout = heldLayout(secrets[1]);
  return {
    ...(prepared ? { prepared } : {}),
    ...(active ? { active: layout?.crossSigned ? { ...active, crossSignature: layout.head.fingerprint } : active } : {}),
    ...(previous ? { previous } : {}),
    ...(layout?.crossSigned ? { activeCrossSignatureNotAfter: layout.head.notAfter.getTime() } : {}),
  };
}

export class KubeAnchorSecrets implements AnchorSecrets, FleetAnchors {
  constructor(
    private readonly ctx: AdapterContext,
    private readonly caches: { active: Collection<V1Secret>; previous: Collection<V1Secret>; prepared: Collection<V1Secret> },
  ) {}

  async writeActiveFromPrepared(expected: Fingerprint, request: { readonly crossSignedBy?: Fingerprint } = {}): Promise<WriteOutcome> {
    const n = this.ctx.names;
    const source = await this.read(n.preparedAnchorSecret);
    const pem = decodeSecretKey(source, 'tls.crt');
    const keyPem = decodeSecretKey(source, 'tls.key');
    const cert = pem === undefined ? undefined : certificatesOf(pem)[0];
    if (!cert || cert.fingerprint !== expected) return cert ? { written: false, found: cert.fingerprint } : { written: false };
    if (keyPem === undefined || !checkKeyMatchesCertificate(keyPem, cert).ok) {
      throw invalidSecret(this.ctx, n.preparedAnchorSecret, `to hold the private key of its certificate, found ${keyPem === undefined ? 'no tls.key' : 'a key that does not match'}; check Certificate ${n.preparedAnchorCertificate}`);
    }
    // The layout (docs/cross-signing.md): tls.crt is what cert-manager's CA issuer signs with and
    // puts after the identity issuer (X while cross-signing, else the anchor itself); anchor.crt is
    // the self-signed anchor, which the trust bundle reads; cross-signer.crt, beside X, is the anchor
    // that signed X (pods started on it rely on X after Retire, when no other Secret holds it).
    const signer = request.crossSignedBy;
    const current = await this.read(n.activeAnchorSecret);
    const held = heldLayout(current);
    const signerHeld = signer === undefined ? current?.data?.[CROSS_SIGNER_CERT_KEY] === undefined : current?.data?.[CROSS_SIGNER_CERT_KEY] !== undefined;
    if (held?.anchor === expected && held.crossSigned === (signer !== undefined) && signerHeld && current?.data?.['tls.key'] === b64(keyPem)) {
      this.caches.active.remember(current as V1Secret);
      return { written: true };
    }
    const data: Record<string, string> = { 'tls.crt': b64(toPem(cert)), 'tls.key': b64(keyPem), [ANCHOR_CERT_KEY]: b64(toPem(cert)) };
    if (signer !== undefined) {
      const minted = await this.mintCrossSignature({ subject: cert, signer, current });
      data['tls.crt'] = b64(minted.crossSignature);
      data[CROSS_SIGNER_CERT_KEY] = b64(minted.signer);
    }
    await this.write(n.activeAnchorSecret, 'kubernetes.io/tls', data, this.caches.active, expected);
    return { written: true };
  }

  /**
   * X for `subject`, signed with the key the active Secret holds, which must be `signer`'s (the
   * anchor being replaced). Refusals name the anchors by fingerprint and never carry a key.
   */
  private async mintCrossSignature(input: { subject: ParsedCertificate; signer: Fingerprint; current: V1Secret | undefined }): Promise<{ crossSignature: string; signer: string }> {
    const n = this.ctx.names;
    const signerPem = anchorPemOf(input.current);
    const signerKey = decodeSecretKey(input.current, 'tls.key');
    const signer = signerPem === undefined ? undefined : certificatesOf(signerPem)[0];
    if (!signer || signer.fingerprint !== input.signer || signerKey === undefined) {
      const found = !signer ? 'no anchor' : signer.fingerprint !== input.signer ? `anchor ${signer.fingerprint.slice(0, 16)}` : 'its certificate but no tls.key';
      throw invalidSecret(this.ctx, n.activeAnchorSecret, `to hold anchor ${input.signer.slice(0, 16)} and its key to cross-sign ${input.subject.fingerprint.slice(0, 16)}, found ${found}; run status, or rotate with --strategy restart`);
    }
    try {
      const pem = await crossSign({ subject: input.subject, issuer: signer, issuerKey: signerKey, now: new Date(this.ctx.now()) });
      const minted = certificatesOf(pem)[0];
      this.ctx.logger.info({ crossSignature: minted?.fingerprint.slice(0, 16), of: input.subject.fingerprint.slice(0, 16), by: signer.fingerprint.slice(0, 16), notAfter: minted?.notAfter.toISOString() }, 'cross-signature minted');
      return { crossSignature: pem, signer: toPem(signer) };
    } catch (err) {
      if (err instanceof CrossSignRefusedError) throw invalidSecret(this.ctx, n.activeAnchorSecret, `to hold an anchor that can cross-sign the next one, found: ${err.problems.join(' ')}`);
      throw err;
    }
  }

  async writePrevious(sourceRole: 'prepared' | 'active', expected: Fingerprint): Promise<WriteOutcome> {
    const n = this.ctx.names;
    const source = await this.read(sourceRole === 'prepared' ? n.preparedAnchorSecret : n.activeAnchorSecret);
    const pem = anchorPemOf(source);
    const cert = pem === undefined ? undefined : certificatesOf(pem)[0];
    if (!cert || cert.fingerprint !== expected) return cert ? { written: false, found: cert.fingerprint } : { written: false };
    await this.write(n.previousAnchorSecret, 'Opaque', { 'tls.crt': b64(toPem(cert)) }, this.caches.previous, expected);
    return { written: true };
  }

  /**
   * Upgrades an active-anchor Secret written before anchor.crt existed: adds anchor.crt = the first
   * certificate of its tls.crt when that one is self-signed (then it is the anchor), changing nothing
   * else, with optimistic concurrency on the Secret read. The trust bundle reads anchor.crt, and until
   * this runs trust-manager keeps the bundle it has (SourceNotFound). Returns what it did.
   */
  async addAnchorKey(): Promise<'added' | 'present' | 'absent'> {
    const { ctx } = this;
    const namespace = ctx.names.trustNamespace;
    const name = ctx.names.activeAnchorSecret;
    for (let attempt = 0; attempt < 4; attempt++) {
      const current = await this.read(name);
      if (!current) return 'absent';
      if (current.data?.[ANCHOR_CERT_KEY] !== undefined) return 'present';
      const headPem = decodeSecretKey(current, 'tls.crt');
      const head = headPem === undefined ? undefined : certificatesOf(headPem)[0];
      if (!head) return 'absent';
      if (head.subject !== head.issuer) {
        throw invalidSecret(ctx, name, `to hold a self-signed anchor first in tls.crt (no ${ANCHOR_CERT_KEY} yet), found ${head.subject} issued by ${head.issuer}; write the anchor into key ${ANCHOR_CERT_KEY} of that Secret, then run again`);
      }
      const body: V1Secret = { ...current, metadata: { ...current.metadata, managedFields: undefined } as V1Secret['metadata'], data: { ...current.data, [ANCHOR_CERT_KEY]: b64(toPem(head)) } };
      try {
        const written = await ctx.call({ verb: 'update', resource: 'secrets', namespace, name }, () => ctx.core.replaceNamespacedSecret({ namespace, name, body, fieldManager: FIELD_MANAGER }));
        this.caches.active.remember(written);
        ctx.logger.info({ secret: `${namespace}/${name}`, fingerprint: head.fingerprint.slice(0, 16) }, `added ${ANCHOR_CERT_KEY} (the anchor the trust bundle reads) to the active anchor Secret`);
        return 'added';
      } catch (err) {
        if (err instanceof KubeApiError && err.kind === 'conflict') continue;
        throw err;
      }
    }
    throw new KubeApiError('conflict', 409, { verb: 'update', resource: 'secrets', namespace, name }, `expected to add ${ANCHOR_CERT_KEY} to Secret ${namespace}/${name}, found it changed by someone else on every attempt; run again`);
  }

  // ---- The fleet driver's copies of B (docs/multicluster.md, "Where the new anchor comes from") ----

  /** The primary's prepared anchor certificate, without its key, if it is `expected`. */
  async readPreparedCertificate(expected: Fingerprint): Promise<AnchorCopy | undefined> {
    const pem = anchorPemOf(await this.read(this.ctx.names.preparedAnchorSecret));
    const cert = pem === undefined ? undefined : certificatesOf(pem)[0];
    if (cert?.fingerprint !== expected) return undefined;
    const crt = b64(toPem(cert));
    return { fingerprint: expected, data: { 'tls.crt': crt, [ANCHOR_CERT_KEY]: crt } };
  }

  /** The primary's active Secret as promotion wrote it (B's key, X and its signer when cross-signed), if it holds `expected`. */
  async readActive(expected: Fingerprint): Promise<AnchorCopy | undefined> {
    const current = await this.read(this.ctx.names.activeAnchorSecret);
    const held = heldLayout(current);
    if (!current?.data || held?.anchor !== expected || !current.data['tls.key']) return undefined;
    const data = Object.fromEntries(['tls.crt', 'tls.key', ANCHOR_CERT_KEY, CROSS_SIGNER_CERT_KEY].flatMap((k) => (current.data?.[k] !== undefined ? [[k, current.data[k] as string]] : [])));
    return { fingerprint: expected, ...(held.crossSigned ? { crossSignature: held.head.fingerprint } : {}), data };
  }

  /** A member's prepared Secret := B's certificate only (never a key: I5). */
  async writePreparedCertificate(copy: AnchorCopy): Promise<WriteOutcome> {
    const n = this.ctx.names;
    const pem = copy.data[ANCHOR_CERT_KEY] === undefined ? undefined : Buffer.from(copy.data[ANCHOR_CERT_KEY], 'base64').toString('utf8');
    const cert = pem === undefined ? undefined : certificatesOf(pem)[0];
    if (cert?.fingerprint !== copy.fingerprint || copy.data['tls.key'] !== undefined) {
      throw invalidSecret(this.ctx, n.preparedAnchorSecret, `to be written with the certificate of ${copy.fingerprint.slice(0, 16)} alone, found a copy ${cert ? `of ${cert.fingerprint.slice(0, 16)}` : 'without a certificate'}${copy.data['tls.key'] !== undefined ? ' with a key' : ''}; this is a rotator bug`);
    }
    const crt = b64(toPem(cert));
    await this.write(n.preparedAnchorSecret, 'Opaque', { 'tls.crt': crt, [ANCHOR_CERT_KEY]: crt }, this.caches.prepared, copy.fingerprint);
    return { written: true };
  }

  /** A member's active Secret := the primary's (B's key, X), only while it holds `expectedCurrent` (A) or already this copy. */
  async writeActiveCopy(copy: AnchorCopy, expectedCurrent: Fingerprint): Promise<WriteOutcome> {
    const n = this.ctx.names;
    const current = await this.read(n.activeAnchorSecret);
    const held = heldLayout(current);
    if (held?.anchor === copy.fingerprint && Object.entries(copy.data).every(([k, v]) => current?.data?.[k] === v)) {
      this.caches.active.remember(current as V1Secret);
      return { written: true };
    }
    if (held?.anchor !== expectedCurrent) return held ? { written: false, found: held.anchor } : { written: false };
    const keyPem = copy.data['tls.key'] === undefined ? undefined : Buffer.from(copy.data['tls.key'], 'base64').toString('utf8');
    const anchorPem = copy.data[ANCHOR_CERT_KEY] === undefined ? undefined : Buffer.from(copy.data[ANCHOR_CERT_KEY], 'base64').toString('utf8');
    const cert = anchorPem === undefined ? undefined : certificatesOf(anchorPem)[0];
    if (cert?.fingerprint !== copy.fingerprint || keyPem === undefined || !checkKeyMatchesCertificate(keyPem, cert).ok) {
      throw invalidSecret(this.ctx, n.activeAnchorSecret, `to be written with anchor ${copy.fingerprint.slice(0, 16)} and its key, found a copy without them; check the primary's ${n.activeAnchorSecret}`);
    }
    await this.write(n.activeAnchorSecret, 'kubernetes.io/tls', { ...copy.data }, this.caches.active, copy.fingerprint);
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
      const held = anchorPemOf(current);
      const sameData = Object.entries(data).every(([key, value]) => current?.data?.[key] === value);
      if (held !== undefined && certificatesOf(held)[0]?.fingerprint === fingerprint && (data['tls.key'] === undefined || sameData)) {
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
