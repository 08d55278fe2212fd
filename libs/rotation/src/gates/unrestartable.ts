// Stop `pods-not-restartable`: meshed pods a rotation must restart whose controller a restart does not
// replace (OnDelete, a partition, paused, another controller), named with what to do, before any write.
import type { Blocker, Decision } from '../decision.js';
import { MAX_LISTED, stop, type DecideContext } from '../phases/context.js';
import type { ClusterSnapshot } from '../snapshot.js';
import { cannotRestart, rollStatus } from '../workloads.js';

/**
 * The blockers no wait resolves, one entry per controller (its first pod's message and how many more
 * of its pods), capped at MAX_LISTED controllers; undefined when there is none.
 */
export function unrestartableSummary(blockers: readonly Blocker[]): { readonly pods: number; readonly text: string } | undefined {
  const stuck = cannotRestart(blockers);
  if (stuck.length === 0) return undefined;
  const byController = new Map<string, { first: Blocker; more: number }>();
  for (const blocker of stuck) {
    const key = `${blocker.namespace}/${blocker.owner}/${blocker.ownerName ?? ''}`;
    const seen = byController.get(key);
    if (seen) seen.more += 1;
    else byController.set(key, { first: blocker, more: 0 });
  }
  const controllers = [...byController.values()];
  const listed = controllers.slice(0, MAX_LISTED).map(({ first, more }) => (more > 0 ? `${first.message} (${more} more of its pods)` : first.message));
  const rest = controllers.length > MAX_LISTED ? `; and ${controllers.length - MAX_LISTED} more controller(s): run plan to list them` : '';
  return { pods: stuck.length, text: `${listed.join('; ')}${rest}` };
}

/** Every meshed pod no restart by the rotator replaces, whether or not a rotation needs it restarted (for `status`). */
export function unrestartablePods(snapshot: ClusterSnapshot): Blocker[] {
  return cannotRestart(rollStatus(snapshot, { fresh: () => ({ fresh: false, why: 'is meshed' }), baseline: Number.POSITIVE_INFINITY, maxConcurrent: 1 }).blockers);
}

/** Undefined when every blocker can be waited out (Job and bare pods); else the stop. `restarting` says who restarts them ("a rotation ... restarts"). */
export function unrestartableStop(context: DecideContext, blockers: readonly Blocker[], restarting: string): Decision | undefined {
  const summary = unrestartableSummary(blockers);
  if (!summary) return undefined;
  return stop(context, 'pods-not-restartable', `expected every meshed pod ${restarting} to be replaced by a restart of its controller, found ${summary.pods} pod(s) that are not: ${summary.text}`);
}
