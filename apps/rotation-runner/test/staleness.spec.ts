// Stale proxies in `status`/`check` follow the strategy of the last rotation (libs/rotation
// `stalenessOf`, the exporter's rule too). After a cross-signed rotation the pods that trusted the
// bundle of its TrustBoth ({A, B}) trust B, which the issuer chains to: not stale, although their
// bundle is not the current one ({B}); after a restart rotation the same pods are stale (that
// strategy rolls them). A pod that trusts no anchor a valid chain reaches is stale either way.
import { DEFAULT_OBJECT_NAMES } from '@linkerd-rotator/names';
import type { ClusterSnapshot, MeshedPod, RotationState } from '@linkerd-rotator/rotation';
import { buildReport, DEFAULT_THRESHOLDS } from '../src/status-report.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.parse('2026-06-01T00:00:00Z');
const fp = (c: string) => c.repeat(64);
const anchor = (c: string) => ({ fingerprint: fp(c), publicKeyFingerprint: fp(c === 'a' ? 'c' : 'd'), notBefore: NOW - 10 * DAY, notAfter: NOW + 300 * DAY });

const BUNDLE_B = fp('8');
const BUNDLE_AB = fp('7');
const snapshot = (pods: MeshedPod[]): ClusterSnapshot => ({
  observedAt: NOW,
  prepared: { issuing: 'absent', revision: 1, anchor: anchor('b') },
  active: anchor('b'),
  previous: anchor('b'),
  issuer: { issuing: 'absent', revision: 1, fingerprint: fp('1'), chainsTo: fp('b'), notBefore: NOW - HOUR, notAfter: NOW + 40 * HOUR },
  bundles: [{ namespace: 'linkerd', sha256: BUNDLE_B, anchors: [fp('b')] }],
  injector: { trustRootSha256: BUNDLE_B },
  pods,
  workloads: [],
  identityEvents: [],
});
const pod = (name: string, over: Partial<MeshedPod>): MeshedPod => ({ namespace: 'linkerd', name, tier: 'control-plane', identityController: false, trustFromConfigMap: false, startedAt: NOW - DAY, ready: true, ...over });
// The identity controller restarted at Promote: it read {A, B} through configMapKeyRef.
const identity = pod('identity-1', { identityController: true, trustFromConfigMap: true, startedAt: NOW - 2 * DAY + HOUR });
const onAB = pod('destination-1', { trustRootSha256: BUNDLE_AB, trustedAnchors: [fp('a'), fp('b')] });
const stranger = pod('web-1', { namespace: 'shop', tier: 'data-plane', trustRootSha256: fp('6'), trustedAnchors: [fp('e')] });

const known = {
  [BUNDLE_AB]: { anchors: [fp('a'), fp('b')], firstSeenAt: new Date(NOW - 3 * DAY).toISOString(), syncedAt: new Date(NOW - 3 * DAY).toISOString() },
  [BUNDLE_B]: { anchors: [fp('b')], firstSeenAt: new Date(NOW - DAY).toISOString(), syncedAt: new Date(NOW - DAY).toISOString() },
};
const doneBy = (strategy: 'cross-signed' | 'restart'): RotationState => ({
  version: 1,
  phase: 'Done',
  knownBundles: known,
  last: { id: 'r1', from: fp('a'), to: fp('b'), startedAt: new Date(NOW - 3 * DAY).toISOString(), finishedAt: new Date(NOW - DAY).toISOString(), strategy },
});
const report = (state: RotationState, pods: MeshedPod[]) => buildReport({ snapshot: snapshot(pods), state, injector: { namespace: 'shop' }, names: DEFAULT_OBJECT_NAMES, thresholds: DEFAULT_THRESHOLDS });

describe('stale proxies by the strategy of the last rotation', () => {
  it('after a cross-signed rotation, pods trusting {A, B} are not stale and check finds no problem', () => {
    const r = report(doneBy('cross-signed'), [identity, onAB]);
    expect(r.pods.stale).toEqual([]);
    expect(r.findings.filter((f) => f.severity === 'problem')).toEqual([]);
  });

  it('after a restart rotation, the same pods are stale (that strategy rolls every pod whose bundle changed)', () => {
    const r = report(doneBy('restart'), [identity, onAB]);
    expect(r.pods.stale.map((p) => p.pod).sort()).toEqual(['linkerd/destination-1', 'linkerd/identity-1']);
  });

  it('a pod trusting no anchor a valid chain reaches is stale and critical under either strategy', () => {
    for (const strategy of ['cross-signed', 'restart'] as const) {
      const r = report(doneBy(strategy), [stranger]);
      expect(r.pods.stale).toEqual([expect.objectContaining({ pod: 'shop/web-1', critical: true })]);
    }
  });
});
