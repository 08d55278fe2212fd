// `check --fleet` without a cluster (issue 17): its flags and usage errors (exit 2), a context the
// kubeconfig lacks refused before any cluster is read, clusters whose API does not answer named with
// exit 4, and the report over snapshots of real anchors made in the test (agree: 0, disagree: 1).
// Reading real clusters is `check`'s own read (the same session and snapshot); no two-cluster test yet.
import { crossSign, parseCertificate, parsePem, sha256Hex } from '@linkerd-rotator/x509';
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import type { AnchorFacts, ClusterSnapshot, FleetAnchorView } from '@linkerd-rotator/rotation';
import { cli, refusingKubeconfigForSpec } from './refusing-kubeconfig.js';
import { buildFleetReport, fleetExitCode, formatFleetReport, parseFleetFlags } from '../src/fleet-report.js';

// Two contexts on a port nothing listens on: their API servers refuse every connection.
const refusing = refusingKubeconfigForSpec('fleet-check-');

describe('check --fleet flags', () => {
  it.each([
    [['--primary', 'east'], /--primary and --member name the clusters of `check --fleet`: add --fleet/],
    [['--fleet', '--member', 'west'], /check --fleet needs --primary <context>/],
    [['--fleet', '--primary', 'east'], /check --fleet needs at least one --member <context>/],
    [['--fleet', '--primary', 'east', '--member', 'west', '--member', 'east'], /expected every context once in --primary and --member, found east more than once/],
  ])('%j is a usage error (exit 2)', async (args, message) => {
    const result = await cli(['check', '--kubeconfig', refusing.path(), ...args]);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(message);
  });

  it('takes --member repeated, in order', () => {
    expect(parseFleetFlags({ fleet: true, primary: 'east', member: ['west', 'north'] })).toEqual({ primary: 'east', members: ['west', 'north'] });
    expect(parseFleetFlags({ member: [] })).toBeUndefined();
  });

  it('refuses a context the kubeconfig lacks before reading any cluster (exit 2)', async () => {
    const result = await cli(['check', '--kubeconfig', refusing.path(), '--fleet', '--primary', 'east', '--member', 'south']);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/expected context south in the kubeconfig .*, found only east, west; pass a context it holds/);
    expect(result.out).toBe('');
  });

  it('names every cluster whose API does not answer, and exits 4 as check does', async () => {
    const result = await cli(['check', '--kubeconfig', refusing.path(), '--api-timeout', '1s', '--log-format', 'json', '--fleet', '--primary', 'east', '--member', 'west']);
    expect(result.code).toBe(4);
    expect(result.out).toMatch(/^ {2}east \(primary\) +UNREACHABLE$/m);
    expect(result.out).toMatch(/^ {2}west +UNREACHABLE$/m);
    expect(result.out).toMatch(/PROBLEM: east: could not be read \(expected the Kubernetes API server to answer .*ECONNREFUSED/);
    expect(result.out).toMatch(/PROBLEM: west: could not be read/);
    // Each cluster's log records name its context.
    expect(result.err).toMatch(/"context":"west"/);
  }, 30_000);
});

