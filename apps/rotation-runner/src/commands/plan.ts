// `plan`: what a rotation would do now -- phases, which workloads in which order, how many restarts
// -- from the engine's own `plan`, over one snapshot. Writes nothing: no Lease, no state, no Event;
// the only request that is not a read is the proxy-injector's dry-run pod create.
import type { Command } from 'commander';
import { decideOptionsOf, parseState, plan, shortFp, workloadKey, type Plan } from '@linkerd-rotator/rotation';
import type { CommandIO } from '../cli.js';
import { parseClusterConfig, parseRotationFlags, withClusterOptions, withRotationOptions, type RotationFlags } from '../config.js';
import { EXIT, UsageError } from '../exit.js';
import { startWatching, withSession, type Session } from '../session.js';
import { runOptions } from './rotate.js';
import { formatRecovery, recoveryJson } from '../recovery-report.js';

export async function makePlan(session: Session, flags: RotationFlags): Promise<Plan | { error: string }> {
  const { adapter, config } = session;
  const parsed = parseState((await adapter.state.read())?.data);
  if (!parsed.ok) return { error: parsed.message };
  await startWatching(session);
  const snapshot = await adapter.reader.readSnapshot();
  return plan(snapshot, parsed.state, decideOptionsOf(runOptions(config, flags)));
}

/** Plans are JSON-ready except `next`, whose state is the engine's; keep what a reader needs. */
export function planJson(p: Plan): object {
  const next = p.next;
  return {
    rotates: p.rotates,
    summary: p.summary,
    phase: p.phase,
    ...(p.from ? { from: p.from } : {}),
    ...(p.to ? { to: p.to } : {}),
    ...(p.strategy ? { strategy: p.strategy } : {}),
    ...(p.strategyNote ? { strategyNote: p.strategyNote } : {}),
    steps: p.steps.map((s) => ({ phase: s.phase, kind: s.kind, description: s.description, ...(s.tier ? { tier: s.tier } : {}), ...(s.workloads ? { workloads: s.workloads.map(workloadKey) } : {}) })),
    rolls: p.rolls,
    blockers: p.blockers,
    ...(p.recovery ? { recovery: recoveryJson(p.recovery) } : {}),
    next:
      next.kind === 'action'
        ? { kind: 'action', action: next.action.kind, summary: next.summary }
        : next.kind === 'gate'
          ? { kind: 'gate', gate: next.gate.name, summary: next.gate.summary }
          : next.kind === 'done'
            ? { kind: 'done', summary: next.summary }
            : { kind: 'stop', reason: next.reason, message: next.message },
  };
}

export function formatPlan(p: Plan, verbose: boolean): string {
  const out = p.recovery ? formatRecovery(p.recovery, verbose) : [];
  out.push(`${p.rotates ? 'Plan' : 'No rotation'}: ${p.summary}`);
  if (p.rotates) {
    if (p.from) out.push(`  from ${shortFp(p.from)} to ${p.to ? shortFp(p.to) : '(a new anchor cert-manager will issue)'}`);
    if (p.strategy) out.push(`Strategy: ${p.strategy}${p.strategyNote ? ` (${p.strategyNote})` : ''}`);
    let phase = '';
    for (const step of p.steps) {
      if (step.phase !== phase) {
        phase = step.phase;
        out.push(`${phase}:`);
      }
      out.push(`  - ${step.description}`);
      if (step.workloads) {
        const shown = verbose ? step.workloads : step.workloads.slice(0, 10);
        for (const w of shown) out.push(`      ${workloadKey(w)}`);
        if (shown.length < step.workloads.length) out.push(`      ... and ${step.workloads.length - shown.length} more (--verbose lists all)`);
      }
    }
    out.push(`Restarts: ${p.rolls.total} (TrustBoth ${p.rolls.byPhase.TrustBoth}, Promote ${p.rolls.byPhase.Promote}, Retire ${p.rolls.byPhase.Retire}; control plane ${p.rolls.byTier['control-plane']}, extensions ${p.rolls.byTier.extension}, data plane ${p.rolls.byTier['data-plane']})`);
  }
  for (const b of p.blockers) out.push(`Blocker (${b.phase}): ${b.message}`);
  const next = p.next;
  out.push(`Next: ${next.kind === 'action' ? next.summary : next.kind === 'gate' ? `wait: ${next.gate.summary}` : next.kind === 'done' ? next.summary : `stop (${next.reason}): ${next.message}`}`);
  return out.join('\n') + '\n';
}

export function registerPlan(program: Command, io: CommandIO, setExitCode: (code: number) => void): void {
  const command = program
    .command('plan')
    .description('print what a rotation would do now (phases, workloads in order, number of restarts); changes nothing')
    .option('--output <format>', 'text or json', 'text')
    .option('--verbose', 'list every workload');
  withRotationOptions(withClusterOptions(command)).action(async (opts: Record<string, unknown>) => {
    if (opts['output'] !== 'text' && opts['output'] !== 'json') throw new UsageError(`--output must be text or json, got ${String(opts['output'])}`);
    const config = parseClusterConfig(opts);
    const flags = parseRotationFlags(opts);
    const code = await withSession({ command: 'plan', config, io, strictInjector: false }, async (session) => {
      const result = await makePlan(session, flags);
      if ('error' in result) {
        session.logger.error({}, result.error);
        return EXIT.stopped;
      }
      io.out(opts['output'] === 'json' ? `${JSON.stringify(planJson(result))}\n` : formatPlan(result, opts['verbose'] === true));
      return EXIT.ok;
    });
    setExitCode(code);
  });
}
