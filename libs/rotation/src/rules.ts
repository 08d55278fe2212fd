// Rules about a rotation state that the runner, `plan`, the webhook and the exporter all apply:
// the phase a stopped run resumes in, the Stopped state itself, and the anchors every trust bundle
// must keep meanwhile.
// Defined here once; nothing outside libs/rotation re-derives them from the state's fields.
import type { EpochMs, Fingerprint } from './snapshot.js';
import { iso, type Phase, type RotationState, type StopReason } from './state.js';

/** Phases a rotation can be resumed in (every phase but Stopped). */
export type ResumablePhase = Exclude<Phase, 'Stopped'>;

/**
 * The phase a run continues from: the phase itself, or for a Stopped state the phase it stopped in
 * (a stopped run keeps the guarantees of that phase). A Stopped state without details resumes in
 * Prepare when a rotation is recorded, else Idle.
 */
export function resumePhase(state: Pick<RotationState, 'phase' | 'stopped' | 'rotation'>): ResumablePhase {
  if (state.phase !== 'Stopped') return state.phase;
  return state.stopped?.phase ?? (state.rotation ? 'Prepare' : 'Idle');
}

/** The phase for people: `TrustBoth`, or `Stopped in TrustBoth`. */
export function describePhase(state: Pick<RotationState, 'phase' | 'stopped' | 'rotation'>): string {
  return state.phase === 'Stopped' ? `Stopped in ${resumePhase(state)}` : state.phase;
}

/** Phases in which proxies started before the rotation (trusting only the old anchor) may still run. */
const KEEPS_FROM: ReadonlySet<ResumablePhase> = new Set(['Prepare', 'TrustBoth', 'Promote']);
/**
 * Whether a recovery (`recover`, phase Recover, or stopped in it) is replacing the identity issuer:
 * the webhook then lets the trust bundle drop the anchor the old, dead issuer chains to
 * (docs/webhook.md, "While a recovery runs").
 */
export function recovering(state: Pick<RotationState, 'phase' | 'stopped' | 'rotation'>): boolean {
  return resumePhase(state) === 'Recover';
}

/** Phases after promotion, in which the new anchor signs the identity issuer. */
const KEEPS_TO: ReadonlySet<ResumablePhase> = new Set(['Promote', 'Retire']);

/**
 * The anchors every trust bundle must hold in this state: the old anchor until Retire (pods that
 * trust only it still run), and the new one once it is promoted (it signs the issuer).
 */
export function requiredAnchors(state: Pick<RotationState, 'phase' | 'stopped' | 'rotation'>): Fingerprint[] {
  const rotation = state.rotation;
  if (!rotation) return [];
  const phase = resumePhase(state);
  const required: Fingerprint[] = [];
  if (KEEPS_FROM.has(phase)) required.push(rotation.from.fingerprint);
  if (rotation.to && rotation.promotedAt !== undefined && KEEPS_TO.has(phase)) required.push(rotation.to.fingerprint);
  return required;
}

/**
 * When every target ConfigMap was first seen holding the bundle with this SHA-256 (falling back to
 * its first sighting), truncated to the whole second: pods that read the ConfigMap at start
 * (configMapKeyRef) and started at or after it hold that bundle. Undefined for an unknown bundle.
 */
export function bundleSyncedAt(state: Pick<RotationState, 'knownBundles'>, sha256: string): number | undefined {
  const known = state.knownBundles[sha256];
  if (!known) return undefined;
  return Math.floor(Date.parse(known.syncedAt ?? known.firstSeenAt) / 1000) * 1000;
}

/** What a stop records: why, when, and the gate that missed its deadline (if any). */
export interface StopRecord {
  readonly reason: StopReason;
  readonly message: string;
  readonly at: EpochMs;
  readonly gate?: string;
}

/**
 * The Stopped state a run persists, whoever stops it (a phase, a missed deadline, a failed call):
 * it keeps the phase to resume in, so the old anchor stays trusted until a rerun resumes there.
 */
export function stoppedState(state: RotationState, record: StopRecord): RotationState {
  const { at, gate, ...rest } = record;
  return { ...state, phase: 'Stopped', stopped: { ...rest, phase: resumePhase(state), at: iso(at), ...(gate !== undefined ? { gate } : {}) } };
}
