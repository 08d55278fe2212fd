// Issue 15's main proof on the local cluster: the anchor expires under live traffic, and `rotator
// recover` (run as the CronJob's runner) brings the mesh back. The mesh runs on an anchor made here,
// valid for a few minutes (cert-manager issues nothing shorter than an hour), written into the three
// anchor Secrets as the runner and cert-manager would hold it, and on an identity issuer cert-manager
// issues under it. The incident's cause is real: cert-manager's controller is stopped (a cert-manager
// that is down renews nothing: neither the prepared anchor nor the issuer), and started again, as an
// operator would, once the outage is under way. The issuer is cert-manager's (the runner reads it from
// its CertificateRequest) and lives an hour (chart values: cert-manager v1.21.2's CA issuer neither caps
// a certificate at its CA's NotAfter nor refuses an expired CA), renewed after two minutes, so it is
// overdue when cert-manager comes back: cert-manager then signs its next revision with the only CA it
// has, the expired anchor, and the webhook refuses to store it (the state the recovery must get out of).
// The outage: identity verifies its issuer against the anchors at every Certify (Go's crypto/x509
// checks an anchor's validity), so no proxy gets a leaf after the anchor's end, and handshakes fail as
// the 1-minute leaves run out (rustls-webpki ignores an anchor's own validity, not a leaf's; node:tls
// refuses those chains at once, which the summary line counts as webpki/node disagreements). The
// traffic driver records those failures (the control), then `recover` runs; the time to recovery runs
// from its start until every simulated proxy has handshaken again on the new anchor.
import type { Credentials } from '@linkerd-rotator/x509/testing';
import { waitFor } from '../cluster/src/index.js';
import { expectMeshRotatedTo } from '../scenarios/rotated-mesh.js';
import { fingerprintOf, fingerprintsOf } from '../support/certs.js';
import { useLocalTestCluster } from '../support/local-test-cluster.js';
import { useMeshedTraffic } from '../support/meshed-traffic.js';
import { anchorPem } from '../support/objects.js';
import { issuerRequests as listIssuerRequests, runRecover, signedBy } from '../support/recover.js';
import { activateAnchor, makeShortLivedAnchor, trustOnly, writePrepared } from '../support/short-lived-anchor.js';

/**
 * How long the test's anchor lives. Setup after it is made (the issuer under it, Linkerd, 6 meshed
 * workloads, their proxies' first leaves, the warm-up traffic) takes about a minute and a half on a
 * loaded 2-core machine; the rest is healthy traffic before the expiry.
 */
const ANCHOR_LIFETIME_MS = 180_000;

const testCluster = useLocalTestCluster({ values: ['--set', 'pki.issuerCertificate.duration=1h0m0s', '--set', 'pki.issuerCertificate.renewBefore=58m0s'] });
let expiring: { anchor: Credentials; notAfter: number } | undefined;

// Registered between the chart's beforeAll and useMeshedTraffic's, so the mesh starts on the anchor.
beforeAll(async () => {
  const { cluster } = testCluster();
  const anchor = await makeShortLivedAnchor(ANCHOR_LIFETIME_MS);
  expiring = { anchor, notAfter: anchor.cert.notAfter.getTime() };
  // Each step is one the webhook admits: the active anchor as the runner writes it, the issuer renewed
  // under it by cert-manager, then, cert-manager stopped, the prepared Secret as cert-manager wrote it
  // (an admin's write) and the previous one.
  await activateAnchor(testCluster(), anchor);
  await cluster.stopComponent('cert-manager-controller');
  await writePrepared(testCluster(), anchor);
  await trustOnly(testCluster(), anchor);
}, 300_000);

const mesh = useMeshedTraffic(() => testCluster().cluster, {
  label: 'recover-expiry',
  mesh: { namespaces: 2, workloadsPerNamespace: 3 },
  concurrency: 4,
  warmup: { handshakes: 100, before: 'the anchor expires' },
});

function shortFingerprints(pems: string[]): string {
  return fingerprintsOf(pems.join('')).map((fp) => fp.slice(0, 16)).join(',');
}

