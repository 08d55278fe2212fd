// Issue 15's issuer proof on the local cluster: the identity issuer expires under live traffic (the
// anchor valid), and `rotator recover` (run as the CronJob's runner) brings the mesh back restarting
// identity and no other pod. cert-manager issues nothing shorter than an hour, so the issuer that
// expires is made here, as cert-manager's CA issuer would have signed it had it been asked for a few
// minutes: under the chart's active anchor (its key read as an admin), with the key of the request
// cert-manager made for the current revision, written where cert-manager writes an issuance (the
// Secret's tls.crt, tls.key and ca.crt; a CertificateRequest of the next revision, owned by the
// Certificate, approved and Ready with that chain; the Certificate's status.revision, notBefore and
// notAfter), because the runner reads the issuer from that request, never from the Secret
// (docs/runner.md "The issuer's chain without its Secret"). The incident's cause is real: cert-manager's
// controller is stopped first, so nothing renews the issuer. Identity (the stand-in, as upstream's
// pkg/identity/service.go) re-verifies its issuer against the anchors at every Certify and clamps
// every leaf to the issuer's NotAfter, so at the issuer's end every leaf ends and no proxy gets a new
// one: the traffic driver records the failures (the control) and the proxies record identity's
// refusals. Then `recover --yes` runs while cert-manager is still down (it asks cert-manager for a
// renewal, Issuing=True, and waits on it); once it has, the operator starts cert-manager again. The
// order is deliberate: cert-manager started first would renew the issuer by itself within seconds and
// identity would load it from its volume (the watch of upstream's creds_watcher.go), so `recover`
// started after it might find a healthy mesh and refuse, correctly. The time to recovery runs from
// the start of `recover` until every simulated proxy has made a handshake both sides accepted with a
// leaf of the renewed issuer; every pod's UID is compared before and after to name the restarts.
// (kwok keeps a pod Ready whatever its proxy does, so the branch that restarts workloads still not
// Ready after --recover-leaf-grace is not reached here: libs/rotation/test/recover.spec.ts covers it.)
import { fixtures } from '@linkerd-rotator/x509/testing';
import { waitFor } from '../cluster/src/index.js';
import { certificatePems, fingerprintOf } from '../support/certs.js';
import { b64 } from '../support/chart.js';
import { credentialsFromPem } from '../support/credentials.js';
import { useLocalTestCluster } from '../support/local-test-cluster.js';
import { useMeshedTraffic } from '../support/meshed-traffic.js';
import { getJson, secretData } from '../support/objects.js';
import { issuerRequests, patchSecret, runRecover, signedBy } from '../support/recover.js';

/**
 * How long the test's issuer lives. Setup after it is made (Linkerd, 6 meshed workloads, their
 * proxies' first leaves, the warm-up traffic) takes about a minute and a half on a loaded 2-core
 * machine; the rest is healthy traffic before the expiry.
 */
const ISSUER_LIFETIME_MS = 180_000;

const testCluster = useLocalTestCluster();
let expiring: { fingerprint: string; notAfter: number } | undefined;

interface IssuerCertificate {
  metadata: { uid: string };
  status?: { revision?: number; conditions?: { type: string; status: string }[] };
}

