// The local cluster: real etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok,
// cert-manager and trust-manager as local processes on 127.0.0.1, started in dependency order,
// each waited on by an observed readiness condition. State is persisted so `down` works by pid.
import * as k8s from '@kubernetes/client-node';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import path from 'node:path';
import { run, type RunOptions, type RunResult } from './kubectl.js';
import { clusterStateDir, readManifest, type BuildManifest } from './paths.js';
import { makeCa, makeLeaf, makeServiceAccountKey } from './pki.js';
import { freePorts, isAlive, logTail, startProcess, stopProcess, waitFor, type ProcessRecord } from './process.js';

export interface ClusterState {
  name: string;
  dir: string;
  kubeconfig: string;
  server: string;
  ports: Record<string, number>;
  processes: ProcessRecord[];
  startedAt: string;
  versions: Record<string, string>;
}

export interface StartClusterOptions {
  name?: string;
  /** Number of kwok fake nodes. */
  nodes?: number;
  log?: (message: string) => void;
  /** Per-component readiness deadline. */
  timeoutMs?: number;
  /**
   * Client QPS of kube-controller-manager and kube-scheduler (burst twice that); unset keeps
   * Kubernetes' defaults (20 and 50). The scale bench raises it to create thousands of pods in minutes.
   */
  controlPlaneQps?: number;
}

export type ComponentName =
  | 'etcd'
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kwok'
  | 'cert-manager-controller'
  | 'cert-manager-cainjector'
  | 'trust-manager';

export class Cluster {
  private kc: k8s.KubeConfig | undefined;

  constructor(
    readonly state: ClusterState,
    private readonly manifest: BuildManifest,
    private readonly log: (message: string) => void = () => undefined,
  ) {}

  get kubeconfigPath(): string {
    return this.state.kubeconfig;
  }

  kubeConfig(): k8s.KubeConfig {
    if (!this.kc) {
      this.kc = new k8s.KubeConfig();
      this.kc.loadFromFile(this.state.kubeconfig);
    }
    return this.kc;
  }

  binary(name: string): string {
    const bin = this.manifest.binaries[name];
    if (!bin) throw new Error(`binary ${name} is not in the build manifest`);
    return bin;
  }

  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return { ...process.env, KUBECONFIG: this.state.kubeconfig, ...extra };
  }

  kubectl(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run(this.binary('kubectl'), args, { ...opts, env: this.env(opts.env) });
  }

  helm(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const helmHome = path.join(this.state.dir, 'helm');
    return run(this.binary('helm'), args, {
      ...opts,
      env: this.env({
        HELM_CACHE_HOME: path.join(helmHome, 'cache'),
        HELM_CONFIG_HOME: path.join(helmHome, 'config'),
        HELM_DATA_HOME: path.join(helmHome, 'data'),
        ...opts.env,
      }),
    });
  }

  process(name: ComponentName): ProcessRecord {
    const rec = this.state.processes.find((p) => p.name === name);
    if (!rec) throw new Error(`component ${name} is not part of this cluster`);
    return rec;
  }

  /** Stop one component (fault injection: API server outage, trust-manager down, ...). */
  async stopComponent(name: ComponentName): Promise<void> {
    await stopProcess(this.process(name));
    this.log(`stopped ${name}`);
  }

  /** Start a stopped component again with the same command line and wait until it is ready. */
  async startComponent(name: ComponentName): Promise<void> {
    const old = this.process(name);
    if (isAlive(old.pid)) return;
    const [command, ...args] = old.command;
    const rec = startProcess({ name, command: command!, args, log: old.log });
    this.state.processes = this.state.processes.map((p) => (p.name === name ? rec : p));
    saveState(this.state);
    await waitReady(this, name, rec, 120_000);
    this.log(`restarted ${name} (pid ${rec.pid})`);
  }

  async stop(): Promise<void> {
    await stopCluster(this.state.name);
  }
}

