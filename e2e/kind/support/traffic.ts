// Real meshed traffic for the kind tier: an HTTP server (3 replicas of http-echo) in a namespace
// whose default inbound policy is all-authenticated -- so every 2xx is a request the server's proxy
// accepted over mTLS from a meshed identity -- and a curl loop client (2 replicas) in another
// namespace, both injected by Linkerd's real proxy-injector. The client prints one line per request
// ("REQ ok <seq> <code>" / "REQ fail <seq> <detail>"); a monitor follows the logs of every pod of
// both namespaces and of Linkerd's, including the pods the rotation's rolls create, counts requests
// and collects linkerd-proxy lines that report TLS or certificate errors.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { waitFor } from '../../cluster/src/process.js';
import type { PodInfo } from '../../support/pods.js';
import { objectNames } from '../../support/release.js';
import { log, type KindCluster } from './kind.js';
import { versions } from './versions.js';

export const trafficNs = { server: 'traffic-server', client: 'traffic-client' } as const;
export const clientIdentity = `client.${trafficNs.client}.serviceaccount.identity.linkerd.cluster.local`;
const serverUrl = `http://server.${trafficNs.server}.svc.cluster.local:8080/`;

/** The client loop: one request every 0.2 s, 5 s timeout, exits at once on SIGTERM. */
const clientScript = `
trap 'exit 0' TERM INT
i=0
while :; do
  i=$((i+1))
  out=$(curl -sS -o /dev/null -m 5 -w '%{http_code}' ${serverUrl} 2>&1)
  case "$out" in
    2??) echo "REQ ok $i $out" ;;
    *) echo "REQ fail $i $(echo "$out" | tr '\\n' ' ')" ;;
  esac
  sleep 0.2 &
  wait $!
done
`;

function manifests(): object[] {
  const ns = (name: string, annotations: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, annotations } });
  const sa = (namespace: string, name: string) => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { namespace, name } });
  const resources = { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '64Mi' } };
  return [
    ns(trafficNs.server, { 'linkerd.io/inject': 'enabled', 'config.linkerd.io/default-inbound-policy': 'all-authenticated' }),
    ns(trafficNs.client, { 'linkerd.io/inject': 'enabled' }),
    sa(trafficNs.server, 'server'),
    sa(trafficNs.client, 'client'),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { namespace: trafficNs.server, name: 'server' },
      spec: { selector: { app: 'server' }, ports: [{ name: 'http', port: 8080, targetPort: 'http' }] },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { namespace: trafficNs.server, name: 'server' },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'server' } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        template: {
          metadata: { labels: { app: 'server' } },
          spec: {
            serviceAccountName: 'server',
            terminationGracePeriodSeconds: 30,
            containers: [
              {
                name: 'server',
                image: versions.serverImage,
                args: ['-listen=:8080', '-text=ok'],
                ports: [{ name: 'http', containerPort: 8080 }],
                readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 2 },
                // Stay up while the endpoint removal reaches the clients' proxies.
                lifecycle: { preStop: { sleep: { seconds: 10 } } },
                resources,
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { namespace: trafficNs.client, name: 'client' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'client' } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        template: {
          metadata: { labels: { app: 'client' } },
          spec: {
            serviceAccountName: 'client',
            terminationGracePeriodSeconds: 15,
            containers: [{ name: 'client', image: versions.clientImage, command: ['/bin/sh', '-c', clientScript], resources }],
          },
        },
      },
    },
  ];
}

export async function deployTraffic(cluster: KindCluster): Promise<void> {
  log(`meshed traffic: ${versions.serverImage} x3 in ${trafficNs.server} (all-authenticated), ${versions.clientImage} loop x2 in ${trafficNs.client}`);
  await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifests() }) });
  for (const [ns, name] of [[trafficNs.server, 'server'], [trafficNs.client, 'client']] as const) {
    await cluster.kubectl(['-n', ns, 'rollout', 'status', `deployment/${name}`, '--timeout=300s']);
  }
}

