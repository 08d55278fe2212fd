// `fleet plan` and `fleet status` (docs/multicluster.md, issue 17), as text or JSON: per cluster with
// the single-cluster `plan` and `status` reports, then the fleet's total, its record (kept in the
// primary's state) and its next move (libs/rotation `planFleet`/`nextFleetStep`: the driver run dry).
// Pure, so it is tested without a cluster; commands/fleet.ts reads the clusters.
import { shortFp, workloadKey, type FleetNext, type FleetPlan, type FleetRotationRecord } from '@linkerd-rotator/rotation';
import { formatPlan, planJson } from './commands/plan.js';
import { EXIT } from './exit.js';
import type { FleetFlags } from './fleet-report.js';
import { formatReport, type StatusReport } from './status-report.js';

const indent = (text: string, by = '    ') =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => `${by}${l}`)
    .join('\n');

function rotationLine(r: FleetRotationRecord | undefined, primary: string): string {
  if (!r) return `Rotation:   none recorded in ${primary}'s state (no fleet rotation has started there)`;
  return `Rotation:   ${r.id}: ${shortFp(r.from)} -> ${r.to ? shortFp(r.to) : '(B not issued yet)'} (strategy ${r.strategy}${r.crossSignature ? `, X ${shortFp(r.crossSignature)}` : ''}), fleet phase ${r.phase}, started ${r.startedAt}`;
}

/** The driver's next move, one line and the details below it. */
export function formatNext(next: FleetNext, verbose: boolean): string[] {
  const out: string[] = [];
  for (const t of next.transitions) out.push(`  record ${t.cluster}: ${t.from} -> ${t.to} (${t.why})`);
  switch (next.outcome) {
    case 'act': {
      const a = next.action;
      if (!a) break;
      out.push(`  act    ${a.cluster} (${a.phase}): ${a.summary}`);
      const shown = verbose ? (a.workloads ?? []) : (a.workloads ?? []).slice(0, 10);
      for (const w of shown) out.push(`      ${workloadKey(w)}`);
      if (a.workloads && shown.length < a.workloads.length) out.push(`      ... and ${a.workloads.length - shown.length} more (--verbose lists all)`);
      break;
    }
    case 'wait':
      for (const w of next.waits) {
        out.push(`  wait   ${w.cluster} (${w.phase}) at ${w.gate}, held by ${w.blockedBy.join(', ')}: ${w.summary}`);
        const missing = verbose ? w.missing : w.missing.slice(0, 5);
        for (const m of missing) out.push(`      - ${m}`);
        if (missing.length < w.missing.length) out.push(`      ... and ${w.missing.length - missing.length} more (--verbose lists all)`);
      }
      break;
    case 'resume-later':
      out.push(`  wait   ${next.message} (a run at or after ${new Date(next.resumeAt ?? 0).toISOString()} resumes)`);
      break;
    case 'done':
      out.push(`  done   ${next.message}`);
      break;
    default:
      out.push(`  stop   ${next.stop?.cluster ?? '(fleet)'}: ${next.stop?.reason}: ${next.message}`);
  }
  return out;
}

function totalLine(p: FleetPlan): string {
  const t = p.total;
  return `Total:      ${t.rolls} workload restart(s) in ${p.clusters.length} cluster(s) (TrustBoth ${t.byPhase.TrustBoth}, Promote ${t.byPhase.Promote}, Retire ${t.byPhase.Retire}; control plane ${t.byTier['control-plane']}, extensions ${t.byTier.extension}, data plane ${t.byTier['data-plane']})`;
}

export function formatFleetPlan(p: FleetPlan, verbose: boolean): string {
  const out = [`Fleet:      primary ${p.primary}, member(s) ${p.members.join(', ')}`, rotationLine(p.rotation, p.primary), 'Next (what `fleet run` would do now):', ...formatNext(p.next, verbose)];
  for (const c of p.clusters) {
    out.push(`== ${c.cluster} (${c.role})`);
    if (!c.reachable) out.push(`    UNREACHABLE: ${c.error}`);
    else if (c.stateProblem) out.push(`    PROBLEM: ${c.stateProblem}`);
    else if (c.plan) out.push(indent(formatPlan(c.plan, verbose)));
  }
  out.push(totalLine(p));
  return out.join('\n') + '\n';
}