// Registered between the chart's beforeAll and useMeshedTraffic's, so identity starts on the issuer.
beforeAll(async () => {
  const { cluster, names } = testCluster();
  const ns = names.linkerdNamespace;
  const asAdmin = (args: string[]) => cluster.kubectl(args, { allowFailure: true });
  await cluster.stopComponent('cert-manager-controller');
  const certificate = await getJson<IssuerCertificate>(cluster, ['-n', ns, 'get', 'certificate', names.issuerCertificate]);
  const revision = certificate.status?.revision;
  if (revision === undefined) throw new Error(`expected cert-manager to have issued ${names.issuerCertificate} (status.revision), found none`);
  const current = (await issuerRequests(cluster, ns)).find(
    (r) => r.metadata.ownerReferences?.some((o) => o.uid === certificate.metadata.uid) && r.metadata.annotations?.['cert-manager.io/certificate-revision'] === String(revision),
  );
  if (!current?.spec) throw new Error(`expected the CertificateRequest of revision ${revision} of ${names.issuerCertificate}, found none`);

  const active = await secretData(cluster, names.trustNamespace, names.activeAnchorSecret);
  const anchor = await credentialsFromPem(certificatePems(active['tls.crt'] ?? '')[0]!, active['tls.key'] ?? '');
  const issued = await secretData(cluster, ns, names.issuerSecret);
  const key = await credentialsFromPem(issued['tls.crt'] ?? '', issued['tls.key'] ?? '');
  const issuer = await fixtures.makeIssuer(anchor, {
    keys: key.keys,
    subject: key.cert.subject,
    dnsNames: ['identity.linkerd.cluster.local'],
    extendedKeyUsages: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'],
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + ISSUER_LIFETIME_MS),
  });
  expiring = { fingerprint: issuer.fingerprint, notAfter: issuer.cert.notAfter.getTime() };

  // As cert-manager: its CA issuer makes the request Ready with the chain, then its issuing controller
  // writes the Secret from that request and only then sets the Certificate's revision.
  const next = revision + 1;
  const { labels, annotations, ownerReferences } = current.metadata;
  const name = `${names.issuerCertificate}-${next}`;
  const metadata = { name, labels, ownerReferences, annotations: { ...annotations, 'cert-manager.io/certificate-revision': String(next) } };
  const request = { apiVersion: 'cert-manager.io/v1', kind: 'CertificateRequest', metadata, spec: current.spec };
  await cluster.kubectl(['-n', ns, 'create', '-f', '-'], { input: JSON.stringify(request) });
  const now = new Date().toISOString();
  const conditions = [
    { type: 'Approved', status: 'True', reason: 'cert-manager.io', message: 'Certificate request has been approved by cert-manager.io', lastTransitionTime: now },
    { type: 'Ready', status: 'True', reason: 'Issued', message: 'Certificate fetched from issuer successfully', lastTransitionTime: now },
  ];
  await cluster.kubectl(['-n', ns, 'patch', 'certificaterequest', name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { certificate: b64(issuer.certPem), ca: b64(anchor.certPem), conditions } })]);
  await patchSecret(asAdmin, ns, names.issuerSecret, { 'tls.crt': issuer.certPem, 'tls.key': issued['tls.key']!, 'ca.crt': anchor.certPem });
  const iso = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');
  const status = {
    revision: next,
    notBefore: iso(issuer.cert.notBefore),
    notAfter: iso(issuer.cert.notAfter),
    renewalTime: iso(new Date(issuer.cert.notAfter.getTime() - 60_000)),
    conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'Certificate is up to date and has not expired', lastTransitionTime: now, observedGeneration: 1 }],
  };
  await cluster.kubectl(['-n', ns, 'patch', 'certificate', names.issuerCertificate, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
  expect(signedBy((await secretData(cluster, ns, names.issuerSecret))['tls.crt'] ?? '', anchor)).toBe(true);
}, 300_000);

const mesh = useMeshedTraffic(() => testCluster().cluster, {
  label: 'recover-issuer-expiry',
  mesh: { namespaces: 2, workloadsPerNamespace: 3 },
  concurrency: 4,
  warmup: { handshakes: 100, before: 'the issuer expires' },
});

interface PodList {
  items: { metadata: { namespace: string; name: string; uid: string; labels?: Record<string, string> } }[];
}

