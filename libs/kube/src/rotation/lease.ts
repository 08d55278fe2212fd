// LeaseLock on a coordination.k8s.io Lease: acquired when free, expired or ours; renewed in the
// background at a third of its duration while held (so a long wait on a budget or the API cannot let
// it lapse), and released by clearing the holder. A renewal that cannot reach the API before the
// Lease would expire reports it lost, so the run stops writing.
import { V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import type { LeaseFacts, LeaseLock, LeaseOutcome } from '@linkerd-rotator/rotation';
import { FIELD_MANAGER, type AdapterContext } from './context.js';
import { KubeApiError } from '../errors.js';

function timeOf(value: Date | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

/** Holder and expiry of a Lease object (expiry = renewTime + leaseDurationSeconds). */
export function leaseFactsOf(lease: V1Lease | undefined): LeaseFacts | undefined {
  const spec = lease?.spec;
  if (!spec?.holderIdentity) return undefined;
  const renewed = timeOf(spec.renewTime as Date | string | undefined) ?? timeOf(spec.acquireTime as Date | string | undefined);
  const expiresAt = renewed !== undefined && spec.leaseDurationSeconds !== undefined ? renewed + spec.leaseDurationSeconds * 1000 : undefined;
  return { holder: spec.holderIdentity, ...(expiresAt !== undefined ? { expiresAt } : {}) };
}

export class KubeLease implements LeaseLock {
  private observed: V1Lease | undefined;
  private heldBy: string | undefined;
  private lastRenewal = 0;
  private keepalive: NodeJS.Timeout | undefined;
  private renewing: Promise<LeaseOutcome> | undefined;

  constructor(
    private readonly ctx: AdapterContext,
    private readonly namespace: string,
  ) {}

  /** What the last read or write of the Lease showed. */
  facts(): LeaseFacts | undefined {
    return leaseFactsOf(this.observed);
  }

  /** Reads the Lease (for `status`), without taking it. */
  async look(): Promise<LeaseFacts | undefined> {
    this.observed = await this.get();
    return this.facts();
  }

  async acquire(holder: string, durationMs: number): Promise<LeaseOutcome> {
    const outcome = await this.take(holder, durationMs, true, this.ctx.now() + this.ctx.apiTimeoutMs);
    if (outcome.held) this.startKeepalive(holder, durationMs);
    return outcome;
  }

  async renew(holder: string, durationMs: number): Promise<LeaseOutcome> {
    const expiresAt = this.facts()?.expiresAt;
    // Renewed less than a third of the duration ago (by the keepalive or the last step): still ours,
    // since nobody may take a Lease before it expires.
    if (this.heldBy === holder && expiresAt !== undefined && this.ctx.now() - this.lastRenewal < durationMs / 3) {
      return { held: true, expiresAt };
    }
    return this.renewNow(holder, durationMs);
  }

  async release(holder: string): Promise<void> {
    this.stopKeepalive();
    if (this.heldBy !== holder) return;
    this.heldBy = undefined;
    const { ctx, namespace } = this;
    const name = ctx.names.lease;
    const current = await this.get();
    if (current?.spec?.holderIdentity !== holder) return;
    const body: V1Lease = { ...current, spec: { ...current.spec, holderIdentity: undefined, renewTime: new V1MicroTime(ctx.now()), leaseDurationSeconds: 1 } };
    try {
      this.observed = await ctx.call({ verb: 'update', resource: 'leases.coordination.k8s.io', namespace, name }, () =>
        ctx.coordination.replaceNamespacedLease({ namespace, name, body, fieldManager: FIELD_MANAGER }),
      );
    } catch (err) {
      if (!(err instanceof KubeApiError && (err.kind === 'conflict' || err.kind === 'not-found'))) throw err;
    }
  }

  private renewNow(holder: string, durationMs: number): Promise<LeaseOutcome> {
    // One renewal at a time (the keepalive and a step may ask together).
    this.renewing ??= (async () => {
      try {
        const expiresAt = this.facts()?.expiresAt ?? this.ctx.now();
        const outcome = await this.take(holder, durationMs, false, Math.max(expiresAt, this.ctx.now() + 1));
        if (!outcome.held) this.stopKeepalive();
        return outcome;
      } catch (err) {
        if (err instanceof KubeApiError && err.kind === 'unreachable') {
          // The API stayed unreachable until the Lease expired: another run may take it now.
          this.stopKeepalive();
          this.heldBy = undefined;
          return { held: false };
        }
        throw err;
      } finally {
        this.renewing = undefined;
      }
    })();
    return this.renewing;
  }

  private async get(): Promise<V1Lease | undefined> {
    const { ctx, namespace } = this;
    const name = ctx.names.lease;
    try {
      return await ctx.call({ verb: 'get', resource: 'leases.coordination.k8s.io', namespace, name }, () => ctx.coordination.readNamespacedLease({ namespace, name }));
    } catch (err) {
      if (err instanceof KubeApiError && err.kind === 'not-found') return undefined;
      throw err;
    }
  }

  /** Takes or renews the Lease for `holder` if it is free, expired or already theirs. */
  private async take(holder: string, durationMs: number, acquiring: boolean, deadline: number): Promise<LeaseOutcome> {
    const { ctx, namespace } = this;
    const name = ctx.names.lease;
    const op = (verb: string) => ({ verb, resource: 'leases.coordination.k8s.io', namespace, name });
    for (let attempt = 0; attempt < 4; attempt++) {
      const current = await this.getUntil(deadline);
      this.observed = current;
      const facts = leaseFactsOf(current);
      const now = ctx.now();
      const theirs = facts?.holder !== undefined && facts.holder !== holder && (facts.expiresAt === undefined || facts.expiresAt > now);
      if (theirs) {
        if (this.heldBy === holder) this.heldBy = undefined;
        return { held: false, ...(facts?.holder ? { holder: facts.holder } : {}), ...(facts?.expiresAt !== undefined ? { expiresAt: facts.expiresAt } : {}) };
      }
      if (!acquiring && facts?.holder !== holder) return { held: false, ...(facts?.holder ? { holder: facts.holder } : {}) };
      const seconds = Math.max(1, Math.ceil(durationMs / 1000));
      const spec = {
        ...(current?.spec ?? {}),
        holderIdentity: holder,
        leaseDurationSeconds: seconds,
        renewTime: new V1MicroTime(now),
        ...(facts?.holder !== holder ? { acquireTime: new V1MicroTime(now), leaseTransitions: (current?.spec?.leaseTransitions ?? 0) + (current?.spec?.holderIdentity ? 1 : 0) } : {}),
      };
      try {
        const written = current
          ? await ctx.call(op('update'), () =>
              ctx.coordination.replaceNamespacedLease({ namespace, name, body: { ...current, metadata: { ...current.metadata, managedFields: undefined }, spec }, fieldManager: FIELD_MANAGER }),
            )
          : await ctx.call(op('create'), () =>
              ctx.coordination.createNamespacedLease({
                namespace,
                body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace, labels: { 'app.kubernetes.io/name': 'linkerd-rotator' } }, spec },
                fieldManager: FIELD_MANAGER,
              }),
            );
        this.observed = written;
        this.heldBy = holder;
        this.lastRenewal = now;
        return { held: true, expiresAt: now + seconds * 1000 };
      } catch (err) {
        if (err instanceof KubeApiError && err.kind === 'conflict') continue; // someone else wrote it: look again
        throw err;
      }
    }
    return { held: false, ...(this.facts()?.holder ? { holder: this.facts()?.holder as string } : {}) };
  }

  private async getUntil(deadline: number): Promise<V1Lease | undefined> {
    const { ctx, namespace } = this;
    const name = ctx.names.lease;
    try {
      return await ctx.callUntil({ verb: 'get', resource: 'leases.coordination.k8s.io', namespace, name }, () => ctx.coordination.readNamespacedLease({ namespace, name }), deadline);
    } catch (err) {
      if (err instanceof KubeApiError && err.kind === 'not-found') return undefined;
      throw err;
    }
  }

  private startKeepalive(holder: string, durationMs: number): void {
    this.stopKeepalive();
    const every = Math.max(1000, Math.floor(durationMs / 3));
    this.keepalive = setInterval(() => {
      if (this.ctx.now() - this.lastRenewal < every - 50) return;
      this.renewNow(holder, durationMs).catch((err: unknown) => this.ctx.logger.warn({ error: (err as Error).message }, 'Lease renewal failed; retrying'));
    }, every);
    this.keepalive.unref();
  }

  private stopKeepalive(): void {
    if (this.keepalive) clearInterval(this.keepalive);
    this.keepalive = undefined;
  }
}