export function fleetPlanJson(p: FleetPlan): object {
  return { ...p, clusters: p.clusters.map((c) => ({ ...c, ...(c.plan ? { plan: planJson(c.plan) } : {}) })) };
}

/** `fleet plan`: 4 when a cluster could not be read, 1 when a state does not validate, else 0. */
export function fleetPlanExitCode(p: FleetPlan): number {
  if (p.clusters.some((c) => !c.reachable)) return EXIT.cluster;
  return p.clusters.some((c) => c.stateProblem) ? EXIT.stopped : EXIT.ok;
}

export interface FleetClusterStatus {
  readonly cluster: string;
  readonly role: 'primary' | 'member';
  readonly reachable: boolean;
  readonly error?: string;
  /** The cluster's phase: in the fleet record while a rotation is recorded, else its own state's. */
  readonly phase?: string;
  /** When its identity was seen running the issuer under B (the fleet record). */
  readonly identityFreshAt?: string;
  readonly report?: StatusReport;
}

export interface FleetStatus {
  readonly primary: string;
  readonly members: readonly string[];
  /** The fleet record in the primary's state. */
  readonly rotation?: FleetRotationRecord;
  readonly clusters: readonly FleetClusterStatus[];
  /** What a `fleet run` would do now: its action, or the gates the fleet waits on and the clusters that hold them. */
  readonly next: FleetNext;
}

/** The fleet's status from each cluster's status report (or its error) and the primary's fleet record. */
export function buildFleetStatus(flags: FleetFlags, reads: readonly ({ cluster: string; report: StatusReport } | { cluster: string; error: string })[], rotation: FleetRotationRecord | undefined, next: FleetNext): FleetStatus {
  const clusters = reads.map((r): FleetClusterStatus => {
    const role = r.cluster === flags.primary ? 'primary' : 'member';
    if ('error' in r) return { cluster: r.cluster, role, reachable: false, error: r.error };
    const recorded = rotation?.clusters[r.cluster];
    const phase = recorded?.phase ?? r.report.rotation.phase;
    return { cluster: r.cluster, role, reachable: true, phase, ...(recorded?.identityFreshAt ? { identityFreshAt: recorded.identityFreshAt } : {}), report: r.report };
  });
  return { primary: flags.primary, members: [...flags.members], ...(rotation ? { rotation } : {}), clusters, next };
}

/** `fleet status`: 4 when a cluster could not be read (as `check --fleet`), else 0 whatever it finds. */
export function fleetStatusExitCode(s: FleetStatus): number {
  return s.clusters.some((c) => !c.reachable) ? EXIT.cluster : EXIT.ok;
}

export function formatFleetStatus(s: FleetStatus, verbose: boolean): string {
  const out = [`Fleet:      primary ${s.primary}, member(s) ${s.members.join(', ')}`, rotationLine(s.rotation, s.primary)];
  const width = Math.max(...s.clusters.map((c) => c.cluster.length + (c.role === 'primary' ? 10 : 0)));
  for (const c of s.clusters) {
    const name = `${c.cluster}${c.role === 'primary' ? ' (primary)' : ''}`.padEnd(width);
    if (!c.reachable) out.push(`  ${name}  UNREACHABLE (${c.error})`);
    else {
      const own = c.report?.rotation;
      const stopped = own?.stoppedReason ? `, stopped (${own.stoppedReason})` : '';
      out.push(`  ${name}  phase ${c.phase}${stopped}${c.identityFreshAt ? `  (identity on the new anchor since ${c.identityFreshAt})` : ''}`);
    }
  }
  const stop = s.rotation?.stopped;
  if (stop) out.push(`Stopped:    ${stop.cluster}: ${stop.reason} at ${stop.at}: ${stop.message}`);
  out.push('Next (what `fleet run` would do now):', ...formatNext(s.next, verbose));
  for (const c of s.clusters) {
    if (!c.report) continue;
    out.push(`== ${c.cluster} (${c.role})`, indent(formatReport(c.report, verbose)));
  }
  return out.join('\n') + '\n';
}