function saveState(state: ClusterState): void {
  writeFileSync(path.join(state.dir, 'cluster.json'), JSON.stringify(state, null, 2));
}

export function loadClusterState(name = 'default'): ClusterState | undefined {
  const file = path.join(clusterStateDir(name), 'cluster.json');
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as ClusterState;
}

export function attachCluster(name = 'default', log?: (m: string) => void): Cluster {
  const state = loadClusterState(name);
  if (!state) throw new Error(`No running cluster named "${name}". Start one with \`npm run cluster -- up\`.`);
  return new Cluster(state, readManifest(), log);
}

/** Stop every process a cluster started (by pid, in reverse order) and remove its directory. */
export async function stopCluster(name = 'default'): Promise<string[]> {
  const state = loadClusterState(name);
  const dir = clusterStateDir(name);
  const stopped: string[] = [];
  const failed: string[] = [];
  if (state) {
    const extra = readExtraProcesses(state.dir);
    // One process that will not die must not leave the others running: stop each, then report.
    for (const rec of [...extra, ...state.processes].reverse()) {
      if (!isAlive(rec.pid)) continue;
      try {
        await stopProcess(rec);
        stopped.push(`${rec.name} (pid ${rec.pid})`);
      } catch (err) {
        failed.push((err as Error).message);
      }
    }
  }
  if (failed.length) throw new Error(`Could not stop every process of cluster "${name}"; its state stays in ${dir}:\n${failed.join('\n')}`);
  rmSync(dir, { recursive: true, force: true });
  return stopped;
}

/** Processes started later by other parts of the harness register themselves in extra/. */
function readExtraProcesses(dir: string): ProcessRecord[] {
  const extraDir = path.join(dir, 'extra');
  if (!existsSync(extraDir)) return [];
  return readdirSync(extraDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(path.join(extraDir, f), 'utf8')) as ProcessRecord);
}

export function registerExtraProcess(state: ClusterState, rec: ProcessRecord): void {
  const extraDir = path.join(state.dir, 'extra');
  mkdirSync(extraDir, { recursive: true });
  writeFileSync(path.join(extraDir, `${rec.name}-${rec.pid}.json`), JSON.stringify(rec));
}

export function unregisterExtraProcess(state: ClusterState, rec: ProcessRecord): void {
  rmSync(path.join(state.dir, 'extra', `${rec.name}-${rec.pid}.json`), { force: true });
}

