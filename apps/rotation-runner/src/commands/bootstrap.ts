// `bootstrap`: the chart's post-install/post-upgrade hook. Waits for cert-manager to issue the
// prepared anchor, then creates the active and previous anchor Secrets from it when they are
// missing, through the engine (which refuses to adopt an anchor the identity issuer does not chain
// to). Changes no certificate; a rotation in progress is left to `rotate`.
import type { Command } from 'commander';
import { anchorFactsOf, wakeOn } from '@linkerd-rotator/kube/rotation';
import { isUnderWay, parseState, resumePhase, runRotation, shortFp, type RotationState, type RunResult } from '@linkerd-rotator/rotation';
import { Option } from 'commander';
import type { CommandIO } from '../cli.js';
import { parseClusterConfig, parseDuration, withClusterOptions } from '../config.js';
import { EXIT, UsageError } from '../exit.js';
import { progressLogger } from '../logging.js';
import { startWatching, withSession, type Session } from '../session.js';

/**
 * A bootstrap that wrote both runner Secrets and then stopped only because the identity issuer's
 * signer is not the active Secret yet (issuer-signer-not-active): the adoption flow's first step,
 * whose second step points the issuer Certificate at the chart's ClusterIssuer. Bootstrap succeeded;
 * the stop stays recorded, so `rotate` (and the alert on stops) keep saying it until it is fixed.
 */
export function signerNotYetOnActive(result: Pick<RunResult, 'outcome' | 'reason'>, bootstrapped: boolean): boolean {
  return bootstrapped && result.outcome === 'stopped' && result.reason === 'issuer-signer-not-active';
}

/**
 * Why bootstrap has nothing to do in a cluster the fleet driver keeps (its state carries the fleet
 * record), or undefined. The chart's hook runs after every `helm upgrade` of a fleet's primary: the
 * engine refuses a fleet state (state-invalid), which would fail every upgrade, and the anchors are
 * the fleet driver's to write (docs/multicluster.md).
 */
export function fleetBootstrapSkip(state: Pick<RotationState, 'fleet'>): string | undefined {
  const fleet = state.fleet;
  if (!fleet) return undefined;
  const role = fleet.role === 'member' ? `a member of the fleet of primary ${fleet.primary}` : `the primary ${fleet.primary} of a fleet`;
  return `this cluster is ${role}: the fleet driver (\`rotator fleet run --primary ${fleet.primary} --member ...\`) keeps its anchor Secrets; bootstrap has nothing to do`;
}

export async function bootstrap(session: Session, waitMs: number): Promise<number> {
  const { adapter, config, logger } = session;
  const n = config.names;
  const parsed = parseState((await adapter.state.read())?.data);
  if (!parsed.ok) {
    logger.error({}, parsed.message);
    return EXIT.stopped;
  }
  const skip = fleetBootstrapSkip(parsed.state);
  if (skip) {
    logger.info({ fleet: parsed.state.fleet?.role }, skip);
    return EXIT.ok;
  }
  const phase = resumePhase(parsed.state);
  if (isUnderWay(phase)) {
    logger.info({ phase }, `a ${phase === 'Recover' ? 'recovery' : 'rotation'} is in progress (phase ${phase}); bootstrap has nothing to do, \`${phase === 'Recover' ? 'recover --yes' : 'rotate'}\` resumes it`);
    return EXIT.ok;
  }
  // An active Secret written before anchor.crt existed gets it (the chart's Bundle reads it); this
  // hook runs after every upgrade, so the bundle's SourceNotFound lasts only until here.
  if ((await adapter.anchors.addAnchorKey()) === 'added') logger.info({}, 'active anchor Secret upgraded: the trust bundle reads anchor.crt now');
  await startWatching(session);
  const prepared = () => anchorFactsOf(adapter.cache.preparedSecret.get(n.trustNamespace, n.preparedAnchorSecret));
  if (!prepared()) {
    logger.info({ secret: `${n.trustNamespace}/${n.preparedAnchorSecret}` }, 'waiting for cert-manager to issue the prepared anchor');
    const issued = await wakeOn(async () => prepared() !== undefined, { collections: adapter.cache.forSource('prepared-anchor'), deadline: adapter.context.now() + waitMs, now: adapter.context.now });
    if (!issued) {
      logger.error(
        { secret: `${n.trustNamespace}/${n.preparedAnchorSecret}` },
        `expected cert-manager to issue Secret ${n.trustNamespace}/${n.preparedAnchorSecret} within ${Math.round(waitMs / 1000)}s, found none; check Certificate ${n.trustNamespace}/${n.preparedAnchorCertificate} and its Issuer ${n.trustRootIssuer}, then run bootstrap again`,
      );
      return EXIT.stopped;
    }
  }
  const result = await runRotation(adapter.ports, { holder: config.holder, names: config.names, start: 'never', gateTimeoutMs: waitMs, leaseDurationMs: config.leaseDurationMs }, progressLogger(logger));
  if (result.outcome === 'refused') return EXIT.leaseHeld;
  const active = anchorFactsOf(adapter.cache.activeSecret.get(n.trustNamespace, n.activeAnchorSecret));
  const previous = anchorFactsOf(adapter.cache.previousSecret.get(n.trustNamespace, n.previousAnchorSecret));
  if (signerNotYetOnActive(result, active !== undefined && previous !== undefined)) {
    // Bootstrap's own work is done; the signer is the adoption flow's second step (chart README).
    // The state records the stop, so `rotate` stops on it (and alerts) until the signer is fixed.
    logger.warn(
      { active: shortFp(active?.fingerprint), previous: shortFp(previous?.fingerprint), reason: result.reason },
      `bootstrapped, but no rotation can run yet: ${result.message}`,
    );
    return EXIT.ok;
  }
  if (result.outcome !== 'done') return EXIT.stopped;
  logger.info({ active: shortFp(active?.fingerprint), previous: shortFp(previous?.fingerprint), actions: result.actions }, result.actions > 0 ? 'bootstrapped' : 'already bootstrapped: nothing changed');
  return EXIT.ok;
}

export function registerBootstrap(program: Command, io: CommandIO, setExitCode: (code: number) => void): void {
  const command = program
    .command('bootstrap')
    .description('create the active and previous anchor Secrets from the prepared anchor when they are missing (adopts a cluster set up from Linkerd\'s docs); idempotent')
    .addOption(new Option('--wait <duration>', 'how long to wait for cert-manager to issue the prepared anchor').env('BOOTSTRAP_WAIT').default('4m'));
  withClusterOptions(command).action(async (opts: Record<string, unknown>) => {
    const config = parseClusterConfig(opts);
    let waitMs: number;
    try {
      waitMs = parseDuration(String(opts['wait']));
    } catch (err) {
      throw new UsageError(`--wait ${(err as Error).message}`);
    }
    setExitCode(await withSession({ command: 'bootstrap', config, io, strictInjector: false }, (session) => bootstrap(session, waitMs)));
  });
}
