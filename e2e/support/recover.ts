// `rotator recover` run as the chart's CronJob would (its ServiceAccount, its flags), for the specs
// that recover a broken mesh on the local cluster, and what those specs share: writing a Secret as
// an admin or the runner would, the issuer's CertificateRequests, the runner's state ConfigMap.
import { X509Certificate } from 'node:crypto';
import type { Credentials } from '@linkerd-rotator/x509/testing';
import { waitFor } from '../cluster/src/index.js';
import type { RunResult } from '../cluster/src/kubectl.js';
import { certificatePems } from './certs.js';
import { b64, runRunnerAsChart, type RunnerRun } from './chart.js';
import type { LocalTestCluster } from './local-test-cluster.js';
import { getJson } from './objects.js';
import type { Kubectl } from './test-cluster.js';

/**
 * `recover --output json --phase-timeout <phaseTimeout>` plus `extraArgs`. Every gate of a recovery
 * opens within seconds to a few minutes on a healthy local cluster: a short phase deadline stops a
 * stuck run, naming its gate. `onGroupStarted` gets the runner's process group (for a `kill -9`).
 */
export function runRecover(
  testCluster: LocalTestCluster,
  opts: { extraArgs: string[]; phaseTimeout?: string; onOutput?: (chunk: string) => void; onGroupStarted?: (pid: number) => void },
): Promise<RunnerRun> {
  const { cluster, rotator } = testCluster;
  return runRunnerAsChart(cluster, {
    kubeconfig: rotator.runnerKubeconfig,
    workload: 'rotate-cronjob',
    command: 'recover',
    extraArgs: ['--output', 'json', '--phase-timeout', opts.phaseTimeout ?? '2m', ...opts.extraArgs],
    timeoutMs: 600_000,
    ...(opts.onOutput ? { onOutput: opts.onOutput } : {}),
    ...(opts.onGroupStarted ? { onGroupStarted: opts.onGroupStarted } : {}),
  });
}

/** `kubectl patch secret` of these data keys as `as` (admin or the runner's ServiceAccount), retried while refused. */
export async function patchSecret(as: (args: string[]) => Promise<RunResult>, namespace: string, name: string, data: Record<string, string>): Promise<void> {
  const encoded = Object.fromEntries(Object.entries(data).map(([key, value]) => [key, b64(value)]));
  let last: RunResult | undefined;
  await waitFor(async () => (last = await as(['-n', namespace, 'patch', 'secret', name, '--type=merge', '-p', JSON.stringify({ data: encoded })])).code === 0, {
    what: `Secret ${namespace}/${name} written`,
    timeoutMs: 60_000,
    diagnose: () => `Last refusal: ${last?.stderr.trim() ?? 'none'}`,
  });
}

/** Whether the first certificate of `pem` is signed by `signer`'s key. */
export const signedBy = (pem: string, signer: Pick<Credentials, 'certPem'>) => new X509Certificate(certificatePems(pem)[0]!).verify(new X509Certificate(signer.certPem).publicKey);

export interface IssuerRequest {
  metadata: { name: string; uid?: string; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: { uid: string }[] };
  spec?: Record<string, unknown>;
  status?: { certificate?: string; conditions?: { type: string; status: string }[] };
}

/** The CertificateRequests of Linkerd's namespace (the issuer Certificate's revisions among them). */
export async function issuerRequests(cluster: Kubectl, linkerdNamespace: string): Promise<IssuerRequest[]> {
  return (await getJson<{ items: IssuerRequest[] }>(cluster, ['-n', linkerdNamespace, 'get', 'certificaterequests'])).items;
}

/** The runner's state ConfigMap as the runner wrote it last (`state.json` parsed), or undefined. */
export interface RecoveryStateView {
  phase: string;
  rotation?: { id: string; recovery?: string; startedAt: string; to?: { fingerprint: string } };
  last?: { id: string; from: string; to: string; startedAt: string; finishedAt: string };
}

export async function runnerState(testCluster: Pick<LocalTestCluster, 'cluster' | 'release' | 'names'>): Promise<RecoveryStateView | undefined> {
  const { cluster, release, names } = testCluster;
  const res = await cluster.kubectl(['-n', release.namespace, 'get', 'configmap', names.stateConfigMap, '-o', 'json'], { allowFailure: true });
  if (res.code !== 0) return undefined;
  const text = (JSON.parse(res.stdout) as { data?: Record<string, string> }).data?.['state.json'];
  return text ? (JSON.parse(text) as RecoveryStateView) : undefined;
}
