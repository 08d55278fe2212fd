// Pod-backed processes: runs Linkerd's control-plane binaries (here the stand-ins) as local
// processes whose lives follow their kwok pods. When a `linkerd-identity` or
// `linkerd-proxy-injector` pod becomes Ready, the matching process starts with that pod's view of
// the world (trust roots as the ConfigMap held at that moment, issuer files synced from the Secret
// through kubelet-style `..data` swaps, a token of the pod's ServiceAccount); when the pod goes,
// the process stops. A rollout of the Deployment therefore restarts the real process.
// kwok marks pods Ready without running anything, so readiness is the process's own: status.json
// says which processes answered /ready (installLinkerd waits for it). The fronts still use every
// process: routing only to ready ones left no injector during its restart (unmeshed pods).
import * as k8s from '@kubernetes/client-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Command } from 'commander';
import { freePorts } from '../process.js';
import { writeAtomicVolume } from './volumes.js';

interface Options {
  kubeconfig: string;
  namespace: string;
  standin: string;
  stateDir: string;
  identityPort: string;
  injectorPort: string;
  injectorCert: string;
  injectorKey: string;
}

type Component = 'identity' | 'proxy-injector';

interface Running {
  component: Component;
  pod: string;
  uid: string;
  child: ChildProcess;
  addr: string;
  adminAddr: string;
  dir: string;
  startedAt: string;
  trustRootsSha256: string;
  /** Its admin `/ready` answered 200 (the chart's readinessProbe); installLinkerd waits for it. */
  ready: boolean;
}

/** How often a starting process's `/ready` is asked, like a readinessProbe's period (short, for tests). */
const READY_PROBE_INTERVAL_MS = 200;

export const TRUST_ROOTS_CM = 'linkerd-identity-trust-roots';
export const ISSUER_SECRET = 'linkerd-identity-issuer';

const program = new Command('linkerd-pod-backed')
  .requiredOption('--kubeconfig <file>')
  .option('--namespace <ns>', 'Linkerd control-plane namespace', 'linkerd')
  .requiredOption('--standin <binary>')
  .requiredOption('--state-dir <dir>')
  .requiredOption('--identity-port <port>', 'stable local port fronting the live identity processes')
  .requiredOption('--injector-port <port>', 'stable local port fronting the live proxy-injector processes')
  .requiredOption('--injector-cert <file>')
  .requiredOption('--injector-key <file>');