function get(url: string, tls?: { ca?: string; cert?: string; key?: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const lib = url.startsWith('https:') ? https : http;
    const req = lib.get(url, { ...(tls ?? {}), rejectUnauthorized: !!tls?.ca, timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

async function waitReady(cluster: Cluster, name: ComponentName, rec: ProcessRecord, timeoutMs: number): Promise<void> {
  const { ports, dir } = cluster.state;
  const pki = path.join(dir, 'pki');
  const admin = {
    ca: readFileSync(path.join(pki, 'ca.crt'), 'utf8'),
    cert: readFileSync(path.join(pki, 'admin.crt'), 'utf8'),
    key: readFileSync(path.join(pki, 'admin.key'), 'utf8'),
  };
  const ok = async (url: string, tls?: typeof admin) => (await get(url, tls)).status === 200;
  const probes: Record<ComponentName, () => Promise<boolean>> = {
    etcd: () => ok(`http://127.0.0.1:${ports['etcd-client']}/health`),
    'kube-apiserver': () => ok(`https://127.0.0.1:${ports['kube-apiserver']}/readyz`, admin),
    'kube-controller-manager': () => ok(`https://127.0.0.1:${ports['kube-controller-manager']}/healthz`),
    'kube-scheduler': () => ok(`https://127.0.0.1:${ports['kube-scheduler']}/healthz`),
    kwok: () => ok(`http://127.0.0.1:${ports['kwok']}/healthz`),
    'cert-manager-controller': () => ok(`http://127.0.0.1:${ports['cert-manager-healthz']}/livez`),
    'cert-manager-cainjector': async () => isAlive(rec.pid) && (await ok(`http://127.0.0.1:${ports['cainjector-healthz']}/readyz`)),
    'trust-manager': () => ok(`http://127.0.0.1:${ports['trust-manager-readiness']}/readyz`),
  };
  await waitFor(probes[name], { what: `${name} to be ready`, timeoutMs, process: rec, intervalMs: 250 });
}

function kubeconfigYaml(server: string, ca: string, cert: string, key: string): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return `apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: ${server}
    certificate-authority-data: ${b64(ca)}
users:
- name: admin
  user:
    client-certificate-data: ${b64(cert)}
    client-key-data: ${b64(key)}
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
`;
}

function nodeManifest(i: number): string {
  return `apiVersion: v1
kind: Node
metadata:
  name: kwok-node-${i}
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/hostname: kwok-node-${i}
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    kubernetes.io/role: agent
    node-role.kubernetes.io/agent: ""
status:
  allocatable: {cpu: "64", memory: 256Gi, pods: "250"}
  capacity: {cpu: "64", memory: 256Gi, pods: "250"}
---
`;
}

/**
 * Start a cluster. Ports are picked free just before the components bind them, so another process
 * (an outgoing connection's ephemeral port, a neighbouring cluster) can take one in between; a
 * start that fails on a port already in use is retried from scratch with new ports.
 */
export async function startCluster(opts: StartClusterOptions = {}): Promise<Cluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startClusterOnce(opts);
    } catch (err) {
      const portTaken = /address already in use|bind: address/i.test(String((err as Error).message));
      if (!portTaken || attempt >= 3) throw err;
      opts.log?.(`a port was taken before its component bound it; starting again with new ports (attempt ${attempt + 1} of 3)`);
    }
  }
}

