// The cluster commands without a cluster: configuration from flags and the chart's environment,
// durations, usage errors (exit 2), the status findings `check` fails on, and the log lines a
// person follows on a terminal. The commands against a real cluster: e2e/integration/rotation.spec.ts.
import { Command } from 'commander';
import { DEFAULT_OBJECT_NAMES, nameRowsFor } from '@linkerd-rotator/names';
import type { ClusterSnapshot, MeshedPod, RotationState } from '@linkerd-rotator/rotation';
import { run } from '../src/cli.js';
import { formatDuration, parseClusterConfig, parseDuration, parseRotationFlags, withClusterOptions } from '../src/config.js';
import { progressLogger, textLine } from '../src/logging.js';
import { buildReport, DEFAULT_THRESHOLDS, formatReport, type ReportInput } from '../src/status-report.js';
import { optionsWithEnv } from './with-env.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.parse('2026-06-01T00:00:00Z');
const fp = (c: string) => c.repeat(64);

describe('durations', () => {
  it.each([
    ['30m', 30 * 60_000],
    ['720h', 720 * HOUR],
    ['1h30m', 90 * 60_000],
    ['90s', 90_000],
    ['500ms', 500],
    ['2d', 2 * DAY],
    ['1.5h', 1.5 * HOUR],
    ['0', 0],
  ])('%s = %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '10', 'h', '5x', '1h 30m', '-1h'])('rejects %j', (text) => expect(() => parseDuration(text)).toThrow(/expected a duration such as 30m/));

  it('formats for people', () => {
    expect(formatDuration(93_000)).toBe('1m33s');
    expect(formatDuration(3 * DAY + HOUR)).toBe('3d1h');
    expect(formatDuration(250)).toBe('250ms');
  });
});

function parse(argv: string[], env: NodeJS.ProcessEnv = {}) {
  return parseClusterConfig(optionsWithEnv(withClusterOptions(new Command('x').exitOverride()), argv, env), env);
}

describe('configuration (docs/chart.md contract)', () => {
  it('reads every object name from the chart ConfigMap variables; a flag wins over its variable', () => {
    const c = parse(['--lease', 'from-flag'], {
      TRUST_NAMESPACE: 'pki',
      LINKERD_NAMESPACE: 'mesh',
      STATE_NAMESPACE: 'rotator',
      PREPARED_ANCHOR_SECRET: 'prep',
      PREPARED_ANCHOR_CERTIFICATE: 'prep-cert',
      ACTIVE_ANCHOR_SECRET: 'act',
      PREVIOUS_ANCHOR_SECRET: 'prev',
      ISSUER_SECRET: 'iss',
      ISSUER_CERTIFICATE: 'iss-cert',
      TRUST_ROOTS_CONFIGMAP: 'roots',
      STATE_CONFIGMAP: 'state',
      LEASE: 'from-env',
      POD_NAME: 'lr-rotate-123',
      LOG_LEVEL: 'debug',
    });
    expect(c.names).toMatchObject({
      trustNamespace: 'pki',
      linkerdNamespace: 'mesh',
      releaseNamespace: 'rotator',
      preparedAnchorSecret: 'prep',
      preparedAnchorCertificate: 'prep-cert',
      activeAnchorSecret: 'act',
      previousAnchorSecret: 'prev',
      issuerSecret: 'iss',
      issuerCertificate: 'iss-cert',
      trustRootsConfigMap: 'roots',
      stateConfigMap: 'state',
      lease: 'from-flag',
    });
    expect(c.names.releaseNamespace).toBe('rotator');
    expect(c.holder).toBe('lr-rotate-123');
    expect(c.logLevel).toBe('debug');
  });

  it('defaults to Linkerd docs names, the pod namespace for state, and a host-pid holder', () => {
    const c = parse([], { POD_NAMESPACE: 'ops' });
    expect(c.names.trustNamespace).toBe('cert-manager');
    expect(c.names.activeAnchorSecret).toBe('linkerd-active-anchor');
    expect(c.names.releaseNamespace).toBe('ops');
    expect(c.holder).toMatch(/-\d+$/);
    expect(c.apiTimeoutMs).toBe(120_000);
    expect(c.leaseDurationMs).toBe(60_000);
  });

  it('takes every runner name of the one table (libs/names) as its flag and variable, with its default', () => {
    const rows = nameRowsFor('runner');
    const flags = withClusterOptions(new Command('x')).options.map((o) => [o.long, o.envVar]);
    expect(rows.map((r) => [`--${r.flag}`, r.env]).filter((f) => !flags.some(([long, env]) => long === f[0] && env === f[1]))).toEqual([]);
    const c = parse([], { TRUST_ROOT_ISSUER: 'corp-root', IDENTITY_CLUSTER_ISSUER: 'corp-ca', IDENTITY_DEPLOYMENT: 'corp-identity' });
    expect(c.names).toEqual({ ...DEFAULT_OBJECT_NAMES, trustRootIssuer: 'corp-root', identityClusterIssuer: 'corp-ca', identityDeployment: 'corp-identity' });
  });

  it('names every bad value in one usage error', () => {
    expect(() => parse(['--trust-namespace', 'Bad_NS', '--api-timeout', 'soon'])).toThrow(/--trust-namespace must be a Kubernetes object name.*--api-timeout expected a duration/);
  });

  it('validates rotation flags', () => {
    expect(parseRotationFlags({})).toEqual({ gentle: false, force: false, maxConcurrentRollouts: 5, restartConcurrency: 10, phaseTimeout: 30 * 60_000, leafLifetime: 24 * HOUR, strategy: 'cross-signed', rollAfterPromote: false, crossSignMargin: 7 * DAY, recoverAuto: false, recoverConcurrency: 50, recoverLeafGrace: 2 * 60_000 });
    expect(parseRotationFlags({ onlyIfOlderThan: '720h', maxConcurrentRollouts: '2', gentle: true })).toMatchObject({ onlyIfOlderThan: 720 * HOUR, maxConcurrentRollouts: 2, gentle: true });
    expect(() => parseRotationFlags({ maxConcurrentRollouts: '0' })).toThrow(/--max-concurrent-rollouts must be at least 1/);
    expect(parseRotationFlags({ restartConcurrency: '1' })).toMatchObject({ restartConcurrency: 1 });
    expect(() => parseRotationFlags({ restartConcurrency: '2.5' })).toThrow(/--restart-concurrency must be a whole number/);
    expect(() => parseRotationFlags({ phaseTimeout: '10' })).toThrow(/--phase-timeout expected a duration/);
  });
});

describe('usage errors exit 2 before touching a cluster', () => {
  const invoke = async (...argv: string[]) => {
    let out = '';
    let err = '';
    const code = await run(argv, { out: (t) => (out += t), err: (t) => (err += t) });
    return { code, out, err };
  };

  it.each([
    [['rotate', '--max-concurrent-rollouts', '0'], /--max-concurrent-rollouts must be at least 1/],
    [['rotate', '--restart-concurrency', '0'], /--restart-concurrency must be at least 1/],
    [['rotate', '--only-if-older-than', 'a month'], /--only-if-older-than expected a duration/],
    [['rotate', '--output', 'yaml'], /--output must be text or json/],
    [['status', '--output', 'xml'], /--output must be text or json/],
    [['check', '--anchor-min-validity', 'x'], /--anchor-min-validity expected a duration/],
    [['bootstrap', '--wait', 'forever'], /--wait expected a duration/],
    [['plan', '--kubeconfig', '/nonexistent/kubeconfig'], /cannot load the kubeconfig \/nonexistent\/kubeconfig/],
    // issue 15: recovery restarts workloads; it needs an explicit --yes (or the CronJob's recover.auto)
    [['recover'], /expected --yes \(recovery restarts the identity controller .*found none; run `rotator plan`/],
    [['recover', '--recover-auto', 'maybe', '--yes'], /--recover-auto expected true or false/],
    [['recover', '--yes', '--recover-concurrency', '0'], /--recover-concurrency must be at least 1/],
  ])('%j', async (argv, message) => {
    const res = await invoke(...argv);
    expect(res.code).toBe(2);
    expect(res.err).toMatch(message);
  });
});

function snapshot(over: Partial<ClusterSnapshot> = {}): ClusterSnapshot {
  const anchor = (c: string, notAfter = NOW + 300 * DAY) => ({ fingerprint: fp(c), publicKeyFingerprint: fp(c.toUpperCase() === c ? c.toLowerCase() : c.toUpperCase()).toLowerCase(), notBefore: NOW - 10 * DAY, notAfter });
  return {
    observedAt: NOW,
    prepared: { issuing: 'absent', revision: 1, anchor: anchor('a') },
    active: anchor('a'),
    previous: anchor('a'),
    issuer: { issuing: 'absent', revision: 1, fingerprint: fp('1'), chainsTo: fp('a'), notBefore: NOW - HOUR, notAfter: NOW + 40 * HOUR },
    bundles: [{ namespace: 'linkerd', sha256: fp('9'), anchors: [fp('a')] }],
    injector: { trustRootSha256: fp('9') },
    pods: [],
    workloads: [],
    identityEvents: [],
    ...over,
  };
}

const meshed = (name: string, hash: string, trusted: string[]): MeshedPod => ({
  namespace: 'shop',
  name,
  tier: 'data-plane',
  identityController: false,
  trustRootSha256: hash,
  trustFromConfigMap: false,
  trustedAnchors: trusted.map(fp),
  startedAt: NOW - HOUR,
  ready: true,
});

const idle: RotationState = { version: 1, phase: 'Done', knownBundles: {} };
const report = (s: ClusterSnapshot, extra: Partial<ReportInput> = {}) => buildReport({ snapshot: s, state: idle, injector: { namespace: 'shop' }, names: DEFAULT_OBJECT_NAMES, thresholds: DEFAULT_THRESHOLDS, ...extra });
const problems = (s: ClusterSnapshot, extra: Partial<ReportInput> = {}) => report(s, extra).findings.filter((f) => f.severity === 'problem').map((f) => f.message);

describe('status findings (what `check` fails on)', () => {
  it('finds nothing wrong in a healthy mesh', () => {
    const r = report(snapshot({ pods: [meshed('web-1', fp('9'), ['a'])] }));
    expect(r.findings).toEqual([]);
    expect(formatReport(r)).toMatch(/Findings:\s+none/);
    expect(r.issuer?.chainsToRole).toBe('active');
  });

  it('escalates an active anchor ending within the time a rotation needs, and an expired one, apart from the 30-day threshold', () => {
    const s = snapshot();
    const active = s.active as NonNullable<ClusterSnapshot['active']>;
    const ending = (left: number) => problems({ ...s, active: { ...active, notAfter: NOW + left } }, { expiryMarginMs: 8 * DAY });
    expect(ending(7 * DAY)).toEqual([expect.stringMatching(/^active anchor a{16} expires .* \(in 7d\), within the 8d a rotation needs \(--expiry-margin\): the next scheduled run starts a rotation; `rotate` starts it now$/)]);
    // control: outside the margin, only the 30-day threshold speaks
    expect(ending(9 * DAY)).toEqual([expect.stringMatching(/\(in 216h\): rotate now$/)]);
    // issue 15: an expired anchor is an expiry incident, said once, with what to run
    expect(ending(-HOUR)).toEqual([expect.stringMatching(/^expiry incident anchor-expired: the active anchor a{16} expired .*; the mesh fails handshakes until it is recovered: run `rotator plan` .* then `rotator recover --yes`/)]);
    const during: RotationState = { ...idle, phase: 'TrustBoth', rotation: { id: 'r', strategy: 'restart', from: { fingerprint: fp('a'), publicKeyFingerprint: fp('a') }, startedAt: new Date(NOW).toISOString(), phaseStartedAt: new Date(NOW).toISOString(), preparedRevisionAtStart: 1, prepareRequests: 0, retargets: [], issuerRenewals: 0 } };
    expect(problems({ ...s, active: { ...active, notAfter: NOW + 7 * DAY } }, { expiryMarginMs: 8 * DAY, state: during })).toContainEqual(expect.stringMatching(/the rotation under way must finish before then$/));
  });

  it('names the issuer Certificate when the issuer is absent (the runner reads no issuer Secret: issue 14 item 6)', () => {
    const { issuer: _issuer, ...withoutIssuer } = snapshot();
    expect(problems(withoutIssuer)).toContainEqual('the identity issuer is missing: Certificate linkerd/linkerd-identity-issuer does not exist or cert-manager has not issued it yet');
  });

  it('says first that the issuer is not being renewed, and names the cause (issue 15)', () => {
    const s = snapshot();
    const issuer = { ...(s.issuer as NonNullable<ClusterSnapshot['issuer']>), notAfter: NOW + 2 * HOUR };
    const onActive = { clusterIssuer: { found: true as const, caSecretName: 'linkerd-active-anchor' }, certificateIssuerRef: { kind: 'ClusterIssuer', name: 'linkerd-identity-issuer' } };
    const first = (over: Partial<ClusterSnapshot>) => problems({ ...s, issuer, issuerSigning: onActive, ...over })[0];
    expect(first({ pods: [meshed('web-1', fp('7'), ['a'])], issuer: { ...issuer, issuing: 'false', lastFailureMessage: 'Failed: The certificate request has failed to complete and will be retried: x509: signature failed' } })).toMatch(
      /^identity issuer 1{16} expires .* \(in 2h\): cert-manager is not renewing it: its last issuance failed \(Failed: The certificate request has failed .*\)$/,
    );
    expect(first({ issuerSigning: { ...onActive, clusterIssuer: { ...onActive.clusterIssuer, notReady: 'ErrGetKeyPair: Error getting keypair for CA issuer: secrets "linkerd-active-anchor" not found' } } })).toMatch(
      /not renewing it: ClusterIssuer linkerd-identity-issuer is not Ready \(ErrGetKeyPair: .* not found\); fix its CA, Secret cert-manager\/linkerd-active-anchor$/,
    );
    expect(first({ issuerSigning: { ...onActive, clusterIssuer: { found: true, caSecretName: 'linkerd-trust-anchor' } } })).toMatch(/not renewing it: expected ClusterIssuer linkerd-identity-issuer to sign with Secret cert-manager\/linkerd-active-anchor/);
    expect(first({ issuer: { ...issuer, notAfter: NOW - HOUR } })).toMatch(/^identity issuer 1{16} expired .*: cert-manager is not renewing it: no failure is on record \(Certificate linkerd\/linkerd-identity-issuer Issuing=absent\); .*verdict="denied"/);
  });

  it('flags an active anchor expiring within the threshold and an issuer cert-manager is not renewing', () => {
    const s = snapshot();
    const msgs = problems({ ...s, active: { ...(s.active as NonNullable<ClusterSnapshot['active']>), notAfter: NOW + 10 * DAY }, issuer: { ...(s.issuer as NonNullable<ClusterSnapshot['issuer']>), notAfter: NOW + 2 * HOUR } });
    expect(msgs).toEqual([expect.stringMatching(/^identity issuer 1{16} expires .* \(in 2h\): cert-manager is not renewing it/), expect.stringMatching(/^active anchor a{16} expires .* \(in 240h\): rotate now/)]);
  });

  it('flags a bundle without the active anchor, an issuer chained elsewhere, and stale proxies outside a rotation', () => {
    const s = snapshot({
      bundles: [{ namespace: 'linkerd', sha256: fp('8'), anchors: [fp('b')] }],
      issuer: { issuing: 'absent', revision: 1, fingerprint: fp('1'), chainsTo: fp('b'), notBefore: NOW, notAfter: NOW + 40 * HOUR },
      injector: { trustRootSha256: fp('8') },
      pods: [meshed('web-1', fp('9'), ['a'])],
    });
    const msgs = problems(s);
    expect(msgs).toContainEqual(expect.stringMatching(/namespace linkerd does not hold the active anchor/));
    expect(msgs).toContainEqual(expect.stringMatching(/identity issuer chains to b{16}, not to the active anchor/));
    expect(msgs).toContainEqual(expect.stringMatching(/^1 meshed pod\(s\) do not trust the anchor that signs identities now, outside a rotation \(first: shop\/web-1/));
  });

  it('counts pods of an older bundle as stale but not critical when they trust the signing anchor', () => {
    const r = report(snapshot({ pods: [meshed('web-1', fp('7'), ['a'])] }));
    expect(r.pods.stale).toEqual([{ pod: 'shop/web-1', why: expect.stringMatching(/^trust-root-sha256 7{16} is not the current bundle's 9{16}/) }]);
    expect(r.findings.map((f) => f.message)).toEqual([expect.stringMatching(/^1 meshed pod\(s\) do not run with the current bundle outside a rotation/)]);
  });

  it('does not call restart-pending pods a problem during a rotation, but a stopped or stuck one is', () => {
    const rotating: RotationState = {
      version: 1,
      phase: 'TrustBoth',
      knownBundles: {},
      rotation: { id: 'r', from: { fingerprint: fp('a'), publicKeyFingerprint: fp('a') }, startedAt: '2026-05-31T00:00:00Z', phaseStartedAt: '2026-05-31T00:00:00Z', preparedRevisionAtStart: 1, prepareRequests: 1, retargets: [], issuerRenewals: 0 },
    };
    const s = snapshot({ pods: [meshed('web-1', fp('7'), ['a'])] });
    expect(problems(s, { state: rotating, lease: { holder: 'runner-0', expiresAt: NOW + 60_000 } })).toEqual([]);
    expect(problems(s, { state: rotating })).toEqual([expect.stringMatching(/in phase TrustBoth since 2026-05-31T00:00:00Z with no run holding the Lease: run `rotate`/)]);
    const stopped: RotationState = { ...rotating, phase: 'Stopped', stopped: { reason: 'deadline', phase: 'TrustBoth', message: 'gate pods-trust-both', at: '2026-05-31T01:00:00Z' } };
    expect(problems(s, { state: stopped, lease: { holder: 'x', expiresAt: NOW + 1 } })).toEqual([expect.stringMatching(/^the last rotation run stopped \(deadline\): gate pods-trust-both/)]);
  });

  it('flags an identity issuer signer that is not the ClusterIssuer on the active Secret, and a half-finished rotation (issue 14)', () => {
    const chart = { clusterIssuer: { found: true, caSecretName: 'linkerd-active-anchor' }, certificateIssuerRef: { kind: 'ClusterIssuer', name: 'linkerd-identity-issuer' } } as const;
    expect(problems(snapshot({ issuerSigning: chart }))).toEqual([]);
    expect(problems(snapshot({ issuerSigning: { ...chart, clusterIssuer: { found: true, caSecretName: 'linkerd-trust-anchor' } } }))).toEqual([
      expect.stringMatching(/^expected ClusterIssuer linkerd-identity-issuer to sign with Secret cert-manager\/linkerd-active-anchor .*found spec.ca.secretName: linkerd-trust-anchor/),
    ]);
    const s = snapshot();
    const promoted = { ...s, active: { ...(s.active as NonNullable<ClusterSnapshot['active']>), fingerprint: fp('b') }, issuer: { ...(s.issuer as NonNullable<ClusterSnapshot['issuer']>), chainsTo: fp('b') }, bundles: [{ namespace: 'linkerd', sha256: fp('9'), anchors: [fp('a'), fp('b')] }] };
    expect(problems(promoted)).toEqual([expect.stringMatching(/^the previous anchor a{16} is not the active anchor b{16} outside a rotation: .*half-finished-rotation/)]);
  });

  it('notes an issuer Certificate that keeps fewer than 2 revisions: a renewal deletes the request the runner reads the chain from', () => {
    const chart = { clusterIssuer: { found: true, caSecretName: 'linkerd-active-anchor' }, certificateIssuerRef: { kind: 'ClusterIssuer', name: 'linkerd-identity-issuer' } } as const;
    const notes = (issuerSigning: ClusterSnapshot['issuerSigning']) =>
      report(snapshot({ issuerSigning })).findings.filter((f) => f.severity === 'note' && /revisionHistoryLimit/.test(f.message)).map((f) => f.message);
    expect(notes({ ...chart, revisionHistoryLimit: 2 })).toEqual([]);
    expect(notes(chart)).toEqual([expect.stringMatching(/^Certificate linkerd\/linkerd-identity-issuer keeps spec.revisionHistoryLimit unset \(1 since cert-manager v1.18\): .*set it to 2/)]);
    expect(notes({ ...chart, revisionHistoryLimit: 1 })).toEqual([expect.stringMatching(/keeps spec.revisionHistoryLimit 1: /)]);
    // Without the Certificate there is nothing to say about its history.
    expect(notes({ clusterIssuer: { found: false } })).toEqual([]);
  });

  it('reports an unreadable state and missing runner Secrets', () => {
    const s = snapshot();
    const { active: _a, previous: _p, ...rest } = s;
    const msgs = problems(rest, { stateProblem: 'expected JSON in the state ConfigMap' });
    expect(msgs).toEqual(expect.arrayContaining(['expected JSON in the state ConfigMap', 'Secret of the active anchor is missing: run `bootstrap`', 'Secret of the previous anchor is missing: run `bootstrap`']));
  });

  it('names the install\'s own objects when the prepared anchor is missing', () => {
    const s = snapshot();
    const missing = { ...s, prepared: { issuing: 'absent' as const, revision: 1 } };
    expect(problems(missing)).toContain('the prepared anchor Secret cert-manager/linkerd-trust-anchor is missing: check Certificate cert-manager/linkerd-trust-anchor');
    const names = { ...DEFAULT_OBJECT_NAMES, trustNamespace: 'pki', preparedAnchorSecret: 'next-anchor', preparedAnchorCertificate: 'next-anchor-cert' };
    expect(problems(missing, { names })).toContain('the prepared anchor Secret pki/next-anchor is missing: check Certificate pki/next-anchor-cert');
  });
});

describe('logs a person can follow', () => {
  it('prints pino records as short lines on a terminal', () => {
    const line = JSON.stringify({ level: 30, time: Date.parse('2026-01-01T12:00:03Z'), pid: 1, hostname: 'h', command: 'rotate', msg: 'TrustBoth: rolled 37/120 workloads (data-plane)', rolled: 37, total: 120 });
    expect(textLine(line)).toBe('12:00:03 TrustBoth: rolled 37/120 workloads (data-plane)  rolled=37 total=120\n');
    expect(textLine(JSON.stringify({ level: 40, time: 0, msg: 'careful' }))).toBe('00:00:00 WARN careful\n');
  });

  it('turns roll progress into "rolled N/M workloads" and logs each gate once until it changes', () => {
    const records: Array<[object, string]> = [];
    const logger = { info: (f: object, m: string) => records.push([f, m]), warn: (f: object, m: string) => records.push([f, m]) };
    const progress = progressLogger(logger as never);
    progress({ kind: 'rolled', phase: 'TrustBoth', tier: 'data-plane', restarted: [{ kind: 'Deployment', namespace: 'shop', name: 'web' }], notFound: [], rolled: 37, total: 120 });
    const gate = { name: 'pods-trust-both' as const, phase: 'TrustBoth' as const, summary: '3 of 40 pods', missing: [], blockers: [], watch: [] };
    progress({ kind: 'waiting', gate, deadline: NOW });
    progress({ kind: 'waiting', gate, deadline: NOW + 1 });
    progress({ kind: 'waiting', gate: { ...gate, summary: '1 of 40 pods' }, deadline: NOW });
    expect(records.map(([, m]) => m)).toEqual(['TrustBoth: rolled 37/120 workloads (data-plane)', 'waiting: 3 of 40 pods', 'waiting: 1 of 40 pods']);
    expect(records[0]?.[0]).toMatchObject({ rolled: 37, total: 120, workloads: ['Deployment/shop/web'] });
  });
});
