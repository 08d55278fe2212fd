// How `plan` and `status` show an expiry incident and what `recover` would do about it (libs/rotation
// recovery.ts decides both); one formatter, so the two commands say the same thing.
import { shortFp, workloadKey, type RecoveryPlan } from '@linkerd-rotator/rotation';

/** The JSON form of a recovery plan: workloads as `Kind/namespace/name`, in restart order. */
export interface RecoveryJson {
  case: string;
  why: string;
  steps: string[];
  restarts: Array<{ what: string; workloads: string[] }>;
  erroring: { pods: string[]; why: string };
}

export function recoveryJson(plan: RecoveryPlan): RecoveryJson {
  return {
    case: plan.diagnosis.case,
    why: plan.diagnosis.why,
    steps: [...plan.steps],
    restarts: plan.restarts.map((r) => ({ what: r.what, workloads: r.workloads.map(workloadKey) })),
    erroring: { pods: [...plan.erroring.pods], why: plan.erroring.why },
  };
}

const RESTART_TITLES: Readonly<Record<string, string>> = {
  identity: 'first, the identity controller',
  'control-plane': 'then the control plane',
  extension: 'then the extensions',
  'data-plane': 'then the data plane',
  'not-ready': 'only if still not Ready after the grace period',
};

/** Text lines: the case, the steps, the restarts in order, and the pods that see errors until then. */
export function formatRecovery(plan: RecoveryPlan | RecoveryJson, verbose: boolean): string[] {
  const json = 'diagnosis' in plan ? recoveryJson(plan) : plan;
  const out = [`Expiry incident: ${json.case}: ${json.why}`, 'Recovery (`rotator recover --yes`):'];
  for (const step of json.steps) out.push(`  - ${step}`);
  for (const restart of json.restarts) {
    out.push(`  restart ${RESTART_TITLES[restart.what] ?? restart.what}: ${restart.workloads.length} workload(s)`);
    const shown = verbose ? restart.workloads : restart.workloads.slice(0, 10);
    for (const w of shown) out.push(`      ${w}`);
    if (shown.length < restart.workloads.length) out.push(`      ... and ${restart.workloads.length - shown.length} more (--verbose lists all)`);
  }
  const pods = verbose ? json.erroring.pods : json.erroring.pods.slice(0, 10);
  out.push(`  errors until recovery reaches them: ${json.erroring.pods.length} meshed pod(s) (${json.erroring.why})${pods.length > 0 ? `: ${pods.join(', ')}${pods.length < json.erroring.pods.length ? ', ...' : ''}` : ''}`);
  return out;
}

/** One line for a finding. */
export function recoveryFinding(plan: RecoveryPlan): string {
  return `expiry incident ${plan.diagnosis.case}: ${plan.diagnosis.why}; the mesh fails handshakes until it is recovered: run \`rotator plan\` to see what recovery does, then \`rotator recover --yes\` (docs/rotation.md "Recover"; anchor ${shortFp(plan.diagnosis.active)})`;
}