/** Every pod in the cluster, namespace/name -> UID, with identity's pods named apart. */
async function pods(): Promise<{ uids: Map<string, string>; identity: Set<string> }> {
  const list = await getJson<PodList>(testCluster().cluster, ['get', 'pods', '-A']);
  const key = (p: PodList['items'][number]) => `${p.metadata.namespace}/${p.metadata.name}`;
  return {
    uids: new Map(list.items.map((p) => [key(p), p.metadata.uid])),
    identity: new Set(list.items.filter((p) => p.metadata.labels?.['linkerd.io/control-plane-component'] === 'identity').map(key)),
  };
}

it('recovers an identity issuer that expired under traffic (the anchor valid): the outage is recorded, then recover restarts identity alone and every proxy renews its leaf and handshakes again, 0 failures after', async () => {
  const { cluster, names } = testCluster();
  const { plane, traffic, workloads } = mesh();
  const { fingerprint: deadIssuer, notAfter } = expiring!;
  let recoverOutput = '';
  const seen = () =>
    [
      plane.describeReadiness(),
      `Traffic: ${traffic.handshakes} handshakes, ${traffic.failures.length} failures; last: ${JSON.stringify(traffic.failures.at(-1) ?? null)}.`,
      `Proxies: ${[...plane.proxies.values()].map((p) => `${p.name} leaf issuer ${p.leafIssuerFingerprint?.slice(0, 16)} until ${p.leafValidUntil?.toISOString()}`).join('; ')}`,
      recoverOutput ? `recover's output (tail):\n${recoverOutput.slice(-3000)}` : '',
    ].join('\n');
  expect(Date.now()).toBeLessThan(notAfter);
  expect(plane.ready().map((p) => p.leafIssuerFingerprint)).toEqual(workloads.map(() => deadIssuer));

  // The outage (the control): handshakes fail after the issuer's end and not before it (5 s for a
  // handshake judged just after the instant it started before), and identity refuses every Certify.
  const failedAfterExpiry = () => traffic.failures.filter((f) => Date.parse(f.at) >= notAfter);
  await waitFor(() => failedAfterExpiry().length >= 20, { what: `20 failed handshakes after the issuer ended (${new Date(notAfter).toISOString()})`, timeoutMs: notAfter - Date.now() + 180_000, diagnose: seen });
  expect(traffic.failures.filter((f) => Date.parse(f.at) < notAfter - 5_000)).toEqual([]);
  const refusedCertify = () => plane.events.filter((e) => Date.parse(e.at) >= notAfter && e.event.startsWith('leaf refresh failed'));
  await waitFor(() => refusedCertify().length >= workloads.length, { what: "every proxy's leaf refresh refused by identity after the issuer's end", timeoutMs: 60_000, diagnose: seen });
  const outage = failedAfterExpiry().length;
  const refusals = [...new Set(failedAfterExpiry().map((f) => `${f.refusedBy ?? 'not a refusal'}: ${f.webpkiError ?? f.error}`))];

  // recover, cert-manager still down: it asks for the renewal (Issuing=True) and waits on it; then
  // the operator starts cert-manager.
  const before = await pods();
  const startedAt = Date.now();
  const firstAccepted = new Map<string, number>();
  const stopListening = traffic.onAccepted((at, client, server) => {
    for (const proxy of [client, server]) if (!firstAccepted.has(proxy.uid)) firstAccepted.set(proxy.uid, at);
  });
  const running = runRecover(testCluster(), { extraArgs: ['--yes'], phaseTimeout: '3m', onOutput: (chunk) => (recoverOutput += chunk) });
  const exitedEarly = running.then(async (run) => {
    if (run.code !== 0) throw new Error(`recover exited ${run.code} before every proxy handshook again:\n${seen()}\n${run.stderr.slice(-3000)}`);
    return new Promise<never>(() => undefined);
  });
  await Promise.race([
    waitFor(
      async () => {
        const certificate = await getJson<IssuerCertificate>(cluster, ['-n', names.linkerdNamespace, 'get', 'certificate', names.issuerCertificate]);
        return certificate.status?.conditions?.some((c) => c.type === 'Issuing' && c.status === 'True');
      },
      { what: `recover to ask cert-manager to renew ${names.issuerCertificate} (Issuing=True)`, timeoutMs: 120_000, diagnose: seen },
    ),
    exitedEarly,
  ]);
  const certManagerAt = Date.now();
  await cluster.startComponent('cert-manager-controller');

  // Recovered: as many ready proxies as meshed workloads, each on a leaf of the renewed issuer, each
  // in a handshake both sides accepted since recover started; the time is the last of those.
  const renewed = () => plane.ready().filter((p) => p.leafIssuerFingerprint !== undefined && p.leafIssuerFingerprint !== deadIssuer);
  const recoveredAt = await Promise.race([
    waitFor(
      () => {
        const ready = renewed();
        if (ready.length !== workloads.length) return undefined;
        const firsts = ready.map((p) => firstAccepted.get(p.uid));
        return firsts.every((at): at is number => at !== undefined) ? Math.max(...firsts) : undefined;
      },
      { what: 'every simulated proxy to handshake again on a leaf of the renewed issuer', timeoutMs: 600_000, diagnose: seen },
    ),
    exitedEarly,
  ]);
  stopListening();
  const run = await running;
  if (run.code !== 0) throw new Error(`recover exited ${run.code}:\n${run.stderr.slice(-4000)}${run.stdout.slice(-2000)}`);
  const finishedAt = Date.now();
  expect(JSON.parse(run.stdout)).toMatchObject({ outcome: 'done', message: expect.stringMatching(/^recovery \(issuer-expired\) done/) });

  // Restarted: identity's pods, and no other pod of the cluster.
  const after = await pods();
  const replaced = [...before.uids].filter(([pod, uid]) => after.uids.get(pod) !== uid).map(([pod]) => pod).sort();
  const created = [...after.uids].filter(([pod, uid]) => before.uids.get(pod) !== uid).map(([pod]) => pod).sort();
  expect(replaced).toEqual([...before.identity].sort());
  expect(created).toEqual([...after.identity].sort());
  expect(replaced.length).toBeGreaterThan(0);

  const issuerPem = (await secretData(cluster, names.linkerdNamespace, names.issuerSecret))['tls.crt'] ?? '';
  const issuerNow = fingerprintOf(issuerPem);
  expect(issuerNow).not.toBe(deadIssuer);
  process.stderr.write(
    `recover (issuer-expired under traffic, ${workloads.length} meshed workloads and the control plane): time to recovery ${((recoveredAt - startedAt) / 1000).toFixed(1)} s ` +
      `(start of recover until every simulated proxy handshook again on the renewed issuer; cert-manager started ${((certManagerAt - startedAt) / 1000).toFixed(1)} s after recover), ` +
      `recover ran ${((finishedAt - startedAt) / 1000).toFixed(1)} s; restarted: ${replaced.join(', ')}; ` +
      `${outage} failed handshakes recorded after the expiry before recover (${refusals.join('; ')}); identity refused ${refusedCertify().length} leaf refreshes (e.g. ${refusedCertify()[0]?.event ?? 'none'})\n`,
  );

  // After recovery: every proxy (the same pods) holds a leaf of the renewed issuer, and a window of
  // traffic has no failure.
  await waitFor(() => plane.ready().every((p) => p.leafIssuerFingerprint === issuerNow) && plane.ready().length === workloads.length, {
    what: 'every proxy on a leaf of the issuer cert-manager renewed',
    timeoutMs: 120_000,
    diagnose: seen,
  });
  const failuresBefore = traffic.failures.length;
  const handshakesBefore = traffic.handshakes;
  await waitFor(() => traffic.handshakes >= handshakesBefore + 300, { what: '300 handshakes after recovery', timeoutMs: 120_000, diagnose: seen });
  expect(traffic.failures.slice(failuresBefore)).toEqual([]);
}, 900_000);
