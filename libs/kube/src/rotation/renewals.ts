// CertificateRenewals exactly as `cmctl renew` does it: add the condition Issuing=True with reason
// ManuallyTriggered through the certificates/status subresource; cert-manager then re-issues.
import type { CertificateRenewals } from '@linkerd-rotator/rotation';
import type { Collection } from '../collection.js';
import { CERT_MANAGER, CERTIFICATE_REQUESTS, type AdapterContext } from './context.js';
import { KubeApiError } from '../errors.js';
import type { CertificateObject, CertificateRequestObject } from './pki-facts.js';

/** The condition cmctl sets (cmd/renew: reason "ManuallyTriggered"). */
export function manuallyTriggered(cert: CertificateObject, now: number): CertificateObject {
  const conditions = (cert.status?.conditions ?? []).filter((c) => c.type !== 'Issuing');
  conditions.push({
    type: 'Issuing',
    status: 'True',
    reason: 'ManuallyTriggered',
    message: 'Certificate re-issuance manually triggered',
    lastTransitionTime: new Date(Math.floor(now / 1000) * 1000).toISOString().replace('.000Z', 'Z'),
    ...(cert.metadata?.generation !== undefined ? { observedGeneration: cert.metadata.generation } : {}),
  });
  return { ...cert, status: { ...(cert.status ?? {}), conditions } };
}

export class KubeCertificateRenewals implements CertificateRenewals {
  constructor(
    private readonly ctx: AdapterContext,
    private readonly caches: { prepared: Collection<CertificateObject>; issuer: Collection<CertificateObject>; issuerRequests?: Collection<CertificateRequestObject>; discardedIssuerRequests?: Set<string> },
  ) {}

  renewPreparedAnchor(): Promise<void> {
    const n = this.ctx.names;
    return this.renew(n.trustNamespace, n.preparedAnchorCertificate, this.caches.prepared);
  }

  renewIdentityIssuer(): Promise<void> {
    const n = this.ctx.names;
    return this.renew(n.linkerdNamespace, n.issuerCertificate, this.caches.issuer);
  }

  /**
   * Deletes the issuer Certificate's CertificateRequest `name` as this process last saw it (by its
   * uid: cert-manager's new request of the same revision has the same name and is never deleted),
   * and keeps it out of later snapshots while the watch catches up. Already gone: nothing to do.
   */
  async discardIssuerRequest(name: string): Promise<void> {
    const { ctx } = this;
    const namespace = ctx.names.linkerdNamespace;
    const uid = this.caches.issuerRequests?.get(namespace, name)?.metadata?.uid;
    try {
      await ctx.call({ verb: 'delete', resource: 'certificaterequests.cert-manager.io', namespace, name }, () =>
        ctx.custom.deleteNamespacedCustomObject({ ...CERTIFICATE_REQUESTS, namespace, name, ...(uid ? { body: { preconditions: { uid } } } : {}) }),
      );
      ctx.logger.info({ certificateRequest: `${namespace}/${name}` }, 'deleted the identity issuer request signed under a replaced anchor; cert-manager makes a new one');
    } catch (err) {
      // 404: already gone; 409: the name is cert-manager's new request now (the uid precondition).
      if (!(err instanceof KubeApiError && (err.kind === 'not-found' || err.kind === 'conflict'))) throw err;
    }
    if (uid) this.caches.discardedIssuerRequests?.add(uid);
  }

  private async renew(namespace: string, name: string, cache: Collection<CertificateObject>): Promise<void> {
    const { ctx } = this;
    for (let attempt = 0; attempt < 4; attempt++) {
      const current = (await ctx.call({ verb: 'get', resource: 'certificates.cert-manager.io', namespace, name }, () =>
        ctx.custom.getNamespacedCustomObject({ ...CERT_MANAGER, namespace, name }),
      )) as CertificateObject;
      if (current.status?.conditions?.some((c) => c.type === 'Issuing' && c.status === 'True')) {
        cache.remember(current);
        return; // already being issued: asking again would change nothing
      }
      try {
        const updated = (await ctx.call({ verb: 'update', resource: 'certificates/status', namespace, name }, () =>
          ctx.custom.replaceNamespacedCustomObjectStatus({ ...CERT_MANAGER, namespace, name, body: manuallyTriggered(current, ctx.now()), fieldManager: 'linkerd-rotator' }),
        )) as CertificateObject;
        cache.remember(updated);
        ctx.logger.info({ certificate: `${namespace}/${name}`, revision: current.status?.revision ?? 0 }, 'renewal requested (Issuing=True, ManuallyTriggered)');
        return;
      } catch (err) {
        if (err instanceof KubeApiError && err.kind === 'conflict') continue;
        throw err;
      }
    }
    throw new KubeApiError('conflict', 409, { verb: 'update', resource: 'certificates/status', namespace, name }, `expected to set Issuing=True on Certificate ${namespace}/${name}, found it changing on every attempt; run again`);
  }
}
