// The runner's side of the cross-signed strategy without a cluster: the strategy flags and their
// variables, a run that ends on a long gate (exit 0, "waiting until T"), status and check for a
// rotation parked there, pods relying on a cross-signature, plan's strategy line. Engine: libs/rotation/test.
import { createHash } from 'node:crypto';
import { Command } from 'commander';
import { DEFAULT_OBJECT_NAMES } from '@linkerd-rotator/names';
import { decideOptionsOf, DEFAULT_OPTIONS, expiryMarginOf, initialState, plan, resolveOptions, type ClusterSnapshot, type MeshedPod, type RotationState, type RunResult } from '@linkerd-rotator/rotation';
import { run } from '../src/cli.js';
import { formatPlan, planJson } from '../src/commands/plan.js';
import { endOf, exitCodeOf, formatRotateReport, runOptions, type RotateReport } from '../src/commands/rotate.js';
import { parseClusterConfig, parseParkedFlags, parseRotationFlags, withClusterOptions, withParkedOptions, withRotationOptions } from '../src/config.js';
import { parkedRotation } from '../src/parked.js';
import { buildReport, DEFAULT_THRESHOLDS, formatReport, type ReportInput } from '../src/status-report.js';
import { optionsWithEnv } from './with-env.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse('2026-03-01T12:00:00Z');
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const fp = (label: string) => sha256(`cert:${label}`);
const hashOf = (labels: readonly string[]) => sha256(labels.map(fp).sort().join('\n'));
const iso = (ms: number) => new Date(ms).toISOString();

/** Parses argv and the environment as `rotate` does; returns the command's values. */
function valuesOf(argv: string[], env: NodeJS.ProcessEnv, decorate: (command: Command) => Command = withRotationOptions): Record<string, unknown> {
  return optionsWithEnv(decorate(withClusterOptions(new Command('x').exitOverride())), argv, env);
}

