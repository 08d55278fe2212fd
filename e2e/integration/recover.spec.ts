// `rotator recover` (issue 15) on the local cluster, as the CronJob's runner (its ServiceAccount, its
// flags): it refuses a healthy mesh, writing nothing; and it recovers an active anchor gone from its
// Secret (the issuer chained to an anchor no prepared one can replace) through the real webhook,
// trust-manager and cert-manager: the bundle becomes the new anchor alone although it no longer
// verifies the old issuer (docs/webhook.md "While a recovery runs"), and the issuer is renewed under it.
// Then the same incident again, the runner killed with SIGKILL once the recovery is recorded: a rerun
// resumes that recovery to the same end state. An anchor expiring under live traffic, and the time to
// recovery: recover-expiry.spec.ts; an issuer expiring: recover-issuer-expiry.spec.ts.
import { waitFor } from '../cluster/src/index.js';
import { installLinkerd } from '../cluster/src/linkerd/install.js';
import { fingerprintOf, fingerprintsOf } from '../support/certs.js';
import { kubectlAs } from '../support/chart.js';
import { createMeshedWorkloads } from '../support/mesh.js';
import { cmctlRenew } from '../support/common-recipe.js';
import { useLocalTestCluster } from '../support/local-test-cluster.js';
import { runRecover, runnerState } from '../support/recover.js';
import { anchorPem, secretData, trustRootsPem } from '../support/objects.js';

const testCluster = useLocalTestCluster();
// Linkerd's identity (restarted by recovery), its injector (its dry-run, in a meshed pod's namespace,
// tells which bundle new pods get) and a few meshed workloads (restarted by recovery).
beforeAll(async () => {
  await installLinkerd(testCluster().cluster, { issuanceLifetime: '1h0m0s' });
  await createMeshedWorkloads(testCluster().cluster, { namespaces: 1, workloadsPerNamespace: 3 });
}, 600_000);

// Every gate here opens within seconds on a healthy cluster: runRecover's 2-minute phase deadline stops a stuck run.
const recover = (extraArgs: string[]) => runRecover(testCluster(), { extraArgs });

async function stateVersion(): Promise<string> {
  const { cluster, release, names } = testCluster();
  return (await cluster.kubectl(['-n', release.namespace, 'get', 'configmap', names.stateConfigMap, '-o', 'jsonpath={.metadata.resourceVersion}'], { allowFailure: true })).stdout;
}

it('refuses a healthy mesh: exit 1, the state untouched, the message says what it found', async () => {
  const before = await stateVersion();
  const run = await recover(['--yes']);
  expect(run.code).toBe(1);
  expect(run.stderr).toMatch(/refused: expected an expiry incident to recover from .*found a healthy mesh: the active anchor [0-9a-f]{16} ends/);
  expect(await stateVersion()).toBe(before);
}, 600_000);

/**
 * The incident: cert-manager renews the prepared anchor, then an admin takes the chart's guard off
 * (its ValidatingAdmissionPolicyBinding lets only the runner write the anchor Secrets, and the runner
 * never deletes them), deletes the active Secret, and puts the guard back. Returns the new prepared
 * anchor, the one recovery must adopt (the issuer chains to the deleted anchor).
 */
async function deleteActiveAnchor(): Promise<string> {
  const { cluster, rotator, names, release } = testCluster();
  const old = await anchorPem(cluster, names.trustNamespace, names.activeAnchorSecret);
  await cmctlRenew(cluster, names.trustNamespace, names.preparedAnchorCertificate);
  const prepared = await waitFor(
    async () => {
      const pem = await anchorPem(cluster, names.trustNamespace, names.preparedAnchorSecret).catch(() => '');
      return pem && fingerprintOf(pem) !== fingerprintOf(old) ? pem : undefined;
    },
    { what: 'cert-manager to write a new prepared anchor', timeoutMs: 120_000 },
  );
  const guard = `${release.name}-anchor-guard`;
  const binding = JSON.parse((await cluster.kubectl(['get', 'validatingadmissionpolicybinding', guard, '-o', 'json'])).stdout) as { metadata: Record<string, unknown> };
  await cluster.kubectl(['delete', 'validatingadmissionpolicybinding', guard]);
  await waitFor(async () => (await cluster.kubectl(['-n', names.trustNamespace, 'delete', 'secret', names.activeAnchorSecret, '--ignore-not-found'], { allowFailure: true })).code === 0, {
    what: 'the active Secret deleted once the guard is off',
    timeoutMs: 60_000,
  });
  const { name, labels, annotations } = binding.metadata;
  await cluster.kubectl(['create', '-f', '-'], { input: JSON.stringify({ ...binding, metadata: { name, labels, annotations } }) });
  expect((await kubectlAs(cluster, rotator.runnerKubeconfig)(['-n', names.trustNamespace, 'get', 'secret', names.activeAnchorSecret])).code).not.toBe(0);
  return prepared;
}

