// issue 14 item 11 in `check`: a --leaf-lifetime shorter than Linkerd identity's issuance lifetime
// (leaves would outlive what gentle mode and cross-signed's old-leaves-expired wait for), and a
// trust-roots Bundle that targets another Linkerd control plane's namespace (the chart's default
// selector matches every control plane). Both are problems: `check` exits 1 and says what to do.
import { DEFAULT_OBJECT_NAMES } from '@linkerd-rotator/names';
import type { ClusterSnapshot, RotationState } from '@linkerd-rotator/rotation';
import { leafLifetimeProblem } from '../src/config.js';
import { buildReport, DEFAULT_THRESHOLDS, type ReportInput } from '../src/status-report.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.parse('2026-06-01T00:00:00Z');
const fp = (c: string) => c.repeat(64);
const anchor = { fingerprint: fp('a'), publicKeyFingerprint: fp('c'), notBefore: NOW - 10 * DAY, notAfter: NOW + 300 * DAY };
const BUNDLE = fp('8');
const healthy: ClusterSnapshot = {
  observedAt: NOW,
  prepared: { issuing: 'absent', revision: 1, anchor },
  active: anchor,
  previous: anchor,
  issuer: { issuing: 'absent', revision: 1, fingerprint: fp('1'), chainsTo: fp('a'), notBefore: NOW - HOUR, notAfter: NOW + 40 * HOUR },
  bundles: [{ namespace: 'linkerd', sha256: BUNDLE, anchors: [fp('a')] }],
  injector: { trustRootSha256: BUNDLE },
  pods: [],
  workloads: [],
  identityEvents: [],
};
const idle: RotationState = { version: 1, phase: 'Idle', knownBundles: {} };
const report = (snapshot: ClusterSnapshot, extra: Partial<ReportInput> = {}) =>
  buildReport({ snapshot, state: idle, injector: { namespace: 'shop' }, names: DEFAULT_OBJECT_NAMES, thresholds: DEFAULT_THRESHOLDS, ...extra });
const problems = (r: ReturnType<typeof report>) => r.findings.filter((f) => f.severity === 'problem').map((f) => f.message);

describe('--leaf-lifetime against Linkerd identity\'s -identity-issuance-lifetime', () => {
  it('is a problem when shorter, naming both values, the Deployment and what to set', () => {
    const r = report({ ...healthy, identityIssuanceLifetimeMs: 48 * HOUR }, { leafLifetimeMs: 24 * HOUR });
    expect(problems(r)).toEqual([
      "expected --leaf-lifetime (LEAF_LIFETIME) 24h to be at least Linkerd identity's issuance lifetime 48h (-identity-issuance-lifetime of container identity in Deployment linkerd/linkerd-identity), found it shorter: leaves the old issuer signed would outlive what gentle mode and cross-signed's old-leaves-expired gate wait for, and be refused once the old anchor is retired; set --leaf-lifetime (chart: runner.rotation.leafLifetime) to 48h or more",
    ]);
  });

  it('is fine when equal or longer, and when either value is unknown', () => {
    expect(problems(report({ ...healthy, identityIssuanceLifetimeMs: 24 * HOUR }, { leafLifetimeMs: 24 * HOUR }))).toEqual([]);
    expect(problems(report({ ...healthy, identityIssuanceLifetimeMs: 12 * HOUR }, { leafLifetimeMs: 24 * HOUR }))).toEqual([]);
    expect(problems(report(healthy, { leafLifetimeMs: HOUR }))).toEqual([]);
    expect(problems(report({ ...healthy, identityIssuanceLifetimeMs: 48 * HOUR }))).toEqual([]);
  });

  it('the one rule, for `rotate` as well: Go-style durations in the message', () => {
    expect(leafLifetimeProblem(90 * 60_000, 2 * HOUR + 30_000, DEFAULT_OBJECT_NAMES)).toMatch(/^expected --leaf-lifetime \(LEAF_LIFETIME\) 1h30m to be at least Linkerd identity's issuance lifetime 2h0m30s /);
    expect(leafLifetimeProblem(2 * HOUR, 2 * HOUR, DEFAULT_OBJECT_NAMES)).toBeUndefined();
    expect(leafLifetimeProblem(2 * HOUR, undefined, DEFAULT_OBJECT_NAMES)).toBeUndefined();
  });
});

describe('a Bundle that targets another control plane', () => {
  it('is a problem naming each namespace, why it is a control plane, and how to scope the selector', () => {
    const targets = [
      { namespace: 'linkerd-b', why: 'labelled linkerd.io/is-control-plane=true' },
      { namespace: 'mesh-c', why: 'holds Deployment linkerd-identity' },
    ];
    expect(problems(report({ ...healthy, otherControlPlaneTargets: targets }))).toEqual([
      "the trust-roots Bundle linkerd-identity-trust-roots targets the namespace of another Linkerd control plane: linkerd-b (labelled linkerd.io/is-control-plane=true), mesh-c (holds Deployment linkerd-identity); trust-manager overwrites that control plane's trust roots with this one's anchors and every rotation changes them: scope the Bundle's namespaceSelector to this control plane's namespaces (docs/runner.md, \"Scoping the trust bundle\")",
    ]);
  });

  it('is nothing when the Bundle targets no other control plane', () => {
    expect(problems(report({ ...healthy, otherControlPlaneTargets: [] }))).toEqual([]);
    expect(problems(report(healthy))).toEqual([]);
  });
});

describe('meshed pods a restart does not replace (issue 14, item 8)', () => {
  const pod = (name: string, owner: { kind: 'StatefulSet' | 'Other' | 'Job'; name: string }) => ({ namespace: 'shop', name, owner, tier: 'data-plane' as const, identityController: false, trustRootSha256: BUNDLE, trustFromConfigMap: false, startedAt: NOW - HOUR, ready: true });
  const workload = { kind: 'StatefulSet' as const, namespace: 'shop', name: 'db', tier: 'data-plane' as const, replicas: 2, readyReplicas: 2, updatedReplicas: 2, generation: 1, observedGeneration: 1, updateStrategy: 'OnDelete' as const };
  const notes = (r: ReturnType<typeof report>) => r.findings.filter((f) => f.severity === 'note').map((f) => f.message);

  it('are named before any run, per controller, with what to do and when a rotation stops on them', () => {
    const r = report({ ...healthy, pods: [pod('db-0', { kind: 'StatefulSet', name: 'db' }), pod('db-1', { kind: 'StatefulSet', name: 'db' }), pod('pg-1', { kind: 'Other', name: 'Cluster/pg' })], workloads: [workload] });
    expect(notes(r)).toEqual([
      expect.stringMatching(/^3 meshed pod\(s\) are not replaced by a restart of their controller, so a rotation that must restart them stops pods-not-restartable \(strategy restart: always; cross-signed: when they trust neither anchor\): pod shop\/db-0 is meshed; StatefulSet shop\/db uses updateStrategy OnDelete: .* \(1 more of its pods\); pod shop\/pg-1 owned by Cluster\/pg /),
    ]);
    expect(problems(r)).toEqual([]);
  });

  it('say nothing for ordinary workloads and Job pods', () => {
    const r = report({ ...healthy, pods: [pod('db-0', { kind: 'StatefulSet', name: 'db' }), pod('migrate-1', { kind: 'Job', name: 'migrate' })], workloads: [{ ...workload, updateStrategy: 'RollingUpdate' }] });
    expect(notes(r)).toEqual([]);
  });
});
