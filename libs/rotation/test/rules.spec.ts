// The shared state rules: resume phase, required anchors per phase, bundle sync time.
import { bundleSyncedAt, describePhase, initialState, requiredAnchors, resumePhase, type RotationState } from '../src/index.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const at = '2026-01-01T00:00:00.000Z';

function inPhase(phase: RotationState['phase'], promoted: boolean, stoppedIn?: RotationState['phase']): RotationState {
  return {
    ...initialState(),
    phase,
    rotation: {
      id: 'r',
      from: { fingerprint: A, publicKeyFingerprint: A },
      to: { fingerprint: B, publicKeyFingerprint: B },
      startedAt: at,
      phaseStartedAt: at,
      preparedRevisionAtStart: 1,
      prepareRequests: 0,
      retargets: [],
      issuerRenewals: 0,
      ...(promoted ? { promotedAt: at } : {}),
    },
    ...(stoppedIn && stoppedIn !== 'Stopped' ? { stopped: { reason: 'deadline' as const, phase: stoppedIn, message: 'm', at } } : {}),
  };
}

describe('resumePhase', () => {
  it('is the phase itself unless stopped', () => {
    expect(resumePhase(inPhase('TrustBoth', false))).toBe('TrustBoth');
  });
  it('is the phase a stopped run stopped in', () => {
    expect(resumePhase(inPhase('Stopped', false, 'Promote'))).toBe('Promote');
    expect(describePhase(inPhase('Stopped', false, 'Promote'))).toBe('Stopped in Promote');
  });
  it('falls back to Prepare with a rotation and Idle without', () => {
    expect(resumePhase(inPhase('Stopped', false))).toBe('Prepare');
    expect(resumePhase({ ...initialState(), phase: 'Stopped' })).toBe('Idle');
  });
});

describe('requiredAnchors', () => {
  it.each([
    ['Prepare', false, [A]],
    ['TrustBoth', false, [A]],
    ['Promote', false, [A]],
    ['Promote', true, [A, B]],
    ['Retire', true, [B]],
  ] as const)('in %s (promoted: %s) keeps %j', (phase, promoted, expected) => {
    expect(requiredAnchors(inPhase(phase, promoted))).toEqual(expected);
    expect(requiredAnchors(inPhase('Stopped', promoted, phase))).toEqual(expected);
  });
  it('keeps nothing when idle', () => {
    expect(requiredAnchors(initialState())).toEqual([]);
  });
});

describe('bundleSyncedAt', () => {
  it('prefers syncedAt, truncated to the second, and knows no unknown bundle', () => {
    const state = { knownBundles: { x: { anchors: [A], firstSeenAt: '2026-01-01T00:00:00.500Z', syncedAt: '2026-01-01T00:00:02.700Z' } } };
    expect(bundleSyncedAt(state, 'x')).toBe(Date.parse('2026-01-01T00:00:02.000Z'));
    expect(bundleSyncedAt(state, 'y')).toBeUndefined();
  });
});