describe('strategy flags (rotate and plan)', () => {
  it('default to the engine: cross-signed, no roll after promotion, its cross-sign margin', () => {
    expect(parseRotationFlags({})).toMatchObject({ strategy: 'cross-signed', rollAfterPromote: false, crossSignMargin: DEFAULT_OPTIONS.crossSignMarginMs });
    expect(DEFAULT_OPTIONS.crossSignMarginMs).toBe(7 * DAY);
  });

  it('say the default in --help, and that gentle mode is for restart', () => {
    const help = withRotationOptions(new Command('rotate')).helpInformation().replace(/\s+/g, ' ');
    expect(help).toContain('--strategy <strategy> how a rotation this run starts keeps the mesh whole: cross-signed or restart (default cross-signed; restart for a compromised anchor)');
    expect(help).toMatch(/--gentle strategy restart \(or cross-signed with --roll-after-promote\): after promotion, wait one leaf lifetime/);
    expect(help).toContain('(default 7d)');
  });

  it('read the flags, a flag winning over its variable', () => {
    const flags = parseRotationFlags(valuesOf(['--strategy', 'cross-signed', '--roll-after-promote', '--cross-sign-margin', '72h'], { STRATEGY: 'restart', CROSS_SIGN_MARGIN: '1h' }));
    expect(flags).toMatchObject({ strategy: 'cross-signed', rollAfterPromote: true, crossSignMargin: 72 * HOUR });
  });

  it('read STRATEGY, ROLL_AFTER_PROMOTE and CROSS_SIGN_MARGIN; ROLL_AFTER_PROMOTE=false means false', () => {
    expect(parseRotationFlags(valuesOf([], { STRATEGY: 'cross-signed', ROLL_AFTER_PROMOTE: 'true', CROSS_SIGN_MARGIN: '10d' }))).toMatchObject({ strategy: 'cross-signed', rollAfterPromote: true, crossSignMargin: 10 * DAY });
    expect(parseRotationFlags(valuesOf([], { ROLL_AFTER_PROMOTE: 'false' })).rollAfterPromote).toBe(false);
    expect(parseRotationFlags(valuesOf(['--roll-after-promote', 'false'], { ROLL_AFTER_PROMOTE: 'true' })).rollAfterPromote).toBe(false);
  });

  it('name each bad value in one error', () => {
    expect(() => parseRotationFlags({ strategy: 'sideways' })).toThrow('invalid option: --strategy expected cross-signed or restart, found "sideways"; restart for a compromised anchor (docs/runner.md, "Strategies")');
    expect(() => parseRotationFlags({ rollAfterPromote: 'yes' })).toThrow('--roll-after-promote expected true or false, found "yes"; pass the flag alone, or true or false');
    expect(() => parseRotationFlags({ crossSignMargin: 'a week', strategy: 'both' })).toThrow(/--strategy expected cross-signed or restart, found "both".*--cross-sign-margin expected a duration/);
  });

  it('are passed into the engine options', () => {
    const config = parseClusterConfig(valuesOf(['--holder', 'runner-0'], {}), {});
    const options = decideOptionsOf(runOptions(config, parseRotationFlags({ strategy: 'cross-signed', rollAfterPromote: true, crossSignMargin: '3d' })));
    expect(options).toMatchObject({ strategy: 'cross-signed', rollAfterPromote: true, crossSignMarginMs: 3 * DAY });
    expect(decideOptionsOf(runOptions(config, parseRotationFlags({}))).strategy).toBe('cross-signed');
    expect(decideOptionsOf(runOptions(config, parseRotationFlags({ strategy: 'restart' }))).strategy).toBe('restart');
  });

  it('--restart-concurrency (RESTART_CONCURRENCY) reaches the runner, the flag winning; unset, 10', () => {
    const config = parseClusterConfig(valuesOf(['--holder', 'runner-0'], {}), {});
    const options = (argv: string[], env: NodeJS.ProcessEnv) => decideOptionsOf(runOptions(config, parseRotationFlags(valuesOf(argv, env))));
    expect(options(['--restart-concurrency', '3'], { RESTART_CONCURRENCY: '7' }).restartConcurrency).toBe(3);
    expect(options([], { RESTART_CONCURRENCY: '7' }).restartConcurrency).toBe(7);
    expect(options([], {}).restartConcurrency).toBe(10);
    expect(withRotationOptions(new Command('rotate')).helpInformation().replace(/\s+/g, ' ')).toContain('--restart-concurrency <n> restart requests (patches) in flight at once within one step');
  });

  it('--expiry-margin (EXPIRY_MARGIN) reaches the engine; unset, the engine derives it from --phase-timeout and --leaf-lifetime', () => {
    const config = parseClusterConfig(valuesOf(['--holder', 'runner-0'], {}), {});
    const given = decideOptionsOf(runOptions(config, parseRotationFlags(valuesOf(['--expiry-margin', '10d'], {}))));
    expect(expiryMarginOf(given)).toBe(10 * DAY);
    expect(parseRotationFlags(valuesOf([], { EXPIRY_MARGIN: '3d' })).expiryMargin).toBe(3 * DAY);
    const derived = decideOptionsOf(runOptions(config, parseRotationFlags({ phaseTimeout: '1h', leafLifetime: '2h' })));
    expect(derived).toMatchObject({ phaseTimeoutMs: HOUR });
    expect(expiryMarginOf(derived)).toBe(2 * (5 * HOUR + 2 * HOUR + 20_000));
    expect(withRotationOptions(new Command('rotate')).helpInformation().replace(/\s+/g, ' ')).toContain('2d5h40s with the defaults');
    expect(() => parseRotationFlags({ expiryMargin: 'soon' })).toThrow(/--expiry-margin expected a duration/);
  });

  it.each([
    [['rotate', '--strategy', 'sideways'], /--strategy expected cross-signed or restart, found "sideways"/],
    [['plan', '--cross-sign-margin', 'soon'], /--cross-sign-margin expected a duration/],
    [['rotate', '--roll-after-promote', 'maybe'], /--roll-after-promote expected true or false, found "maybe"/],
    [['status', '--leaf-lifetime', 'a day'], /--leaf-lifetime expected a duration/],
  ])('exit 2 before touching a cluster: %j', async (argv, message) => {
    let err = '';
    const code = await run(argv, { out: () => undefined, err: (text) => (err += text) });
    expect(code).toBe(2);
    expect(err).toMatch(message);
  });
});

