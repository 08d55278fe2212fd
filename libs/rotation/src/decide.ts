// The rotation state machine: from a fresh snapshot and the persisted state, the one next step.
// Pure and idempotent: "already done?" is read from the cluster, so a killed run resumes exactly.
import type { Decision } from './decision.js';
import type { DecideOptions } from './options.js';
import type { RotationState } from './state.js';
import { shortFp, type ClusterSnapshot } from './snapshot.js';
import { learnBundles } from './trust.js';
import { issuerSignerOnActive } from './gates/issuer-signer.js';
import { decideContext, stop, type DecideContext, type RotationContext } from './phases/context.js';
import { decideIdle } from './phases/idle.js';
import { decidePrepare } from './phases/prepare.js';
import { decidePromote } from './phases/promote.js';
import { decideRetire } from './phases/retire.js';
import { resumeStopped } from './phases/resume.js';
import { decideTrustBoth } from './phases/trust-both.js';
import { decideRecover, startRecovery } from './phases/recover.js';

/**
 * The next step of the rotation. `options` should come from `resolveOptions`. Deadlines are the
 * caller's: a Gate names what is awaited so the caller can stop safely when its deadline passes.
 */
export function decide(snapshot: ClusterSnapshot, state: RotationState, options: DecideOptions): Decision {
  const context = decideContext(snapshot, { ...state, knownBundles: learnBundles(state.knownBundles, snapshot) }, options);
  const recovery = startRecovery(context);
  if (recovery) return recovery;
  switch (state.phase) {
    case 'Idle':
    case 'Done':
      return decideIdle(context);
    case 'Stopped':
      return resumeStopped(context);
    case 'Prepare':
    case 'TrustBoth':
    case 'Promote':
    case 'Retire':
      return decideRotation(context, state.phase);
    case 'Recover':
      return decideRecover(context);
  }
}

/** A rotation under way: its record and the active anchor must exist, and past Prepare, a target. */
function decideRotation(context: DecideContext, phase: 'Prepare' | 'TrustBoth' | 'Promote' | 'Retire'): Decision {
  const rotation = context.state.rotation;
  if (!rotation) {
    return stop(context, 'state-invalid', `expected rotation details in phase ${phase}, found none; repair the state ConfigMap or reset it to Idle only if the bundle still holds the active anchor`);
  }
  const active = context.snapshot.active;
  if (!active) {
    return stop(context, 'anchor-secret-missing', `expected ${context.objects.activeSecret} (anchor ${shortFp(rotation.from.fingerprint)} or ${shortFp(rotation.to?.fingerprint)}), found none; restore it from a backup before rerunning`);
  }
  const inRotation: RotationContext = { ...context, rotation, active };
  const signer = issuerSignerOnActive(context);
  if (signer) return signer;
  if (phase === 'Prepare') return decidePrepare(inRotation);
  const to = rotation.to?.fingerprint;
  if (to === undefined) return stop(context, 'state-invalid', `expected a target anchor in phase ${phase}, found none; repair the state ConfigMap`);
  if (phase === 'TrustBoth') return decideTrustBoth(inRotation, to);
  if (phase === 'Promote') return decidePromote(inRotation, to);
  return decideRetire(inRotation, to);
}