it('recovers an anchor that expired under traffic, with cert-manager holding an issuer signed by it: the outage is recorded, then every proxy handshakes again on the new anchor alone, 0 failures after', async () => {
  const { cluster, names } = testCluster();
  const { plane, traffic, workloads } = mesh();
  const issuerRequests = () => listIssuerRequests(cluster, names.linkerdNamespace);
  const { anchor, notAfter } = expiring!;
  let recoverOutput = '';
  const seen = () =>
    [
      plane.describeReadiness(),
      `Traffic: ${traffic.handshakes} handshakes, ${traffic.failures.length} failures; last: ${JSON.stringify(traffic.failures.at(-1) ?? null)}.`,
      `Proxies: ${[...plane.proxies.values()].map((p) => `${p.name} roots ${shortFingerprints(p.roots)} ${p.ready ? 'ready' : 'not ready'} first handshake ${p.firstHandshakeAt ? new Date(p.firstHandshakeAt).toISOString() : 'none'}`).join('; ')}`,
      recoverOutput ? `recover's output (tail):\n${recoverOutput.slice(-3000)}` : '',
    ].join('\n');
  expect(Date.now()).toBeLessThan(notAfter);

  // The outage (the control): handshakes fail after the expiry (as the leaves run out), and not before
  // it (5 s for a handshake judged just after the instant it started before).
  const failedAfterExpiry = () => traffic.failures.filter((f) => Date.parse(f.at) >= notAfter);
  await waitFor(() => failedAfterExpiry().length >= 20, { what: `20 failed handshakes after the anchor ended (${new Date(notAfter).toISOString()})`, timeoutMs: notAfter - Date.now() + 180_000, diagnose: seen });
  expect(traffic.failures.filter((f) => Date.parse(f.at) < notAfter - 5_000)).toEqual([]);
  const outage = failedAfterExpiry().length;
  const refusals = [...new Set(failedAfterExpiry().map((f) => `${f.refusedBy ?? 'not a refusal'}: ${f.webpkiError ?? f.error}`))];

  // The operator brings cert-manager back: it renews the overdue issuer with the expired anchor, a
  // revision the webhook refuses to store. Then the operator runs recover.
  const storedRevisions = new Set((await issuerRequests()).map((r) => r.metadata.name));
  await cluster.startComponent('cert-manager-controller');
  const deadRequest = await waitFor(
    async () => (await issuerRequests()).find((r) => !storedRevisions.has(r.metadata.name) && r.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && r.status.certificate),
    { what: "cert-manager to sign the overdue issuer's next revision", timeoutMs: 120_000 },
  );
  expect(signedBy(Buffer.from(deadRequest.status!.certificate!, 'base64').toString(), anchor)).toBe(true);
  const startedAt = Date.now();
  const running = runRecover(testCluster(), { extraArgs: ['--yes'], phaseTimeout: '3m', onOutput: (chunk) => (recoverOutput += chunk) });
  const exitedEarly = running.then(async (run) => {
    if (run.code !== 0) throw new Error(`recover exited ${run.code} before every proxy handshook again:\n${seen()}`);
    return new Promise<never>(() => undefined);
  });
  // Recovered: as many ready proxies as meshed workloads, none trusting the dead anchor, each with
  // a handshake both sides accepted; the time is the last of those first handshakes.
  const recoveredAt = await Promise.race([
    waitFor(
      () => {
        const ready = plane.ready();
        if (ready.length !== workloads.length || ready.some((p) => fingerprintsOf(p.roots.join('')).includes(anchor.fingerprint))) return undefined;
        const firsts = ready.map((p) => p.firstHandshakeAt);
        return firsts.every((at): at is number => at !== undefined) ? Math.max(...firsts) : undefined;
      },
      { what: 'every simulated proxy to handshake again on the recovered anchor', timeoutMs: 600_000, diagnose: seen },
    ),
    exitedEarly,
  ]);
  const run = await running;
  if (run.code !== 0) throw new Error(`recover exited ${run.code}:\n${run.stderr.slice(-4000)}${run.stdout.slice(-2000)}`);
  const finishedAt = Date.now();
  expect(JSON.parse(run.stdout)).toMatchObject({ outcome: 'done', message: expect.stringMatching(/^recovery \(anchor-expired\) done/) });
  // It got cert-manager out of the request signed under the dead anchor (phases/recover.ts).
  expect(recoverOutput).toContain(`delete CertificateRequest ${deadRequest.metadata.name}`);
  process.stderr.write(
    `recover (anchor-expired under traffic, ${workloads.length} meshed workloads and the control plane): time to recovery ${((recoveredAt - startedAt) / 1000).toFixed(1)} s ` +
      `(start of recover until every simulated proxy handshook again), recover ran ${((finishedAt - startedAt) / 1000).toFixed(1)} s; ` +
      `${outage} failed handshakes recorded after the expiry before recover (${refusals.join('; ')})\n`,
  );

  // After recovery: every pod trusts the new anchor alone, and a window of traffic has no failure.
  const recovered = await anchorPem(cluster, names.trustNamespace, names.activeAnchorSecret);
  expect(fingerprintOf(recovered)).not.toBe(anchor.fingerprint);
  await expectMeshRotatedTo(testCluster(), { anchorPem: recovered, rotationStartedAt: new Date(startedAt), dataPlaneNamespaces: workloads.map((w) => w.namespace) });
  expect(plane.ready().map((p) => fingerprintsOf(p.roots.join('')))).toEqual(workloads.map(() => [fingerprintOf(recovered)]));
  const failuresBefore = traffic.failures.length;
  const handshakesBefore = traffic.handshakes;
  await waitFor(() => traffic.handshakes >= handshakesBefore + 300, { what: '300 handshakes after recovery', timeoutMs: 120_000, diagnose: seen });
  expect(traffic.failures.slice(failuresBefore)).toEqual([]);
}, 900_000);