async function startClusterOnce(opts: StartClusterOptions): Promise<Cluster> {
  const name = opts.name ?? 'default';
  const log = opts.log ?? (() => undefined);
  const timeoutMs = opts.timeoutMs ?? 180_000;
  const manifest = readManifest();
  const existing = loadClusterState(name);
  if (existing && existing.processes.some((p) => isAlive(p.pid))) {
    throw new Error(`A cluster named "${name}" is already running (${existing.dir}). Stop it with \`npm run cluster -- down\` or pick another name.`);
  }
  const dir = clusterStateDir(name);
  rmSync(dir, { recursive: true, force: true });
  for (const sub of ['pki', 'logs', 'etcd', 'tmp']) mkdirSync(path.join(dir, sub), { recursive: true });

  const portNames = [
    'etcd-client', 'etcd-peer', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok',
    'cert-manager-metrics', 'cert-manager-healthz', 'cainjector-metrics', 'cainjector-healthz',
    'trust-manager-webhook', 'trust-manager-metrics', 'trust-manager-readiness',
  ];
  const portList = await freePorts(portNames.length);
  const ports = Object.fromEntries(portNames.map((n, i) => [n, portList[i]!]));
  const server = `https://127.0.0.1:${ports['kube-apiserver']}`;
  const qps = opts.controlPlaneQps ? [`--kube-api-qps=${opts.controlPlaneQps}`, `--kube-api-burst=${opts.controlPlaneQps * 2}`] : [];

  // PKI for the cluster's own plumbing.
  const pki = path.join(dir, 'pki');
  const ca = await makeCa('linkerd-rotator-local-cluster-ca');
  const apiserverCert = await makeLeaf(ca, {
    commonName: 'kube-apiserver',
    dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
    ips: ['127.0.0.1', '10.96.0.1'],
    usage: 'server',
  });
  const adminCert = await makeLeaf(ca, { commonName: 'admin', organizations: ['system:masters'], usage: 'client' });
  const trustManagerCert = await makeLeaf(ca, { commonName: 'trust-manager-webhook', ips: ['127.0.0.1'], usage: 'server' });
  const sa = makeServiceAccountKey();
  const files: Record<string, string> = {
    'ca.crt': ca.certPem, 'ca.key': ca.keyPem,
    'apiserver.crt': apiserverCert.certPem, 'apiserver.key': apiserverCert.keyPem,
    'admin.crt': adminCert.certPem, 'admin.key': adminCert.keyPem,
    'sa.key': sa.privateKeyPem, 'sa.pub': sa.publicKeyPem,
  };
  for (const [f, content] of Object.entries(files)) writeFileSync(path.join(pki, f), content, { mode: 0o600 });
  const tmTls = path.join(dir, 'tmp', 'trust-manager-tls');
  mkdirSync(tmTls, { recursive: true });
  writeFileSync(path.join(tmTls, 'tls.crt'), trustManagerCert.certPem);
  writeFileSync(path.join(tmTls, 'tls.key'), trustManagerCert.keyPem);
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml(server, ca.certPem, adminCert.certPem, adminCert.keyPem), { mode: 0o600 });

  const state: ClusterState = {
    name, dir, kubeconfig, server, ports, processes: [], startedAt: new Date().toISOString(),
    versions: manifest.versions,
  };
  const cluster = new Cluster(state, manifest, log);
  const p = (f: string) => path.join(pki, f);
  const bin = (n: string) => cluster.binary(n);

  const commands: Record<ComponentName, string[]> = {
    etcd: [
      bin('etcd'), '--name=default', `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${ports['etcd-client']}`,
      `--advertise-client-urls=http://127.0.0.1:${ports['etcd-client']}`,
      `--listen-peer-urls=http://127.0.0.1:${ports['etcd-peer']}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${ports['etcd-peer']}`,
      `--initial-cluster=default=http://127.0.0.1:${ports['etcd-peer']}`,
      '--unsafe-no-fsync=true', '--log-level=warn',
    ],
    'kube-apiserver': [
      bin('kube-apiserver'),
      `--etcd-servers=http://127.0.0.1:${ports['etcd-client']}`,
      '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${ports['kube-apiserver']}`,
      `--cert-dir=${path.join(dir, 'tmp', 'apiserver')}`,
      `--tls-cert-file=${p('apiserver.crt')}`, `--tls-private-key-file=${p('apiserver.key')}`,
      `--client-ca-file=${p('ca.crt')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${p('sa.pub')}`, `--service-account-signing-key-file=${p('sa.key')}`,
      '--authorization-mode=Node,RBAC', '--service-cluster-ip-range=10.96.0.0/16',
      '--allow-privileged=true', '--endpoint-reconciler-type=none', '--profiling=false',
      '--enable-priority-and-fairness=false', '--v=1',
      // Nodes are kwok's and the node-lifecycle controller is off, so nothing would lift the
      // not-ready taint this plugin puts on new nodes.
      '--disable-admission-plugins=TaintNodesByCondition',
    ],
    'kube-controller-manager': [
      bin('kube-controller-manager'), `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1', `--secure-port=${ports['kube-controller-manager']}`,
      '--leader-elect=false', `--root-ca-file=${p('ca.crt')}`,
      `--service-account-private-key-file=${p('sa.key')}`,
      `--cluster-signing-cert-file=${p('ca.crt')}`, `--cluster-signing-key-file=${p('ca.key')}`,
      '--controllers=*,-node-ipam-controller,-node-lifecycle-controller',
      '--profiling=false', '--v=1', ...qps,
    ],
    'kube-scheduler': [
      bin('kube-scheduler'), `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1', `--secure-port=${ports['kube-scheduler']}`, '--leader-elect=false',
      '--profiling=false', '--v=1', ...qps,
    ],
    kwok: [
      bin('kwok'), `--kubeconfig=${kubeconfig}`, '--manage-all-nodes=true', `--config=${manifest.kwokStages.file}`,
      `--server-address=127.0.0.1:${ports['kwok']}`, '--cidr=10.244.0.0/16', '--node-ip=10.0.0.1',
    ],
    'cert-manager-controller': [
      bin('cert-manager-controller'), `--kubeconfig=${kubeconfig}`, '--cluster-resource-namespace=cert-manager',
      '--leader-elect=false', `--metrics-listen-address=127.0.0.1:${ports['cert-manager-metrics']}`,
      `--healthz-listen-address=127.0.0.1:${ports['cert-manager-healthz']}`,
    ],
    'cert-manager-cainjector': [
      bin('cert-manager-cainjector'), `--kubeconfig=${kubeconfig}`, '--leader-elect=false',
      `--metrics-listen-address=127.0.0.1:${ports['cainjector-metrics']}`,
      `--healthz-listen-address=127.0.0.1:${ports['cainjector-healthz']}`,
    ],
    'trust-manager': [
      bin('trust-manager'), `--kubeconfig=${kubeconfig}`, '--trust-namespace=cert-manager', '--leader-elect=false',
      '--webhook-host=127.0.0.1', `--webhook-port=${ports['trust-manager-webhook']}`,
      `--webhook-certificate-dir=${tmTls}`, `--metrics-port=${ports['trust-manager-metrics']}`,
      `--readiness-probe-port=${ports['trust-manager-readiness']}`, '--readiness-probe-path=/readyz',
    ],
  };

  const start = async (component: ComponentName) => {
    const t0 = Date.now();
    const [command, ...args] = commands[component];
    const rec = startProcess({ name: component, command: command!, args, log: path.join(dir, 'logs', `${component}.log`) });
    state.processes.push(rec);
    saveState(state);
    await waitReady(cluster, component, rec, timeoutMs);
    log(`${component} ready (pid ${rec.pid}, ${((Date.now() - t0) / 1000).toFixed(1)}s, log ${rec.log})`);
  };

  try {
    await start('etcd');
    await start('kube-apiserver');
    await start('kube-controller-manager');
    await start('kube-scheduler');
    await start('kwok');
    const nodes = opts.nodes ?? 3;
    await cluster.kubectl(['apply', '-f', '-'], { input: Array.from({ length: nodes }, (_, i) => nodeManifest(i)).join('') });
    await waitFor(
      async () => {
        const out = await cluster.kubectl(['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}']);
        return out.stdout.trim().split('\n').filter((s) => s === 'True').length === nodes;
      },
      { what: `${nodes} kwok nodes to be Ready`, timeoutMs },
    );
    await waitFor(async () => (await cluster.kubectl(['get', 'serviceaccount', 'default', '-n', 'default'], { allowFailure: true })).code === 0, {
      what: 'the default ServiceAccount (controller-manager is reconciling)',
      timeoutMs,
    });
    log(`${nodes} kwok nodes Ready`);

    await cluster.kubectl(['create', 'namespace', 'cert-manager']);
    await applyCrds(cluster, manifest.crds['cert-manager']?.dir ?? '', timeoutMs);
    await start('cert-manager-controller');
    await start('cert-manager-cainjector');
    await applyCrds(cluster, manifest.crds['trust-manager']?.dir ?? '', timeoutMs);
    await start('trust-manager');
    log(`cluster "${name}" is up: export KUBECONFIG=${kubeconfig}`);
    return cluster;
  } catch (err) {
    log(`cluster start failed; stopping what was started (state in ${dir})`);
    for (const rec of [...state.processes].reverse()) await stopProcess(rec).catch(() => undefined);
    throw err;
  }
}

async function applyCrds(cluster: Cluster, crdDir: string, timeoutMs: number): Promise<void> {
  if (!crdDir || !existsSync(crdDir)) throw new Error(`CRD directory ${crdDir} does not exist; rebuild with \`npm run cluster -- build\`.`);
  await cluster.kubectl(['apply', '--server-side', '-f', crdDir]);
  await cluster.kubectl(['wait', '--for=condition=Established', '--timeout', `${Math.round(timeoutMs / 1000)}s`, '-f', crdDir]);
}

export { logTail };