describe('check --fleet report', () => {
  let A: Credentials;
  let B: Credentials;
  beforeAll(async () => {
    [A, B] = await Promise.all([fixtures.makeAnchor(), fixtures.makeAnchor()]);
  });

  const facts = (c: Credentials): AnchorFacts => ({ fingerprint: c.fingerprint, publicKeyFingerprint: c.cert.spkiFingerprint, notBefore: c.cert.notBefore.getTime(), notAfter: c.cert.notAfter.getTime() });
  function view(cluster: string, active: Credentials, bundle: Credentials[], prepared: Credentials = active, crossSignature?: string): FleetAnchorView {
    const snapshot: ClusterSnapshot = {
      observedAt: Date.now(),
      prepared: { revision: 1, issuing: 'absent', anchor: facts(prepared) },
      active: { ...facts(active), ...(crossSignature ? { crossSignature } : {}) },
      previous: facts(active),
      bundles: ['linkerd', 'linkerd-viz'].map((namespace) => ({ namespace, sha256: sha256Hex(fixtures.bundleOf(...bundle)), anchors: bundle.map((c) => c.fingerprint) })),
      pods: [],
      workloads: [],
      identityEvents: [],
    };
    return { cluster, reachable: true, snapshot };
  }
  const flags = { primary: 'east', members: ['west'] };
  const short = (c: Credentials) => c.fingerprint.slice(0, 16);

  it('prints each cluster and the verdict; exit 0 when the fleet agrees', () => {
    const report = buildFleetReport(flags, [view('east', A, [A]), view('west', A, [A])]);
    expect(fleetExitCode(report)).toBe(0);
    expect(formatFleetReport(report)).toBe(
      [
        'Fleet:      2 cluster(s), compared with east',
        `  east (primary)  active ${short(A)}  prepared ${short(A)}  bundles {${short(A)}} in 2 namespace(s)`,
        `  west            active ${short(A)}  prepared ${short(A)}  bundles {${short(A)}} in 2 namespace(s)`,
        'Findings:   none',
        `Verdict:    the 2 clusters agree: active anchor ${short(A)}, the same bundle and prepared anchor`,
        '',
      ].join('\n'),
    );
  });

  it('names the cluster that disagrees; exit 1', () => {
    const report = buildFleetReport(flags, [view('east', A, [A]), view('west', B, [B])]);
    expect(fleetExitCode(report)).toBe(1);
    const text = formatFleetReport(report);
    expect(text).toContain(`PROBLEM: west: active anchor ${short(B)}, but east (the reference) is on ${short(A)}`);
    expect(text).toContain(`PROBLEM: west: bundle in namespace linkerd holds {${short(B)}}, but east (the reference) holds {${short(A)}}`);
    expect(text).toMatch(/Verdict: {4}3 disagreement\(s\) in 1 cluster\(s\)\n$/);
    expect(JSON.parse(JSON.stringify(report))).toMatchObject({ primary: 'east', members: ['west'], reference: 'east', agree: false });
  });

  it('compares the cross-signature X of a cross-signed fleet rotation: a member with another X, or none, is named; exit 1', async () => {
    const mint = async () => parseCertificate((parsePem(await crossSign({ subject: B.certPem, issuer: A.certPem, issuerKey: A.keyPem })).blocks[0] as { der: Uint8Array }).der).fingerprint;
    const [x, x2] = await Promise.all([mint(), mint()]);
    const promoted = (cluster: string, crossSignature?: string) => view(cluster, B, [A, B], B, crossSignature);
    const agree = buildFleetReport(flags, [promoted('east', x), promoted('west', x)]);
    expect(fleetExitCode(agree)).toBe(0);
    expect(formatFleetReport(agree)).toMatch(new RegExp(`^ {2}west {12}active ${short(B)} \\(X ${x.slice(0, 16)}\\)  prepared ${short(B)}`, 'm'));
    const other = buildFleetReport({ primary: 'east', members: ['west', 'north'] }, [promoted('east', x), promoted('west', x2), promoted('north')]);
    expect(fleetExitCode(other)).toBe(1);
    const text = formatFleetReport(other);
    expect(text).toContain(`PROBLEM: west: active Secret carries the cross-signature X ${x2.slice(0, 16)}, but east (the reference) carries ${x.slice(0, 16)}`);
    expect(text).toContain(`PROBLEM: north: active Secret carries no cross-signature, but east (the reference) carries X ${x.slice(0, 16)}`);
    const extra = buildFleetReport(flags, [promoted('east'), promoted('west', x)]);
    expect(fleetExitCode(extra)).toBe(1);
    expect(formatFleetReport(extra)).toContain(`PROBLEM: west: active Secret carries the cross-signature X ${x.slice(0, 16)}, but east (the reference) carries none`);
  });

  it('compares with a member when the primary cannot be read, saying so; exit 4', () => {
    const report = buildFleetReport(flags, [{ cluster: 'east', reachable: false, error: 'connect ECONNREFUSED' }, view('west', A, [A])]);
    expect(fleetExitCode(report)).toBe(4);
    expect(formatFleetReport(report)).toMatch(/^Fleet: {6}2 cluster\(s\), compared with west \(the primary east could not be read\)\n {2}east \(primary\) {2}UNREACHABLE\n[^]*PROBLEM: east: could not be read \(connect ECONNREFUSED\)/);
  });
});
