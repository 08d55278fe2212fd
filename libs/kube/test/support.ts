// Helpers the libs/kube specs share: waiting for a condition the fake API server brings about, and
// rotation states that libs/rotation's own parser accepts.
import type { RotationRecord, RotationState } from '@linkerd-rotator/rotation';

/** Resolves once `check` holds; fails naming `what` after `timeoutMs`. */
export async function eventually(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A rotation from anchor `from` to `to` (fingerprints), started at the turn of 2026. */
export function rotationRecord(from: string, to: string, extra: Partial<RotationRecord> = {}): RotationRecord {
  return {
    id: 'r1',
    from: { fingerprint: from, publicKeyFingerprint: from },
    to: { fingerprint: to, publicKeyFingerprint: to },
    startedAt: '2026-01-01T00:00:00.000Z',
    phaseStartedAt: '2026-01-01T00:00:00.000Z',
    preparedRevisionAtStart: 1,
    prepareRequests: 0,
    retargets: [],
    issuerRenewals: 0,
    ...extra,
  };
}

export function stateOf(phase: RotationState['phase'], extra: Partial<RotationState> = {}): RotationState {
  return { version: 1, phase, knownBundles: {}, ...extra };
}