const anchor = (label: string) => ({ fingerprint: fp(label), publicKeyFingerprint: sha256(`key:${label}`), notBefore: T0 - 30 * DAY, notAfter: T0 + 365 * DAY });

function pod(name: string, o: { namespace?: string; identity?: boolean; trusts: string[] }): MeshedPod {
  return {
    namespace: o.namespace ?? 'app',
    name,
    owner: { kind: 'Deployment', name: name.replace(/-[^-]+$/, '') },
    tier: o.namespace === 'linkerd' ? 'control-plane' : 'data-plane',
    identityController: o.identity ?? false,
    trustRootSha256: hashOf(o.trusts),
    trustFromConfigMap: false,
    startedAt: T0 - HOUR,
    ready: true,
  };
}

/** A cross-signed rotation A -> B after promotion: identity runs the issuer under B (chain through X), pods trust only A. */
function promotedCluster(over: Partial<ClusterSnapshot> = {}): ClusterSnapshot {
  return {
    observedAt: T0,
    prepared: { revision: 2, issuing: 'absent', anchor: anchor('B') },
    active: anchor('B'),
    previous: anchor('A'),
    issuer: { fingerprint: 'e'.repeat(64), chainsTo: fp('B'), chainVia: [{ anchor: fp('A'), notAfter: T0 + 30 * DAY }], notBefore: T0 - 60_000, notAfter: T0 + 47 * HOUR, issuing: 'absent', revision: 2 },
    bundles: [
      { namespace: 'linkerd', sha256: hashOf(['A', 'B']), anchors: [fp('A'), fp('B')] },
      { namespace: 'app', sha256: hashOf(['A', 'B']), anchors: [fp('A'), fp('B')] },
    ],
    injector: { trustRootSha256: hashOf(['A', 'B']) },
    pods: [pod('web-1', { trusts: ['A'] }), pod('linkerd-identity-1', { namespace: 'linkerd', identity: true, trusts: ['A'] })],
    workloads: [],
    identityEvents: [],
    ...over,
  };
}

const knownBundle = (labels: string[]) => [hashOf(labels), { anchors: labels.map(fp).sort(), firstSeenAt: iso(T0 - 2 * HOUR), syncedAt: iso(T0 - 2 * HOUR) }] as const;

/** Parked: identity has run the new issuer since T0 - 10 s, so the gate opens one leaf lifetime and the skew later. */
const parkedState: RotationState = {
  ...initialState(),
  phase: 'Promote',
  rotation: {
    id: 'rotation-test',
    strategy: 'cross-signed',
    from: { fingerprint: fp('A'), publicKeyFingerprint: sha256('key:A') },
    to: { fingerprint: fp('B'), publicKeyFingerprint: sha256('key:B') },
    startedAt: iso(T0 - 2 * DAY),
    phaseStartedAt: iso(T0 - DAY),
    preparedRevisionAtStart: 1,
    prepareRequests: 0,
    retargets: [],
    issuerRenewals: 0,
    promotedAt: iso(T0 - HOUR),
    issuerUpdatedAt: iso(T0 - 30_000),
    identityFreshAt: iso(T0 - 10_000),
  },
  knownBundles: Object.fromEntries([knownBundle(['A']), knownBundle(['A', 'B'])]),
};
const OPENS = T0 - 10_000 + DAY + 20_000;
const AWAITS = `every leaf chained only to ${fp('A').slice(0, 16)} to expire (one leaf lifetime after every identity replica ran the new issuer)`;

