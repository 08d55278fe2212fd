// `check --fleet` (docs/multicluster.md, issue 17): the flags naming the fleet's kubeconfig contexts,
// and the comparison of the clusters' real anchors (libs/rotation `compareFleetAnchors`) as text or
// JSON with check's exit codes. Pure, so it is tested without a cluster; commands/status.ts reads.
import { compareFleetAnchors, formatAnchors, shortFp, type FleetAnchorComparison, type FleetAnchorView, type FleetClusterAnchors } from '@linkerd-rotator/rotation';
import { EXIT, UsageError } from './exit.js';

/** The fleet as `check --fleet` takes it: the primary's context first, then each member's. */
export interface FleetFlags {
  readonly primary: string;
  readonly members: readonly string[];
}

/** Every context in fleet order: the primary, then the members. */
export function fleetContexts(flags: FleetFlags): string[] {
  return [flags.primary, ...flags.members];
}

/**
 * The fleet flags of `check`: undefined without `--fleet`; with it, `--primary` and at least one
 * `--member`, every context once. `--primary`/`--member` without `--fleet` is a usage error too.
 */
export function parseFleetFlags(values: Record<string, unknown>): FleetFlags | undefined {
  const primary = values['primary'] as string | undefined;
  const members = (values['member'] as string[] | undefined) ?? [];
  if (values['fleet'] !== true) {
    if (primary !== undefined || members.length > 0) throw new UsageError('--primary and --member name the clusters of `check --fleet`: add --fleet');
    return undefined;
  }
  return fleetContextFlags(values, {
    command: 'check --fleet',
    primary: 'the kubeconfig context of the cluster the others are compared with',
    member: 'a fleet of one cluster has nothing to compare (run `check` alone)',
  });
}

/** `--primary` and at least one `--member`, every context once; `why` says what each is for in `command`. */
export function fleetContextFlags(values: Record<string, unknown>, why: { command: string; primary: string; member: string }): FleetFlags {
  const primary = values['primary'] as string | undefined;
  const members = (values['member'] as string[] | undefined) ?? [];
  if (primary === undefined) throw new UsageError(`${why.command} needs --primary <context>: ${why.primary}`);
  if (members.length === 0) throw new UsageError(`${why.command} needs at least one --member <context>: ${why.member}`);
  const all = [primary, ...members];
  const twice = all.filter((c, i) => all.indexOf(c) !== i);
  if (twice.length > 0) throw new UsageError(`expected every context once in --primary and --member, found ${[...new Set(twice)].join(', ')} more than once`);
  return { primary, members };
}

export interface FleetReport extends FleetAnchorComparison {
  readonly primary: string;
  readonly members: readonly string[];
  readonly agree: boolean;
}

/** The comparison of the clusters read, in fleet order (the primary is the reference while it answers). */
export function buildFleetReport(flags: FleetFlags, views: readonly FleetAnchorView[]): FleetReport {
  const comparison = compareFleetAnchors(views);
  return { primary: flags.primary, members: [...flags.members], ...comparison, agree: comparison.disagreements.length === 0 };
}

/** check's exit codes: 4 when a cluster could not be read, 1 when the clusters disagree, else 0. */
export function fleetExitCode(report: FleetReport): number {
  if (report.clusters.some((c) => !c.reachable)) return EXIT.cluster;
  return report.agree ? EXIT.ok : EXIT.stopped;
}

function bundlesLine(c: FleetClusterAnchors): string {
  const sets = new Map<string, string[]>();
  for (const b of c.bundles) {
    const key = formatAnchors(b.anchors);
    sets.set(key, [...(sets.get(key) ?? []), b.namespace]);
  }
  if (sets.size === 0) return 'no trust-roots ConfigMap';
  if (sets.size === 1) return `${[...sets.keys()][0]} in ${c.bundles.length} namespace(s)`;
  return [...sets.entries()].map(([set, namespaces]) => `${set} in ${namespaces.join(', ')}`).join('; ');
}

export function formatFleetReport(r: FleetReport): string {
  const out: string[] = [];
  out.push(`Fleet:      ${r.clusters.length} cluster(s), compared with ${r.reference ?? '(none could be read)'}${r.reference !== undefined && r.reference !== r.primary ? ` (the primary ${r.primary} could not be read)` : ''}`);
  const width = Math.max(...r.clusters.map((c) => c.cluster.length + (c.cluster === r.primary ? 10 : 0)));
  for (const c of r.clusters) {
    const name = `${c.cluster}${c.cluster === r.primary ? ' (primary)' : ''}`.padEnd(width);
    if (!c.reachable) out.push(`  ${name}  UNREACHABLE`);
    else out.push(`  ${name}  active ${shortFp(c.active)}${c.crossSignature ? ` (X ${shortFp(c.crossSignature)})` : ''}  prepared ${shortFp(c.prepared)}  bundles ${bundlesLine(c)}`);
  }
  if (r.disagreements.length > 0) {
    out.push('Findings:');
    for (const d of r.disagreements) out.push(`  PROBLEM: ${d.message}`);
  } else out.push('Findings:   none');
  const active = r.clusters.find((c) => c.cluster === r.reference)?.active;
  out.push(`Verdict:    ${r.agree ? `the ${r.clusters.length} clusters agree: active anchor ${shortFp(active)}, the same bundle and prepared anchor${r.clusters.find((c) => c.cluster === r.reference)?.crossSignature ? ' and cross-signature X' : ''}` : `${r.disagreements.length} disagreement(s) in ${new Set(r.disagreements.map((d) => d.cluster)).size} cluster(s)`}`);
  return out.join('\n') + '\n';
}
