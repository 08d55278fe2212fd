// What every phase of `decide` works from (the snapshot, the state, the options, now), and the
// builders of its decisions: act, gate, transition, stop. One place, so every phase decides alike.
import type { Action, Blocker, Decision, Gate, RotationEvent } from '../decision.js';
import { objectRefs, type ObjectRefs } from '../object-refs.js';
import type { DecideOptions } from '../options.js';
import { shortFp, type AnchorFacts, type ClusterSnapshot, type EpochMs, type Fingerprint } from '../snapshot.js';
import { iso, type Phase, type RotationRecord, type RotationState, type StopReason } from '../state.js';
import { stoppedState } from '../rules.js';
import { pruneBundles } from '../trust.js';

/** How many missing items a gate lists; the summary always carries the full count. */
export const MAX_LISTED = 20;

export interface DecideContext {
  readonly snapshot: ClusterSnapshot;
  /** The persisted state with this snapshot's bundles learned. */
  readonly state: RotationState;
  readonly options: DecideOptions;
  /** The snapshot's time: `decide` never reads a clock. */
  readonly now: EpochMs;
  /** The install's objects as messages name them (from `options.names`). */
  readonly objects: ObjectRefs;
}

export function decideContext(snapshot: ClusterSnapshot, state: RotationState, options: DecideOptions): DecideContext {
  return { snapshot, state, options, now: snapshot.observedAt, objects: objectRefs(options.names) };
}

/** A context with a rotation record (also `state.rotation`): a rotation, or a recovery. */
export interface RecordContext extends DecideContext {
  readonly rotation: RotationRecord;
}

/**
 * The Done state after a finished rotation or recovery: the record and any stop cleared, the known
 * bundles pruned, and, when the anchor changed to `to`, the record kept as `last`.
 */
export function finishedState(context: RecordContext, to: Fingerprint | undefined): RotationState {
  const { rotation } = context;
  const { rotation: _done, stopped: _stopped, ...rest } = context.state;
  return {
    ...rest,
    phase: 'Done',
    knownBundles: pruneBundles(context.state.knownBundles, context.snapshot),
    ...(to !== undefined ? { last: { id: rotation.id, from: rotation.from.fingerprint, to, startedAt: rotation.startedAt, finishedAt: iso(context.now), ...(rotation.strategy ? { strategy: rotation.strategy } : {}) } } : {}),
  };
}

/** A phase of a rotation under way: its record and the active anchor it found. */
export interface RotationContext extends RecordContext {
  readonly active: AnchorFacts;
}

/** The same context with the rotation record replaced, in `state.rotation` too. */
export function withRotation<C extends RecordContext>(context: C, rotation: RotationRecord): C {
  return { ...context, rotation, state: { ...context.state, rotation } };
}

/** The same context with some fields of the rotation record changed. */
export function updateRotation<C extends RecordContext>(context: C, changes: Partial<RotationRecord>): C {
  return withRotation(context, { ...context.rotation, ...changes });
}

export function anchorRef(anchor: AnchorFacts): RotationRecord['from'] {
  return { fingerprint: anchor.fingerprint, publicKeyFingerprint: anchor.publicKeyFingerprint };
}

/** An action to carry out, with the state to persist once it is done. */
export function act(decision: { action: Action; state: RotationState; summary: string; event?: RotationEvent }): Decision {
  const { event, ...rest } = decision;
  return { kind: 'action', ...rest, ...(event ? { event } : {}) };
}

/** A gate in the current phase; the state to persist is the context's. */
export function gate(context: DecideContext, awaited: Omit<Gate, 'phase' | 'blockers'> & { blockers?: readonly Blocker[] }): Decision {
  return { kind: 'gate', gate: { ...awaited, phase: context.state.phase, blockers: awaited.blockers ?? [] }, state: context.state };
}

/** Records a move to another phase (or the same one, on a retarget); the phase's roll baseline is dropped. */
export function transition(context: DecideContext, change: { to: Phase; rotation: RotationRecord; why: string }): Decision {
  const { rollBaseline: _baseline, rollBundle: _bundle, waitingUntil: _waiting, ...rest } = change.rotation;
  const rotation: RotationRecord = { ...rest, phaseStartedAt: iso(context.now) };
  const state: RotationState = { ...context.state, phase: change.to, rotation, knownBundles: pruneBundles(context.state.knownBundles, context.snapshot) };
  return act({
    action: { kind: 'record-transition', from: context.state.phase, to: change.to, why: change.why },
    state,
    summary: change.why,
    event: { type: 'Normal', reason: `Rotation${change.to}`, message: change.why },
  });
}

/** Stops the run in a safe, resumable state with a bounded reason and a Warning Event. */
export function stop(context: DecideContext, reason: StopReason, message: string): Decision {
  const state = stoppedState(context.state, { reason, message, at: context.now });
  return { kind: 'stop', reason, message, state, event: { type: 'Warning', reason: 'RotationStopped', message: `${reason}: ${message}` } };
}

/** The active-anchor Secret is not what the state says: something else wrote it. */
export function activeChanged(context: RotationContext, expected: Fingerprint): Decision {
  return stop(
    context,
    'active-anchor-changed',
    `expected ${context.objects.activeSecret} to hold ${shortFp(expected)}, found ${shortFp(context.active.fingerprint)}; something else wrote it: restore ${shortFp(expected)} (the state ConfigMap names it) and run again`,
  );
}

/** A prepared anchor the rotation may move to: a new key, not expired. */
export function usableNewAnchor(anchor: AnchorFacts, oldKey: string, now: EpochMs): boolean {
  return anchor.publicKeyFingerprint !== oldKey && anchor.notAfter > now;
}