/**
 * Lines of linkerd-proxy that mean a TLS handshake or certificate problem (rustls and proxy error
 * texts). "TLS detection timed out" is left out: it is a plaintext client that sent nothing.
 */
export const proxyTlsError =
  /invalid peer certificate|UnknownIssuer|\bUnknown ?CA\b|BadCertificate|bad certificate|CertificateExpired|CertExpired|certificate (?:verify|unknown|expired|required)|NotValidForName|handshake (?:failure|failed)|peer sent no certificates|decrypt ?error|InvalidCertificate/i;

interface PodLog {
  namespace: string;
  pod: string;
  /** Lines per container from the longest complete-from-start read so far. */
  committed: Map<string, string[]>;
  /** Lines per container of the read in progress (a follower reads from the start of each container). */
  current?: Map<string, string[]>;
  follower?: ChildProcess;
  /** A follower has ended once: a pod that no longer runs has then been read to its end. */
  readOnce: boolean;
  gone: boolean;
}

const prefixed = /^\[pod\/[^/]+\/([^\]]+)\] ?(.*)$/;

function addLine(into: Map<string, string[]>, line: string): void {
  const m = prefixed.exec(line);
  if (!m) return;
  const [, container, text] = m as unknown as [string, string, string];
  if (!into.has(container)) into.set(container, []);
  into.get(container)!.push(text);
}

function commit(rec: PodLog, read: Map<string, string[]>): void {
  for (const [container, lines] of read) {
    if (lines.length >= (rec.committed.get(container)?.length ?? 0)) rec.committed.set(container, lines);
  }
}

/** A container's lines: the longer of the committed read and the one in progress. */
function linesOf(rec: PodLog, container: string): string[] {
  const a = rec.committed.get(container) ?? [];
  const b = rec.current?.get(container) ?? [];
  return b.length > a.length ? b : a;
}

export interface TrafficFailure {
  pod: string;
  line: string;
}

export interface TrafficReport {
  ok: number;
  failed: TrafficFailure[];
  /** Client pods whose request numbers have gaps: lines the monitor did not see. */
  gaps: string[];
  clientPods: string[];
  serverPods: string[];
  proxyTlsErrors: TrafficFailure[];
  /** Every WARN/ERROR line of linkerd-proxy, for the logs directory. */
  proxyWarnings: string[];
}

/** Follows `kubectl logs -f --all-containers` of every started pod in the watched namespaces. */
export class TrafficMonitor {
  private pods = new Map<string, PodLog>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  /** Linkerd's namespace is followed too: its control-plane proxies must not see TLS errors either. */
  constructor(
    private readonly cluster: KindCluster,
    private readonly namespaces: string[] = [trafficNs.client, trafficNs.server, objectNames.linkerdNamespace],
  ) {}

  start(): void {
    const tick = async () => {
      await this.discover().catch((err: Error) => log(`traffic monitor: pod listing failed: ${err.message}`));
      if (!this.stopped) this.timer = setTimeout(tick, 2_000);
    };
    void tick();
  }

  private async discover(): Promise<void> {
    for (const ns of this.namespaces) {
      const list = await this.cluster.json<{ items: PodInfo[] }>(['-n', ns, 'get', 'pods']);
      const present = new Set(list.items.map((p) => `${ns}/${p.metadata.name}`));
      for (const [key, rec] of this.pods) if (rec.namespace === ns && !present.has(key)) rec.gone = true;
      for (const pod of list.items) {
        const key = `${ns}/${pod.metadata.name}`;
        const started = pod.status?.containerStatuses?.some((c) => c.state?.['running'] || c.state?.['terminated']);
        if (!started || this.stopped) continue;
        let rec = this.pods.get(key);
        if (!rec) {
          rec = { namespace: ns, pod: pod.metadata.name, committed: new Map(), readOnce: false, gone: false };
          this.pods.set(key, rec);
        }
        // Running pods are followed (again, if a stream broke); a finished or terminating one is read once.
        const running = pod.status?.phase === 'Running' && !pod.metadata.deletionTimestamp;
        if (!rec.follower && !rec.gone && (running || !rec.readOnce)) this.follow(rec);
      }
    }
  }

