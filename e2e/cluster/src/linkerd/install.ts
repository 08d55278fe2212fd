// Installs the Linkerd control plane into the local cluster: the pod-backed process supervisor
// (started detached and registered with the cluster so `down` stops it) and the control-plane
// chart, with the proxy-injector's MutatingWebhookConfiguration pointed at the supervisor's front.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildLinkerdStandins } from '../build.js';
import { registerExtraProcess, type Cluster } from '../cluster.js';
import { repoRoot } from '../paths.js';
import { makeCa, makeLeaf } from '../pki.js';
import { freePorts, startProcess, waitFor, type ProcessRecord } from '../process.js';

export interface LinkerdInstallOptions {
  namespace?: string;
  /** Leaf certificate lifetime handed out by identity (Go duration), e.g. "2m0s" in tests. */
  issuanceLifetime?: string;
  releaseName?: string;
  log?: (m: string) => void;
}

export interface LinkerdProcessStatus {
  component: 'identity' | 'proxy-injector';
  pod: string;
  uid: string;
  pid: number;
  addr: string;
  adminAddr: string;
  startedAt: string;
  trustRootsSha256: string;
  /** Its admin `/ready` answered 200: the supervisor's front sends it connections. */
  ready: boolean;
}

export interface LinkerdHandle {
  namespace: string;
  /** Stable local address fronting the live identity processes (like the identity Service). */
  identityAddr: string;
  supervisor: ProcessRecord;
  processes(): LinkerdProcessStatus[];
}

export const linkerdChartDir = path.join(repoRoot, 'e2e/cluster/linkerd-chart');

export async function installLinkerd(cluster: Cluster, opts: LinkerdInstallOptions = {}): Promise<LinkerdHandle> {
  const ns = opts.namespace ?? 'linkerd';
  const log = opts.log ?? (() => undefined);
  const standin = await buildLinkerdStandins((l) => (l.trim() ? log(l) : undefined));
  const dir = path.join(cluster.state.dir, 'linkerd');
  mkdirSync(dir, { recursive: true });

  const ca = await makeCa('linkerd-proxy-injector-local-ca');
  const serving = await makeLeaf(ca, { commonName: 'linkerd-proxy-injector', ips: ['127.0.0.1'], dnsNames: ['localhost'], usage: 'server' });
  const cert = path.join(dir, 'injector.crt');
  const key = path.join(dir, 'injector.key');
  writeFileSync(cert, serving.certPem);
  writeFileSync(key, serving.keyPem, { mode: 0o600 });

  const [identityPort, injectorPort] = await freePorts(2);
  const supervisor = startProcess({
    name: 'linkerd-pod-backed',
    command: process.execPath,
    args: [
      '--import', 'tsx', path.join(repoRoot, 'e2e/cluster/src/linkerd/daemon.ts'),
      '--kubeconfig', cluster.kubeconfigPath, '--namespace', ns, '--standin', standin,
      '--state-dir', dir, '--identity-port', String(identityPort), '--injector-port', String(injectorPort),
      '--injector-cert', cert, '--injector-key', key,
    ],
    log: path.join(cluster.state.dir, 'logs', 'linkerd-pod-backed.log'),
    cwd: repoRoot,
  });
  registerExtraProcess(cluster.state, supervisor);
  const statusFile = path.join(dir, 'status.json');
  await waitFor(() => existsSync(statusFile), { what: 'the pod-backed process supervisor to start', timeoutMs: 60_000, process: supervisor });

  const existing = await cluster.kubectl(['get', 'namespace', ns], { allowFailure: true });
  if (existing.code !== 0) await cluster.kubectl(['create', 'namespace', ns]);
  await cluster.kubectl(['label', '--overwrite', 'namespace', ns, 'linkerd.io/is-control-plane=true', 'config.linkerd.io/admission-webhooks=disabled']);

  const values = {
    identity: { issuer: { issuanceLifetime: opts.issuanceLifetime ?? '24h0m0s' } },
    proxyInjector: {
      url: `https://127.0.0.1:${injectorPort}/`,
      caBundle: Buffer.from(ca.certPem).toString('base64'),
    },
  };
  const valuesFile = path.join(dir, 'values.json');
  writeFileSync(valuesFile, JSON.stringify(values));
  await cluster.helm(['upgrade', '--install', opts.releaseName ?? 'linkerd-control-plane', linkerdChartDir, '-n', ns, '-f', valuesFile, '--wait', '--timeout', '180s']);
  // helm --wait saw kwok's pods Ready, which says nothing about the processes behind them. The
  // injector's webhook fails open (failurePolicy Ignore, as upstream's), so a pod created before an
  // injector serves would run unmeshed: wait until identity and the injector both answer /ready.
  const processes = () => (JSON.parse(readFileSync(statusFile, 'utf8')) as { processes: LinkerdProcessStatus[] }).processes;
  const answersReady = (component: LinkerdProcessStatus['component']) => processes().some((p) => p.component === component && p.ready);
  await waitFor(() => answersReady('identity') && answersReady('proxy-injector'), {
    what: 'a ready identity and proxy-injector process (their /ready)',
    timeoutMs: 120_000,
    process: supervisor,
    diagnose: () => `Processes: ${JSON.stringify(processes().map(({ component, pod, ready }) => ({ component, pod, ready })))}`,
  });
  log(`linkerd control plane installed in ${ns} (identity front 127.0.0.1:${identityPort}, injector front 127.0.0.1:${injectorPort})`);

  return {
    namespace: ns,
    identityAddr: `127.0.0.1:${identityPort}`,
    supervisor,
    processes,
  };
}
