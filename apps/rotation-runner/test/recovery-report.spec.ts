// Issue 15: `status` and `plan` say which expiry incident holds and what `recover` will do (which
// workloads it restarts, in what order, and which pods see errors until then), from real certificates.
import { DEFAULT_OBJECT_NAMES } from '@linkerd-rotator/names';
import { plan, resolveOptions, type ClusterSnapshot, type RotationState } from '@linkerd-rotator/rotation';
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import { formatPlan, planJson } from '../src/commands/plan.js';
import { buildReport, DEFAULT_THRESHOLDS, formatReport } from '../src/status-report.js';

const idle: RotationState = { version: 1, phase: 'Idle', knownBundles: {} };
const facts = (c: Credentials) => ({ fingerprint: c.fingerprint, publicKeyFingerprint: c.cert.spkiFingerprint, notBefore: c.cert.notBefore.getTime(), notAfter: c.cert.notAfter.getTime() });

function cluster(anchor: Credentials, issuer: Credentials, prepared: Credentials): ClusterSnapshot {
  const now = Date.now();
  const pod = (namespace: string, name: string, owner: string, extra: { identity?: boolean; tier?: 'control-plane' | 'data-plane' } = {}) => ({
    namespace,
    name,
    owner: { kind: 'Deployment' as const, name: owner },
    tier: extra.tier ?? 'data-plane',
    identityController: extra.identity ?? false,
    trustRootSha256: 'b'.repeat(64),
    trustFromConfigMap: false,
    startedAt: now - 3_600_000,
    ready: true,
  });
  const workload = (namespace: string, name: string, tier: 'control-plane' | 'data-plane') => ({ kind: 'Deployment' as const, namespace, name, tier, replicas: 1, readyReplicas: 1, updatedReplicas: 1, generation: 1, observedGeneration: 1 });
  return {
    observedAt: now,
    prepared: { issuing: 'absent', revision: 2, anchor: facts(prepared) },
    active: facts(anchor),
    previous: facts(anchor),
    issuer: { issuing: 'absent', revision: 1, fingerprint: issuer.fingerprint, chainsTo: anchor.fingerprint, notBefore: issuer.cert.notBefore.getTime(), notAfter: issuer.cert.notAfter.getTime() },
    bundles: [{ namespace: 'linkerd', sha256: 'b'.repeat(64), anchors: [anchor.fingerprint] }],
    injector: { trustRootSha256: 'b'.repeat(64) },
    pods: [pod('linkerd', 'identity-1', 'linkerd-identity', { identity: true, tier: 'control-plane' }), pod('linkerd', 'destination-1', 'linkerd-destination', { tier: 'control-plane' }), pod('shop', 'web-1', 'web')],
    workloads: [workload('linkerd', 'linkerd-identity', 'control-plane'), workload('linkerd', 'linkerd-destination', 'control-plane'), workload('shop', 'web', 'data-plane')],
    identityEvents: [],
  };
}

let expiredCluster: ClusterSnapshot;
let healthyCluster: ClusterSnapshot;
beforeAll(async () => {
  const expired = await fixtures.makeExpiredAnchor();
  const underExpired = await fixtures.makeIssuer(expired, { notBefore: fixtures.daysFromNow(-3), notAfter: fixtures.daysFromNow(-2) });
  const fresh = await fixtures.makeAnchor();
  expiredCluster = cluster(expired, underExpired, fresh);
  healthyCluster = cluster(fresh, await fixtures.makeIssuer(fresh), fresh);
});

describe('status on an expiry incident', () => {
  const report = (s: ClusterSnapshot) => buildReport({ snapshot: s, state: idle, injector: { namespace: 'shop' }, names: DEFAULT_OBJECT_NAMES, thresholds: DEFAULT_THRESHOLDS });

  it('names the case, the restart order and the pods that see errors', () => {
    const r = report(expiredCluster);
    expect(r.recovery).toMatchObject({
      case: 'both-expired',
      restarts: [
        { what: 'identity', workloads: ['Deployment/linkerd/linkerd-identity'] },
        { what: 'control-plane', workloads: ['Deployment/linkerd/linkerd-destination'] },
        { what: 'data-plane', workloads: ['Deployment/shop/web'] },
      ],
      erroring: { pods: ['linkerd/identity-1', 'linkerd/destination-1', 'shop/web-1'] },
    });
    const text = formatReport(r);
    expect(text).toMatch(/Expiry incident: both-expired: the active anchor [0-9a-f]{16} expired/);
    expect(text).toMatch(/restart first, the identity controller: 1 workload\(s\)\n\s+Deployment\/linkerd\/linkerd-identity\n\s+restart then the control plane/);
    expect(text).toMatch(/errors until recovery reaches them: 3 meshed pod\(s\)/);
  });

  it('control: a healthy mesh has no recovery', () => {
    expect(report(healthyCluster).recovery).toBeUndefined();
    expect(formatReport(report(healthyCluster))).not.toMatch(/Expiry incident/);
  });
});

describe('plan on an expiry incident', () => {
  it('leads with the recovery, in text and JSON', () => {
    const p = plan(expiredCluster, idle, resolveOptions({ names: DEFAULT_OBJECT_NAMES }));
    expect(formatPlan(p, false)).toMatch(/^Expiry incident: both-expired: .*\nRecovery \(`rotator recover --yes`\):\n {2}- use the prepared anchor [0-9a-f]{16} \(valid, new key\)/);
    expect(planJson(p)).toMatchObject({ recovery: { case: 'both-expired', restarts: [{ what: 'identity' }, { what: 'control-plane' }, { what: 'data-plane' }] } });
    expect(planJson(plan(healthyCluster, idle, resolveOptions({ names: DEFAULT_OBJECT_NAMES })))).not.toHaveProperty('recovery');
  });
});