  /** One `kubectl logs -f` from the start of every container; a stream that ends early is read again. */
  private follow(rec: PodLog): void {
    const { command, env } = this.cluster.kubectlCommand();
    const child = spawn(command, ['-n', rec.namespace, 'logs', '-f', `pod/${rec.pod}`, '--all-containers=true', '--prefix=true', '--max-log-requests=10'], {
      env,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const read = new Map<string, string[]>();
    rec.follower = child;
    rec.current = read;
    createInterface({ input: child.stdout! }).on('line', (line) => addLine(read, line));
    child.on('close', () => {
      commit(rec, read);
      rec.current = undefined;
      rec.follower = undefined;
      rec.readOnce = true;
      // If the pod still runs (the stream broke), the next discovery tick follows it again.
    });
  }

  /** OK requests counted so far (for waiting on progress). */
  okCount(): number {
    let ok = 0;
    for (const rec of this.pods.values()) for (const line of this.clientLines(rec)) if (line.startsWith('REQ ok ')) ok++;
    return ok;
  }

  /** The client container's lines of a client pod, read so far. */
  private clientLines(rec: PodLog): string[] {
    return rec.namespace === trafficNs.client ? linesOf(rec, 'client') : [];
  }

  /** Waits until every live client pod has made `n` successful requests (counting from now). */
  async waitForProgress(n: number, what: string, timeoutMs = 180_000): Promise<void> {
    const base = this.okCount();
    await waitFor(() => this.okCount() - base >= n, { what: `${n} successful requests ${what}`, timeoutMs, intervalMs: 1_000 });
  }

  /** Stops following, reads the full logs of pods still present once more, and reports. */
  async stop(): Promise<TrafficReport> {
    if (this.stopped) return this.report();
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const rec of this.pods.values()) rec.follower?.kill('SIGTERM');
    await waitFor(() => [...this.pods.values()].every((r) => !r.follower), { what: 'log followers to exit', timeoutMs: 30_000 });
    for (const rec of this.pods.values()) {
      const r = await this.cluster.kubectl(['-n', rec.namespace, 'logs', `pod/${rec.pod}`, '--all-containers=true', '--prefix=true'], { allowFailure: true });
      if (r.code !== 0) continue;
      const read = new Map<string, string[]>();
      for (const line of r.stdout.split('\n')) addLine(read, line);
      commit(rec, read);
    }
    return this.report();
  }

  report(): TrafficReport {
    const report: TrafficReport = { ok: 0, failed: [], gaps: [], clientPods: [], serverPods: [], proxyTlsErrors: [], proxyWarnings: [] };
    for (const rec of this.pods.values()) {
      const id = `${rec.namespace}/${rec.pod}`;
      if (rec.namespace === trafficNs.client) report.clientPods.push(id);
      if (rec.namespace === trafficNs.server) report.serverPods.push(id);
      const seqs: number[] = [];
      for (const line of this.clientLines(rec)) {
        const m = /^REQ (ok|fail) (\d+)/.exec(line);
        if (!m) continue;
        seqs.push(Number(m[2]));
        if (m[1] === 'ok') report.ok++;
        else report.failed.push({ pod: id, line });
      }
      seqs.sort((a, b) => a - b);
      if (seqs.length > 0 && (seqs[0] !== 1 || seqs[seqs.length - 1] !== seqs.length)) {
        report.gaps.push(`${id}: ${seqs.length} request lines seen, numbered ${seqs[0]}..${seqs[seqs.length - 1]}`);
      }
      if (rec.namespace === trafficNs.client && seqs.length === 0) report.gaps.push(`${id}: no request lines at all`);
      for (const line of linesOf(rec, 'linkerd-proxy')) {
        if (/\b(WARN|ERROR)\b/.test(line)) report.proxyWarnings.push(`${id}: ${line}`);
        if (proxyTlsError.test(line)) report.proxyTlsErrors.push({ pod: id, line });
      }
    }
    return report;
  }
}
