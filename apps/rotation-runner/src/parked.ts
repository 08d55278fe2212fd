// A rotation parked on a long gate (`resumeLater`: the run ended with exit 0, the next scheduled run
// resumes): when the gate opens and what it awaits, read from the engine's own `decide`, never re-derived.
import { decide, type ClusterSnapshot, type DecideOptions, type GateName, type RotationState } from '@linkerd-rotator/rotation';

export interface ParkedRotation {
  readonly gate: GateName;
  /** When the gate opens (the gate's `notBefore`); a run at or after it resumes. */
  readonly until: number;
  /** What it waits for, in a few words ("every leaf chained only to ... to expire (...)"). */
  readonly awaits: string;
}

/** The rotation in `state` is parked when `decide` on this snapshot returns a resumeLater gate that has not opened. */
export function parkedRotation(snapshot: ClusterSnapshot, state: RotationState, options: DecideOptions): ParkedRotation | undefined {
  const decision = decide(snapshot, state, options);
  if (decision.kind !== 'gate') return undefined;
  const { gate } = decision;
  if (!gate.resumeLater || gate.notBefore === undefined || snapshot.observedAt >= gate.notBefore) return undefined;
  return { gate: gate.name, until: gate.notBefore, awaits: awaitsOf(gate.summary, gate.notBefore) };
}

/**
 * The gate's summary without the parts this runner says itself: a leading "waiting until <T> for "
 * and a trailing "; a later run resumes". A summary worded otherwise is kept whole.
 */
function awaitsOf(summary: string, until: number): string {
  const lead = `waiting until ${new Date(until).toISOString()} for `;
  const body = summary.startsWith(lead) ? summary.slice(lead.length) : summary;
  return body.replace(/; a later run resumes$/, '');
}

/** The one line both `rotate` and `status` print for a parked rotation. */
export function formatParked(parked: Pick<ParkedRotation, 'until' | 'awaits'>): string {
  return `waiting until ${new Date(parked.until).toISOString()} for ${parked.awaits}; the next scheduled run resumes`;
}