describe('a run that ends on a long gate', () => {
  const options = { holder: 'runner-0', gateTimeoutMs: 30 * 60_000, leaseDurationMs: 60_000, strategy: 'cross-signed' as const };
  const ended: RunResult = { outcome: 'done', message: `waiting until ${iso(OPENS)} (gate old-leaves-expired): ...`, state: parkedState, steps: 3, actions: 0, rolls: 0, waitedMs: 0, resumeAt: OPENS };

  it('is reported as waiting, with when and what for, read from the engine gate on its last snapshot', () => {
    const end = endOf(ended, { snapshot: promotedCluster(), options });
    expect(end).toEqual({ outcome: 'waiting', message: `waiting until ${iso(OPENS)} for ${AWAITS}; the next scheduled run resumes`, resumeAt: iso(OPENS), waitingFor: AWAITS });
  });

  it('exits 0 and says so plainly in text; JSON carries outcome and resumeAt', () => {
    const report: RotateReport = { ...endOf(ended, { snapshot: promotedCluster(), options }), phase: 'Promote', wallMs: 1000, waitedMs: 0, gates: {}, heldByBudgetsMs: 0, steps: 3, actions: 0, rolls: 0, apiRequests: 7, requestsByKind: [], peakRssBytes: 0, ports: {}, cpuMs: 0, memory: { rss: 0, heapUsed: 0, heapTotal: 0, external: 0 } };
    expect(exitCodeOf(report)).toBe(0);
    const text = formatRotateReport(report);
    expect(text.split('\n')[0]).toBe(`waiting until ${iso(OPENS)} for ${AWAITS}; the next scheduled run resumes`);
    expect(text).not.toMatch(/^done/m);
    expect(JSON.parse(JSON.stringify(report))).toMatchObject({ outcome: 'waiting', resumeAt: iso(OPENS) });
  });

  it('a run that finished stays done, one that stopped exits 1', () => {
    const { resumeAt: _none, ...finished } = ended;
    expect(endOf({ ...finished, message: 'rotation finished' }, { snapshot: promotedCluster(), options })).toEqual({ outcome: 'done', message: 'rotation finished' });
    expect(exitCodeOf({ outcome: 'stopped' } as RotateReport)).toBe(1);
  });
});

