// Issue 15's main proof on the local cluster: the anchor expires under live traffic, and `rotator
// recover` (run as the CronJob's runner) brings the mesh back. The mesh runs on an anchor and an
// identity issuer made here, valid for a few minutes (cert-manager issues nothing shorter than an
// hour). cert-manager's controller is stopped first: that is the incident's cause (a cert-manager
// down renews nothing: not the prepared anchor, not the issuer), and it is started again, as an
// operator would, just before `recover`. The issuer ends with its anchor, as cert-manager's CA
// issuer caps a certificate at its CA's NotAfter, so the case is `both-expired`; identity clamps
// every leaf to the issuer's end, so the outage starts at that instant (rustls-webpki ignores an
// anchor's own validity, not an expired issuer's or leaf's). The traffic driver records the
// failures after it (the outage is real: the control), then `recover` runs and the time to recovery
// is measured, from its start until every simulated proxy has handshaken again on the new anchor.
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import { waitFor } from '../cluster/src/index.js';
import type { RunResult } from '../cluster/src/kubectl.js';
import { expectMeshRotatedTo } from '../scenarios/rotated-mesh.js';
import { fingerprintOf, fingerprintsOf } from '../support/certs.js';
import { kubectlAs, waitForTrustRoots } from '../support/chart.js';
import { useLocalTestCluster } from '../support/local-test-cluster.js';
import { useMeshedTraffic } from '../support/meshed-traffic.js';
import { anchorPem } from '../support/objects.js';
import { runRecover } from '../support/recover.js';

/**
 * How long the test's anchor (and the issuer under it) live. Setup after they are made (Linkerd,
 * 6 meshed workloads, their proxies' first leaves, the warm-up traffic) takes about a minute on a
 * loaded 2-core machine; the rest of the lifetime is healthy traffic before the expiry.
 */
const ANCHOR_LIFETIME_MS = 180_000;

const testCluster = useLocalTestCluster();
let expiring: { anchor: Credentials; issuer: Credentials; notAfter: number } | undefined;

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** `kubectl patch secret` of these data keys as `as` (admin or the runner's ServiceAccount); the result, failures included. */
function patchSecret(as: (args: string[]) => Promise<RunResult>, namespace: string, name: string, data: Record<string, string>): Promise<RunResult> {
  const encoded = Object.fromEntries(Object.entries(data).map(([key, value]) => [key, b64(value)]));
  return as(['-n', namespace, 'patch', 'secret', name, '--type=merge', '-p', JSON.stringify({ data: encoded })]);
}

/** A write the webhook may refuse until the exporter's public view has caught up with the Secrets written before it. */
async function patchSecretUntilAdmitted(as: (args: string[]) => Promise<RunResult>, namespace: string, name: string, data: Record<string, string>): Promise<void> {
  let last: RunResult | undefined;
  await waitFor(async () => (last = await patchSecret(as, namespace, name, data)).code === 0, {
    what: `Secret ${namespace}/${name} written`,
    timeoutMs: 60_000,
    diagnose: () => `Last refusal: ${last?.stderr.trim() ?? 'none'}`,
  });
}

// Registered between the chart's beforeAll and useMeshedTraffic's, so the mesh starts on them.
beforeAll(async () => {
  const { cluster, rotator, names } = testCluster();
  await cluster.stopComponent('cert-manager-controller');
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + ANCHOR_LIFETIME_MS);
  const anchor = await fixtures.makeAnchor({ notBefore, notAfter });
  const issuer = await fixtures.makeIssuer(anchor, { notBefore, notAfter });
  expiring = { anchor, issuer, notAfter: notAfter.getTime() };
  // As a cluster whose anchors all are this one: the prepared Secret as cert-manager writes it (an
  // admin's write, not guarded), the active and previous ones as the runner writes them (its
  // ServiceAccount: the chart's guard lets only it), in an order the webhook admits at each step:
  // the bundle {A, S}, the issuer under S once S is active, then {S}.
  const asAdmin = (args: string[]) => cluster.kubectl(args, { allowFailure: true });
  const asRunner = kubectlAs(cluster, rotator.runnerKubeconfig);
  const trustNs = names.trustNamespace;
  await patchSecretUntilAdmitted(asAdmin, trustNs, names.preparedAnchorSecret, { 'tls.crt': anchor.certPem, 'tls.key': anchor.keyPemTraditional, 'ca.crt': anchor.certPem });
  await patchSecretUntilAdmitted(asRunner, trustNs, names.activeAnchorSecret, { 'tls.crt': anchor.certPem, 'tls.key': anchor.keyPemTraditional, 'anchor.crt': anchor.certPem });
  await waitForTrustRoots(cluster, [rotator.anchorPem, anchor.certPem], 'trust-manager to publish the bootstrapped anchor and the short-lived one');
  await patchSecretUntilAdmitted(asAdmin, names.linkerdNamespace, names.issuerSecret, { 'tls.crt': issuer.certPem, 'tls.key': issuer.keyPemTraditional, 'ca.crt': anchor.certPem });
  await patchSecretUntilAdmitted(asRunner, trustNs, names.previousAnchorSecret, { 'tls.crt': anchor.certPem });
  await waitForTrustRoots(cluster, [anchor.certPem], 'trust-manager to publish the short-lived anchor alone');
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

it('recovers an anchor and issuer that expired under traffic: the outage is recorded, then every proxy handshakes again on the new anchor alone, 0 failures after', async () => {
  const { cluster, names } = testCluster();
  const { plane, traffic, workloads } = mesh();
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

  // The outage (the control): handshakes fail from the expiry on, and not before it (5 s for a
  // handshake judged just after the instant it started before).
  const failedAfterExpiry = () => traffic.failures.filter((f) => Date.parse(f.at) >= notAfter);
  await waitFor(() => failedAfterExpiry().length >= 20, { what: `20 failed handshakes after the anchor and issuer ended (${new Date(notAfter).toISOString()})`, timeoutMs: notAfter - Date.now() + 120_000, diagnose: seen });
  expect(traffic.failures.filter((f) => Date.parse(f.at) < notAfter - 5_000)).toEqual([]);
  const outage = failedAfterExpiry().length;
  const refusals = [...new Set(failedAfterExpiry().map((f) => `${f.refusedBy ?? 'not a refusal'}: ${f.webpkiError ?? f.error}`))];

  // The operator brings cert-manager back, then runs recover.
  await cluster.startComponent('cert-manager-controller');
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
  expect(JSON.parse(run.stdout)).toMatchObject({ outcome: 'done', message: expect.stringMatching(/^recovery \(both-expired\) done/) });
  process.stderr.write(
    `recover (both-expired under traffic, ${workloads.length} meshed workloads and the control plane): time to recovery ${((recoveredAt - startedAt) / 1000).toFixed(1)} s ` +
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