/** The end state of an active-anchor-missing recovery: `prepared` in every anchor Secret and alone in the bundle, the issuer under it, and a second recover refused. */
async function expectRecoveredTo(prepared: string): Promise<void> {
  const { cluster, names } = testCluster();
  expect(fingerprintOf(await anchorPem(cluster, names.trustNamespace, names.activeAnchorSecret))).toBe(fingerprintOf(prepared));
  expect(fingerprintOf(await anchorPem(cluster, names.trustNamespace, names.previousAnchorSecret))).toBe(fingerprintOf(prepared));
  expect(fingerprintsOf(await trustRootsPem(cluster))).toEqual([fingerprintOf(prepared)]);
  const issuer = await secretData(cluster, names.linkerdNamespace, names.issuerSecret);
  expect(fingerprintOf(issuer['ca.crt'] ?? '')).toBe(fingerprintOf(prepared));
  // and the mesh is healthy again: a second recover refuses
  expect((await recover(['--yes'])).code).toBe(1);
}

it('recovers an active anchor gone from its Secret: the bundle becomes the prepared anchor alone, the issuer is renewed under it', async () => {
  const prepared = await deleteActiveAnchor();
  const startedAt = Date.now();
  const run = await recover(['--yes']);
  if (run.code !== 0) throw new Error(`recover exited ${run.code}:\n${run.stderr.slice(-4000)}${run.stdout.slice(-2000)}`);
  const report = JSON.parse(run.stdout) as { outcome: string; message: string };
  expect(report).toMatchObject({ outcome: 'done', message: expect.stringMatching(/^recovery \(active-anchor-missing\) done/) });
  process.stderr.write(`recover (active-anchor-missing, 3 meshed workloads and the control plane, no traffic): ${((Date.now() - startedAt) / 1000).toFixed(1)} s\n`);
  await expectRecoveredTo(prepared);
}, 900_000);

// The runner persists every step before the next (docs/runner.md "The Lease and kill -9"); a rerun
// must resume the recovery the killed run recorded, not start another one from what it then sees.
it('kill -9 during a recovery: the state keeps the recovery under way, and a rerun resumes it (same recovery, same anchor) to the same end state', async () => {
  const prepared = await deleteActiveAnchor();
  let group: number | undefined;
  let output = '';
  const killed = runRecover(testCluster(), { extraArgs: ['--yes'], onOutput: (chunk) => (output += chunk), onGroupStarted: (pid) => (group = pid) });
  let exited = false;
  void killed.then(() => (exited = true));
  // Past its first write: the recovery is recorded (the transition to Recover) and its target chosen.
  const underWay = await waitFor(
    async () => {
      if (exited) throw new Error(`recover exited before the state showed its target:\n${output.slice(-3000)}`);
      const state = await runnerState(testCluster());
      return state?.phase === 'Recover' && state.rotation?.to ? state : undefined;
    },
    { what: "the state ConfigMap to show the recovery's chosen target", timeoutMs: 120_000, intervalMs: 200 },
  );
  process.kill(-group!, 'SIGKILL');
  const run = await killed;
  expect(run.code).not.toBe(0);
  expect(output).not.toMatch(/RecoveryDone|recovery \(active-anchor-missing\) done/);
  const recorded = await runnerState(testCluster());
  expect(recorded).toMatchObject({ phase: 'Recover', rotation: { id: underWay.rotation!.id, recovery: 'active-anchor-missing', to: { fingerprint: fingerprintOf(prepared) } } });

  const rerun = await recover(['--yes']);
  if (rerun.code !== 0) throw new Error(`recover (rerun) exited ${rerun.code}:\n${rerun.stderr.slice(-4000)}${rerun.stdout.slice(-2000)}`);
  expect(JSON.parse(rerun.stdout)).toMatchObject({ outcome: 'done', message: expect.stringMatching(/^recovery \(active-anchor-missing\) done/) });
  // Resumed, not started again: the finished recovery is the one the killed run recorded.
  expect((await runnerState(testCluster()))?.last).toMatchObject({ id: underWay.rotation!.id, startedAt: underWay.rotation!.startedAt, to: fingerprintOf(prepared) });
  await expectRecoveredTo(prepared);
}, 900_000);