describe('status and check for a rotation parked on the long gate', () => {
  const decideOptions = resolveOptions({ names: DEFAULT_OBJECT_NAMES });
  const input = (s: ClusterSnapshot, extra: Partial<ReportInput> = {}): ReportInput => {
    const parked = parkedRotation(s, parkedState, decideOptions);
    return { snapshot: s, state: parkedState, injector: { namespace: 'app' }, names: DEFAULT_OBJECT_NAMES, thresholds: DEFAULT_THRESHOLDS, ...(parked ? { parked } : {}), ...extra };
  };

  it('finds it parked until identityFreshAt + leaf lifetime + skew, by the engine, with the run\'s leaf lifetime', () => {
    expect(parkedRotation(promotedCluster(), parkedState, decideOptions)).toEqual({ gate: 'old-leaves-expired', until: OPENS, awaits: AWAITS });
    expect(parkedRotation(promotedCluster(), parkedState, resolveOptions({ leafLifetimeMs: HOUR }))?.until).toBe(T0 - 10_000 + HOUR + 20_000);
    expect(parseParkedFlags(valuesOf(['--leaf-lifetime', '1h'], { ROLL_AFTER_PROMOTE: 'false' }, withParkedOptions))).toEqual({ leafLifetime: HOUR, rollAfterPromote: false });
  });

  it('is not parked once the gate opened, nor when rollAfterPromote rolls instead', () => {
    expect(parkedRotation(promotedCluster({ observedAt: OPENS }), parkedState, decideOptions)).toBeUndefined();
    expect(parkedRotation(promotedCluster(), parkedState, resolveOptions({ rollAfterPromote: true }))).toBeUndefined();
  });

  it('shows "waiting until T" and is no problem for check, though its phase is older than --stuck-after with no Lease', () => {
    const report = buildReport(input(promotedCluster()));
    expect(report.rotation).toMatchObject({ phase: 'Promote', waitingUntil: iso(OPENS), waitingFor: AWAITS });
    expect(report.findings.filter((f) => f.severity === 'problem')).toEqual([]);
    expect(formatReport(report)).toContain(`Waiting:    until ${iso(OPENS)} for ${AWAITS}; the next scheduled run resumes`);
    // The same state without the gate (it opened, and no run came for longer than --stuck-after) is stuck.
    const opened = buildReport(input(promotedCluster({ observedAt: OPENS + 7 * HOUR })));
    expect(opened.rotation.waitingUntil).toBeUndefined();
    expect(opened.findings.filter((f) => f.severity === 'problem').map((f) => f.message)).toEqual([expect.stringMatching(/in phase Promote since .* with no run holding the Lease: run `rotate`/)]);
  });

  describe('once the gate opened, with waitingUntil recorded by the run that parked it', () => {
    // What the run wrote when it parked (libs/rotation promote.ts); its phase started a day before.
    const recorded: RotationState = { ...parkedState, rotation: { ...parkedState.rotation!, waitingUntil: iso(OPENS) } };
    const problemsAt = (observedAt: number, state: RotationState = recorded, extra: Partial<ReportInput> = {}) =>
      buildReport({ ...input(promotedCluster({ observedAt })), state, ...extra })
        .findings.filter((f) => f.severity === 'problem')
        .map((f) => f.message);

    it('is not parked any more: the engine gate opened at waitingUntil', () => {
      expect(parkedRotation(promotedCluster({ observedAt: OPENS }), recorded, decideOptions)).toBeUndefined();
      expect(parkedRotation(promotedCluster(), recorded, decideOptions)?.until).toBe(OPENS);
    });

    it('is stuck only once more than --stuck-after (6h) has passed since the gate opened, not since the phase started', () => {
      expect(DEFAULT_THRESHOLDS.stuckAfterMs).toBe(6 * HOUR);
      // The CronJob runs every 4h: 5h after the gate opened no run may have come yet.
      expect(problemsAt(OPENS + 5 * HOUR)).toEqual([]);
      expect(problemsAt(OPENS + 6 * HOUR)).toEqual([]);
      const stuck = [`a rotation has been in phase Promote since ${iso(T0 - DAY)} (its wait ended at ${iso(OPENS)}) with no run holding the Lease: run \`rotate\` to resume it, and check that the CronJob runs`];
      expect(problemsAt(OPENS + 6 * HOUR + 1)).toEqual(stuck);
      expect(problemsAt(OPENS + 7 * HOUR)).toEqual(stuck);
    });

    it('counts from the phase start without waitingUntil (the same time is then stuck), and not while a run holds the Lease', () => {
      expect(problemsAt(OPENS + 5 * HOUR, parkedState)).toEqual([expect.stringMatching(/^a rotation has been in phase Promote since \S+ with no run holding the Lease/)]);
      expect(problemsAt(OPENS + 7 * HOUR, recorded, { lease: { holder: 'runner-0', expiresAt: OPENS + 8 * HOUR } })).toEqual([]);
    });
  });
});