const log = (msg: string, fields: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), msg, ...fields })}\n`);

async function main(opts: Options): Promise<void> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(opts.kubeconfig);
  const coreApi = kc.makeApiClient(k8s.CoreV1Api);
  const ns = opts.namespace;
  const running = new Map<string, Running>();
  const starting = new Set<string>();
  let issuer: Record<string, string> | undefined;
  let trustRoots: string | undefined;

  const statusFile = path.join(opts.stateDir, 'status.json');
  const writeStatus = () => {
    const list = [...running.values()].map(({ child: _c, ...r }) => ({ ...r, pid: _c.pid }));
    writeFileSync(statusFile, JSON.stringify({ updatedAt: new Date().toISOString(), processes: list }, null, 2));
  };

  // Stable fronts, like a Service: new connections go to a live process of the component.
  let rr = 0;
  const front = (component: Component, port: number) =>
    new Promise<void>((resolve) => {
      const server = net.createServer((socket) => {
        const targets = [...running.values()].filter((r) => r.component === component);
        if (targets.length === 0) {
          socket.destroy();
          return;
        }
        const target = targets[rr++ % targets.length]!;
        const [host, p] = target.addr.split(':');
        const upstream = net.connect(Number(p), host!);
        socket.pipe(upstream).pipe(socket);
        const close = () => {
          socket.destroy();
          upstream.destroy();
        };
        socket.on('error', close);
        upstream.on('error', close);
      });
      server.listen(port, '127.0.0.1', () => resolve());
    });
  await front('identity', Number(opts.identityPort));
  await front('proxy-injector', Number(opts.injectorPort));

  const issuerDirs = () => [...running.values()].filter((r) => r.component === 'identity').map((r) => path.join(r.dir, 'issuer'));
  const rootsDirs = () => [...running.values()].filter((r) => r.component === 'proxy-injector').map((r) => path.join(r.dir, 'trust-roots'));

  const componentOf = (pod: k8s.V1Pod): Component | undefined => {
    const c = pod.metadata?.labels?.['linkerd.io/control-plane-component'];
    return c === 'identity' || c === 'proxy-injector' ? c : undefined;
  };
  const isReady = (pod: k8s.V1Pod) =>
    !pod.metadata?.deletionTimestamp && pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

  const podKubeconfig = async (pod: k8s.V1Pod, file: string) => {
    const sa = pod.spec?.serviceAccountName ?? 'default';
    const tr = await coreApi.createNamespacedServiceAccountToken({
      name: sa,
      namespace: ns,
      body: {
        spec: {
          audiences: [],
          expirationSeconds: 86_400,
          boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.metadata!.name!, uid: pod.metadata!.uid! },
        },
      },
    });
    const cluster = kc.getCurrentCluster()!;
    const caData = cluster.caData ?? (cluster.caFile ? readFileSync(cluster.caFile).toString('base64') : '');
    writeFileSync(
      file,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "${cluster.server}", certificate-authority-data: ${caData}}\nusers:\n- name: u\n  user: {token: "${tr.status!.token}"}\ncontexts:\n- name: c\n  context: {cluster: c, user: u, namespace: ${ns}}\ncurrent-context: c\n`,
      { mode: 0o600 },
    );
  };

  /** Read `-flag=value` or `-flag value` from the pod's container args, as the chart rendered them. */
  const argOf = (pod: k8s.V1Pod, container: string, flag: string): string | undefined => {
    const args = pod.spec?.containers.find((c) => c.name === container)?.args ?? [];
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!.replace(/^--?/, '-');
      if (a.startsWith(`-${flag}=`)) return a.slice(flag.length + 2);
      if (a === `-${flag}`) return args[i + 1];
    }
    return undefined;
  };

  const start = async (pod: k8s.V1Pod, component: Component) => {
    const uid = pod.metadata!.uid!;
    const name = pod.metadata!.name!;
    if (trustRoots === undefined) {
      log('pod ready but the trust-roots ConfigMap is missing; process not started yet', { pod: name, component });
      return;
    }
    if (component === 'identity' && !issuer) {
      log('identity pod ready but the issuer Secret is missing; process not started yet', { pod: name });
      return;
    }
    starting.add(uid);
    try {
      const dir = path.join(opts.stateDir, 'pods', `${name}-${uid.slice(0, 8)}`);
      mkdirSync(dir, { recursive: true });
      const [port, adminPort] = await freePorts(2);
      const addr = `127.0.0.1:${port}`;
      const adminAddr = `127.0.0.1:${adminPort}`;
      const kubeconfig = path.join(dir, 'kubeconfig');
      await podKubeconfig(pod, kubeconfig);
      // Trust roots exactly as the ConfigMap holds them when the pod starts.
      // No await from here to running.set: a trust-roots or issuer update in between would miss
      // this process's volumes (rootsDirs/issuerDirs list running processes only), and it would keep
      // the old bundle for good (an injector restarted in a rotation then injected a stale bundle).
      const roots = trustRoots;
      writeAtomicVolume(path.join(dir, 'trust-roots'), { 'ca-bundle.crt': roots });
      const rootsFile = path.join(dir, 'trust-roots', 'ca-bundle.crt');
      let args: string[];
      if (component === 'identity') {
        writeAtomicVolume(path.join(dir, 'issuer'), issuer!);
        args = [
          'identity', `-kubeconfig=${kubeconfig}`, `-controller-namespace=${ns}`,
          '-identity-scheme=kubernetes.io/tls',
          `-identity-trust-domain=${argOf(pod, 'identity', 'identity-trust-domain') ?? 'cluster.local'}`,
          `-identity-issuance-lifetime=${argOf(pod, 'identity', 'identity-issuance-lifetime') ?? '24h0m0s'}`,
          `-identity-clock-skew-allowance=${argOf(pod, 'identity', 'identity-clock-skew-allowance') ?? '20s'}`,
          `-issuer=${path.join(dir, 'issuer')}`, `-addr=${addr}`, `-admin-addr=${adminAddr}`,
          `-trust-anchors-file=${rootsFile}`,
        ];
      } else {
        args = [
          'proxy-injector', `-kubeconfig=${kubeconfig}`, `-addr=${addr}`, `-admin-addr=${adminAddr}`,
          `-tls-cert=${opts.injectorCert}`, `-tls-key=${opts.injectorKey}`, `-trust-roots-file=${rootsFile}`,
          `-linkerd-namespace=${ns}`, `-identity-svc-addr=127.0.0.1:${opts.identityPort}`,
        ];
      }
      const logFile = path.join(dir, `${component}.log`);
      const out = openSync(logFile, 'a');
      const child = spawn(opts.standin, args, { stdio: ['ignore', out, out] });
      const rec: Running = {
        component, pod: name, uid, child, addr, adminAddr, dir, startedAt: new Date().toISOString(),
        trustRootsSha256: createHash('sha256').update(roots).digest('hex'),
        ready: false,
      };
      running.set(uid, rec);
      child.on('exit', (code, signal) => {
        log('process exited', { pod: name, component, code, signal });
        if (running.get(uid)?.child === child) running.delete(uid);
        writeStatus();
      });
      log('process started', { pod: name, component, pid: child.pid, addr, log: logFile, trustRootsSha256: rec.trustRootsSha256 });
      writeStatus();
      probeReady(uid, rec);
    } finally {
      starting.delete(uid);
    }
  };

  // The readinessProbe: ask /ready until it answers 200 or the process is gone.
  const probeReady = (uid: string, rec: Running) => {
    const probe = async () => {
      if (running.get(uid) !== rec) return;
      const ok = await fetch(`http://${rec.adminAddr}/ready`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false);
      if (running.get(uid) !== rec) return;
      if (!ok) {
        setTimeout(() => void probe(), READY_PROBE_INTERVAL_MS);
        return;
      }
      rec.ready = true;
      log('process ready', { pod: rec.pod, component: rec.component, addr: rec.addr });
      writeStatus();
    };
    void probe();
  };

  const stop = (uid: string, why: string) => {
    const rec = running.get(uid);
    if (!rec) return;
    running.delete(uid);
    log('stopping process', { pod: rec.pod, component: rec.component, why });
    rec.child.kill('SIGTERM');
    writeStatus();
    setTimeout(() => rm(rec.dir), 30_000).unref();
  };
  const rm = (dir: string) => rmSync(dir, { recursive: true, force: true });

  const reconcilePod = (pod: k8s.V1Pod) => {
    const component = componentOf(pod);
    const uid = pod.metadata?.uid;
    if (!component || !uid) return;
    if (isReady(pod)) {
      if (!running.has(uid) && !starting.has(uid)) start(pod, component).catch((err: unknown) => log('start failed', { pod: pod.metadata?.name, err: String(err) }));
    } else {
      stop(uid, pod.metadata?.deletionTimestamp ? 'pod terminating' : 'pod not ready');
    }
  };

  const podInformer = k8s.makeInformer(kc, `/api/v1/namespaces/${ns}/pods`, () => coreApi.listNamespacedPod({ namespace: ns }));
  podInformer.on('add', reconcilePod);
  podInformer.on('update', reconcilePod);
  podInformer.on('delete', (pod) => pod.metadata?.uid && stop(pod.metadata.uid, 'pod deleted'));

  const cmInformer = k8s.makeInformer(
    kc,
    `/api/v1/namespaces/${ns}/configmaps?fieldSelector=metadata.name%3D${TRUST_ROOTS_CM}`,
    () => coreApi.listNamespacedConfigMap({ namespace: ns, fieldSelector: `metadata.name=${TRUST_ROOTS_CM}` }),
  );
  const onRoots = (cm: k8s.V1ConfigMap) => {
    trustRoots = cm.data?.['ca-bundle.crt'] ?? '';
    // The injector's mounted volume follows the ConfigMap (as the kubelet syncs it); identity's does
    // too, but identity only read it at start, which is what matters.
    for (const dir of rootsDirs()) writeAtomicVolume(dir, { 'ca-bundle.crt': trustRoots });
    for (const pod of podInformer.list()) reconcilePod(pod);
  };
  cmInformer.on('add', onRoots);
  cmInformer.on('update', onRoots);

  const secretInformer = k8s.makeInformer(
    kc,
    `/api/v1/namespaces/${ns}/secrets?fieldSelector=metadata.name%3D${ISSUER_SECRET}`,
    () => coreApi.listNamespacedSecret({ namespace: ns, fieldSelector: `metadata.name=${ISSUER_SECRET}` }),
  );
  const onIssuer = (s: k8s.V1Secret) => {
    const data = Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
    issuer = data;
    for (const dir of issuerDirs()) writeAtomicVolume(dir, data);
    for (const pod of podInformer.list()) reconcilePod(pod);
  };
  secretInformer.on('add', onIssuer);
  secretInformer.on('update', onIssuer);

  for (const inf of [podInformer, cmInformer, secretInformer]) {
    inf.on('error', (err: unknown) => {
      log('watch error; restarting the informer', { err: String(err) });
      setTimeout(() => inf.start().catch(() => undefined), 1_000);
    });
  }
  await cmInformer.start();
  await secretInformer.start();
  await podInformer.start();
  writeStatus();
  log('pod-backed process supervisor ready', { namespace: ns, identityPort: opts.identityPort, injectorPort: opts.injectorPort });

  const shutdown = () => {
    for (const uid of [...running.keys()]) stop(uid, 'supervisor shutting down');
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

program.action((opts: Options) => main(opts));
program.parseAsync().catch((err: unknown) => {
  log('supervisor failed', { err: String(err) });
  process.exit(1);
});
