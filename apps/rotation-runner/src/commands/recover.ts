// `recover`: bring back a mesh in an expiry incident (an expired issuer or anchor, or an active anchor
// gone from the bundle) by the engine's phase Recover; refuses on a healthy mesh, and asks for --yes
// unless the CronJob runs it with chart value recover.auto (RECOVER_AUTO=true).
import type { Command } from 'commander';
import { parseState, recoverRefusal, recoveryPlan, decideOptionsOf } from '@linkerd-rotator/rotation';
import type { CommandIO } from '../cli.js';
import { parseClusterConfig, parseRotationFlags, withClusterOptions, withRotationOptions, type RotationFlags } from '../config.js';
import { EXIT, UsageError } from '../exit.js';
import { formatRecovery } from '../recovery-report.js';
import { startWatching, withSession, type Session } from '../session.js';
import { exitCodeOf, formatRotateReport, rotate, runOptions, type RotateReport } from './rotate.js';

/** Refused (nothing written), or the run's report. */
export type RecoverOutcome = { readonly refused: string } | { readonly report: RotateReport };

export async function recover(session: Session, flags: RotationFlags): Promise<RecoverOutcome> {
  const { adapter, config } = session;
  const parsed = parseState((await adapter.state.read())?.data);
  if (!parsed.ok) return { refused: parsed.message };
  await startWatching(session);
  const snapshot = await adapter.reader.readSnapshot();
  const options = decideOptionsOf({ ...runOptions(config, flags), recover: true });
  const refusal = recoverRefusal(snapshot, parsed.state, options);
  if (refusal !== undefined) return { refused: refusal };
  const plan = recoveryPlan(snapshot, options);
  if (plan) session.logger.info({ case: plan.diagnosis.case }, formatRecovery(plan, false).join('\n'));
  return { report: await rotate(session, flags, 'recover') };
}

export function registerRecover(program: Command, io: CommandIO, setExitCode: (code: number) => void): void {
  const command = program
    .command('recover')
    .description('recover a mesh whose identity issuer or trust anchor expired, or whose active anchor is gone (docs/rotation.md "Recover"); refuses on a healthy mesh')
    .option('--yes', 'recover now: it restarts the identity controller and, for an anchor, every meshed workload')
    .option('--output <format>', 'final report: text or json', 'text');
  withRotationOptions(withClusterOptions(command)).action(async (opts: Record<string, unknown>) => {
    if (opts['output'] !== 'text' && opts['output'] !== 'json') throw new UsageError(`--output must be text or json, got ${String(opts['output'])}`);
    const flags = parseRotationFlags(opts);
    if (opts['yes'] !== true && !flags.recoverAuto) {
      throw new UsageError('expected --yes (recovery restarts the identity controller and, for an expired or missing anchor, every meshed workload), found none; run `rotator plan` to see what it would do, then `rotator recover --yes` (the CronJob recovers by itself with chart value recover.auto=true)');
    }
    const config = parseClusterConfig(opts);
    const code = await withSession({ command: 'recover', config, io, budgetTimeoutMs: flags.phaseTimeout }, async (session) => {
      const outcome = await recover(session, flags);
      if ('refused' in outcome) {
        session.logger.error({}, outcome.refused);
        io.err(`refused: ${outcome.refused}\n`);
        return EXIT.stopped;
      }
      io.out(opts['output'] === 'json' ? `${JSON.stringify(outcome.report)}\n` : formatRotateReport(outcome.report));
      return exitCodeOf(outcome.report);
    });
    setExitCode(code);
  });
}