describe('plan names the strategy', () => {
  const idle = (crossSignable: true | { reasons: string[] }): ClusterSnapshot => ({
    ...promotedCluster(),
    prepared: { revision: 1, issuing: 'absent', anchor: anchor('A') },
    active: { ...anchor('A'), crossSignable },
    previous: anchor('A'),
    issuer: { fingerprint: 'e'.repeat(64), chainsTo: fp('A'), notBefore: T0 - HOUR, notAfter: T0 + 47 * HOUR, issuing: 'absent', revision: 1 },
    bundles: [{ namespace: 'linkerd', sha256: hashOf(['A']), anchors: [fp('A')] }],
    injector: { trustRootSha256: hashOf(['A']) },
    pods: [],
  });
  const planned = (s: ClusterSnapshot) => plan(s, { ...initialState(), phase: 'Done', knownBundles: Object.fromEntries([knownBundle(['A'])]) }, resolveOptions({ start: 'always', strategy: 'cross-signed' }));

  it('prints the chosen strategy', () => {
    const p = planned(idle(true));
    expect(formatPlan(p, false)).toMatch(/^Strategy: cross-signed$/m);
    expect(planJson(p)).toMatchObject({ strategy: 'cross-signed' });
  });

  it('prints the engine\'s reason when it falls back to restart', () => {
    const p = planned(idle({ reasons: ['the active anchor\'s key is missing'] }));
    expect(p.strategyNote).toMatch(/key is missing/);
    expect(formatPlan(p, false)).toContain(`Strategy: restart (${p.strategyNote})`);
    expect(planJson(p)).toMatchObject({ strategy: 'restart', strategyNote: p.strategyNote });
  });
});

describe('status after a cross-signed rotation', () => {
  const done: RotationState = {
    ...initialState(),
    phase: 'Done',
    last: { id: 'rotation-test', from: fp('A'), to: fp('B'), startedAt: iso(T0 - 3 * DAY), finishedAt: iso(T0 - DAY), strategy: 'cross-signed' },
    knownBundles: Object.fromEntries([knownBundle(['A']), knownBundle(['A', 'B']), knownBundle(['B'])]),
  };
  const X_ENDS = T0 + 30 * DAY;
  const after = (chainVia: { anchor: string; notAfter: number }[]) =>
    promotedCluster({
      prepared: { revision: 2, issuing: 'absent', anchor: anchor('B') },
      previous: anchor('B'),
      issuer: { fingerprint: 'e'.repeat(64), chainsTo: fp('B'), chainVia, notBefore: T0 - 60_000, notAfter: T0 + 47 * HOUR, issuing: 'absent', revision: 2 },
      bundles: [{ namespace: 'linkerd', sha256: hashOf(['B']), anchors: [fp('B')] }],
      injector: { trustRootSha256: hashOf(['B']) },
      pods: [pod('web-1', { trusts: ['A'] }), pod('api-1', { trusts: ['B'] })],
    });
  const report = (s: ClusterSnapshot) => buildReport({ snapshot: s, state: done, injector: { namespace: 'app' }, names: DEFAULT_OBJECT_NAMES, thresholds: DEFAULT_THRESHOLDS });

  it('counts a pod trusting only the old anchor as relying on the cross-signature until it ends, not as stale', () => {
    const r = report(after([{ anchor: fp('A'), notAfter: X_ENDS }]));
    expect(r.pods.stale).toEqual([]);
    expect(r.pods.relyingOnCrossSignature).toEqual([{ pod: 'app/web-1', anchor: fp('A'), until: iso(X_ENDS) }]);
    expect(r.findings.filter((f) => f.severity === 'problem')).toEqual([]);
    expect(r.findings.map((f) => f.message)).toContainEqual(`1 meshed pod(s) rely on a cross-signature by ${fp('A').slice(0, 16)} until ${iso(X_ENDS)} (first: app/web-1); a scheduled run restarts them before it ends`);
    expect(formatReport(r)).toContain(`0 stale, 0 of unknown trust, 1 relying on a cross-signature until ${iso(X_ENDS)}`);
  });

  it('calls the same pod stale (and check fails) when no valid cross-signature reaches the issuer\'s anchor', () => {
    const r = report(after([]));
    expect(r.pods.relyingOnCrossSignature).toEqual([]);
    expect(r.pods.stale.map((p) => p.pod)).toEqual(['app/web-1']);
    expect(r.findings.filter((f) => f.severity === 'problem').map((f) => f.message)).toEqual([expect.stringMatching(/^1 meshed pod\(s\) do not trust the anchor that signs identities now/)]);
  });
});
