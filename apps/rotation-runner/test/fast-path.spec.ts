// The CronJob's fast path (`rotate` answering "not due" from the state and the three anchor Secrets,
// without watching the cluster): it must take the full path once a cross-signature the active Secret
// carries is within its margin of its end, because the pods relying on it are then due for a restart.
import type { AnchorFacts, IssuerSigningFacts, RotationState } from '@linkerd-rotator/rotation';
import { quietRun } from '../src/commands/rotate.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.parse('2026-06-01T00:00:00Z');
const anchor = (c: string, notBefore: number): AnchorFacts => ({ fingerprint: c.repeat(64), publicKeyFingerprint: c.repeat(64), notBefore, notAfter: notBefore + 365 * DAY });
const active = anchor('b', NOW - 30 * DAY);
const done: RotationState = {
  version: 1,
  phase: 'Done',
  knownBundles: {},
  last: { id: 'r1', from: 'a'.repeat(64), to: active.fingerprint, startedAt: '2026-05-01T00:00:00.000Z', finishedAt: '2026-05-02T00:00:00.000Z', strategy: 'cross-signed' },
};
const options = { holder: 'test', gateTimeoutMs: HOUR, leaseDurationMs: 60_000, crossSignMarginMs: 7 * DAY };

describe("the CronJob's fast path", () => {
  it('answers not due when no cross-signature nears its end, or none is carried', () => {
    expect(quietRun(done, { active, previous: active }, options, NOW)).toMatch(/no rotation due/);
    expect(quietRun(done, { active, previous: active, activeCrossSignatureNotAfter: NOW + 8 * DAY }, options, NOW)).toMatch(/no rotation due/);
  });

  it('takes the full path from crossSignMargin before the cross-signature ends, so pods relying on it are restarted', () => {
    expect(quietRun(done, { active, previous: active, activeCrossSignatureNotAfter: NOW + 7 * DAY }, options, NOW)).toBeUndefined();
    expect(quietRun(done, { active, previous: active, activeCrossSignatureNotAfter: NOW + 3 * DAY }, { ...options, crossSignMarginMs: DAY }, NOW)).toMatch(/no rotation due/);
    // A cross-sign margin shorter than the expiry margin (2d5h40s): the window opens at the expiry margin (issue 15).
    expect(quietRun(done, { active, previous: active, activeCrossSignatureNotAfter: NOW + 2 * DAY }, { ...options, crossSignMarginMs: DAY }, NOW)).toBeUndefined();
    expect(quietRun(done, { active, previous: active, activeCrossSignatureNotAfter: NOW - DAY }, options, NOW)).toBeUndefined();
  });

  it('takes the full path for a forced run, a rotation under way, a stop, or missing runner Secrets', () => {
    expect(quietRun(done, { active, previous: active }, { ...options, start: 'always' }, NOW)).toBeUndefined();
    expect(quietRun({ ...done, phase: 'TrustBoth' }, { active, previous: active }, options, NOW)).toBeUndefined();
    expect(quietRun(done, { active }, options, NOW)).toBeUndefined();
  });

  // issue 14: what the engine stops on must not be answered "not due" by the fast path.
  it('takes the full path when the identity ClusterIssuer does not sign with the active Secret (the full path stops on it)', () => {
    const chart: IssuerSigningFacts = { clusterIssuer: { found: true, caSecretName: 'linkerd-active-anchor' }, certificateIssuerRef: { kind: 'ClusterIssuer', name: 'linkerd-identity-issuer' } };
    expect(quietRun(done, { active, previous: active }, options, NOW, chart)).toMatch(/no rotation due/);
    expect(quietRun(done, { active, previous: active }, options, NOW, { ...chart, clusterIssuer: { found: true, caSecretName: 'linkerd-trust-anchor' } })).toBeUndefined();
    expect(quietRun(done, { active, previous: active }, options, NOW, { ...chart, certificateIssuerRef: { kind: 'ClusterIssuer', name: 'linkerd-trust-anchor' } })).toBeUndefined();
    expect(quietRun(done, { active, previous: active }, options, NOW, { clusterIssuer: { found: false } })).toBeUndefined();
  });

  it('takes the full path with recover.auto, and for a recovery under way: an expiry incident needs the issuer, bundles and pods (issue 15)', () => {
    expect(quietRun(done, { active, previous: active }, { ...options, recover: true }, NOW)).toBeUndefined();
    expect(quietRun({ ...done, phase: 'Recover' }, { active, previous: active }, options, NOW)).toBeUndefined();
    expect(quietRun(done, { active, previous: active }, { ...options, recover: false }, NOW)).toMatch(/no rotation due/);
  });

  it('takes the full path for a half-finished rotation whose state is gone (active anchor not the previous one)', () => {
    const previous = anchor('a', NOW - 400 * DAY);
    expect(quietRun({ version: 1, phase: 'Idle', knownBundles: {} }, { active, previous }, options, NOW)).toBeUndefined();
    expect(quietRun(done, { active, previous }, options, NOW)).toBeUndefined();
  });

  it('takes the full path for a cross-signature in phase Idle (a cross-signed rotation whose state is gone), not in Done', () => {
    const idle: RotationState = { version: 1, phase: 'Idle', knownBundles: {} };
    expect(quietRun(idle, { active, previous: active, activeCrossSignatureNotAfter: NOW + 300 * DAY }, options, NOW)).toBeUndefined();
    expect(quietRun(done, { active, previous: active, activeCrossSignatureNotAfter: NOW + 300 * DAY }, options, NOW)).toMatch(/no rotation due/);
    expect(quietRun(idle, { active, previous: active }, options, NOW)).toMatch(/no rotation due/);
  });
});
