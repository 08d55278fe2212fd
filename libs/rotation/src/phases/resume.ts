// Phase Stopped: the next run records a transition back to the phase the rotation stopped in and
// re-decides from the cluster (docs/rotation.md, "Stopped").
import type { Decision } from '../decision.js';
import { resumePhase } from '../rules.js';
import { act, type DecideContext } from './context.js';

export function resumeStopped(context: DecideContext): Decision {
  const stopped = context.state.stopped;
  const to = resumePhase(context.state);
  const why = stopped ? `resuming after stop (${stopped.reason}: ${stopped.message})` : 'resuming after stop';
  const { stopped: _dropped, ...rest } = context.state;
  return act({
    action: { kind: 'record-transition', from: 'Stopped', to, why },
    state: { ...rest, phase: to },
    summary: why,
    event: { type: 'Normal', reason: 'RotationResumed', message: `resuming in phase ${to}` },
  });
}
