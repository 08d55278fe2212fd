// Negative control for the end-to-end proof (issue 6, scenario 2): the same cluster, data plane and
// traffic driven through the common rotation recipe must show mTLS failures. If the harness saw
// none here, it could not be trusted to show that linkerd-rotator causes none.
import { installLinkerd } from '../cluster/src/linkerd/install.js';
import { waitFor } from '../cluster/src/index.js';
import { useCluster } from '../support/cluster.js';
import { runCommonRecipe } from '../support/common-recipe.js';
import { DataPlane, describeTraffic, TrafficDriver } from '../support/dataplane.js';
import { applyLinkerdDocsPki } from '../support/linkerd-docs-pki.js';
import { createMeshedWorkloads } from '../support/mesh.js';

const testCluster = useCluster();

it('the common recipe breaks mTLS between restarted and not-yet-restarted pods', async () => {
  const cluster = testCluster();
  await applyLinkerdDocsPki(cluster);
  // The recipe's bundle: the anchor plus a "previous" copy it keeps by hand.
  await cluster.kubectl(['patch', 'bundle', 'linkerd-identity-trust-roots', '--type=json', '-p',
    JSON.stringify([{ op: 'add', path: '/spec/sources/-', value: { secret: { name: 'linkerd-previous-anchor', key: 'tls.crt' } } }])]);
  const linkerd = await installLinkerd(cluster, { issuanceLifetime: '1m0s' });
  const workloads = await createMeshedWorkloads(cluster, { namespaces: 4, workloadsPerNamespace: 8 });
  const plane = new DataPlane(cluster.kubeConfig(), linkerd.identityAddr);
  await plane.start();
  await waitFor(() => plane.ready().length === workloads.length, { what: `${workloads.length} simulated proxies with leaves`, timeoutMs: 180_000, diagnose: () => plane.describeReadiness() });
  const traffic = new TrafficDriver(plane, { concurrency: 4 });
  traffic.start();
  try {
    await waitFor(() => traffic.handshakes >= 200, { what: '200 handshakes before the rotation', timeoutMs: 120_000 });
    expect(traffic.failures).toEqual([]);
    expect(traffic.disagreements).toBe(0);
    await runCommonRecipe(cluster, {
      dataPlaneNamespaces: [...new Set(workloads.map((w) => w.namespace))],
      sleepsMs: { afterAnchor: 5_000, afterIssuer: 5_000, afterControlPlane: 2_000, perNamespace: 3_000, beforeRetire: 3_000 },
    });
  } finally {
    const result = await traffic.stop();
    await plane.stop();
    process.stderr.write(`${describeTraffic('common recipe', result)}\n`);
  }
  expect(traffic.failures.length).toBeGreaterThan(0);
  // The failures are trust failures between proxies holding different roots, not plumbing errors.
  const mixed = traffic.failures.filter((f) => f.client.rootsSha256 !== f.server.rootsSha256);
  expect(mixed.length).toBeGreaterThan(0);
  // Refused by Linkerd's verifier (webpki names its reason), and node:tls judged every chain alike.
  expect(mixed.filter((f) => f.webpkiError !== undefined).length).toBeGreaterThan(0);
  expect(traffic.disagreements).toBe(0);
}, 900_000);
