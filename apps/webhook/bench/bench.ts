// `npm run bench:webhook`: builds the webhook as a container would run it (esbuild, plain node),
// starts it against an in-process fake API server, and drives it over real HTTPS from a separate
// load-generator process (vegeta, a Go client as the API server is, and a Node one) with a 3-anchor
// and a 50-certificate bundle at 500 and 2,000 req/s and at full speed: req/s, client p50/p90/p99,
// the webhook's own p99, peak RSS; beside it, in the same run, the floors (floor.mjs: a bare node:https
// server with a fixed answer, and the same answer through express as the webhook uses it). Prints a
// Markdown table and JSON (also written to BENCH_JSON).
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { encodePublicPki, publicPkiSecretName, type PublicPkiInput, type PublicPkiSource } from '@linkerd-rotator/kube/caches';
import { FakeApiServer } from '@linkerd-rotator/kube/testing';
import { DEFAULT_OBJECT_NAMES as names } from '@linkerd-rotator/names';
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';

const execFileAsync = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const here = path.join(root, 'apps/webhook/bench');
const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const dir = mkdtempSync(path.join(tmpdir(), 'webhook-bench-'));
const write = (name: string, content: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
};

interface LoadResult {
  requestsPerSecond: number;
  total: number;
  failed: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** The fixed-rate generator's own event-loop delay (ms): how late it could send or read. */
  generatorLoopDelay?: { p99: number; max: number };
  /** The load generator's CPU time over its run, as a percentage of one core. */
  generatorCpuPercent?: number;
}

/**
 * Follows a child's CPU time (user + system) while it runs, sampling /proc every 100 ms (a reaped
 * child's /proc entry is gone): stop() gives its CPU time as a percentage of one core over the
 * sampled span, short by at most the last 100 ms.
 */
function followCpu(pid: number | undefined): { stop(): number } {
  const started = performance.now();
  let last = { cpu: 0, at: started };
  const sample = () => {
    try {
      if (pid !== undefined) last = { cpu: cpuSeconds(pid), at: performance.now() };
    } catch {
      // exited between samples: keep the last reading
    }
  };
  sample();
  const timer = setInterval(sample, 100);
  return {
    stop() {
      clearInterval(timer);
      return r1((last.cpu / Math.max(1e-3, (last.at - started) / 1000)) * 100);
    },
  };
}

function rssMiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces, so split after its closing parenthesis).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime and stime, fields 14 and 15 of stat
  return ticks / CLOCK_TICKS;
}
/** The machine's CPU time so far, from /proc/stat's first line: all of it, and what the hypervisor stole. */
function machineCpu(): { total: number; steal: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  // user nice system idle iowait irq softirq steal
  return { total: fields.reduce((a, b) => a + b, 0), steal: fields[7] ?? 0 };
}

/**
 * BENCH_PIN=1: the webhook runs on CPU 0 alone, and this process, its fake API server and the load
 * generators on the other CPUs, as a webhook Pod has its node's CPU to itself while the API server
 * runs elsewhere. Without it, all of them share every CPU.
 */
const PIN = process.env.BENCH_PIN === '1';
function pinThisProcess(): string {
  if (!PIN) return 'not pinned: the webhook, the load generator and the fake API server share every CPU';
  if (cpus().length < 2) throw new Error('BENCH_PIN=1 needs at least 2 CPUs');
  const rest = `1-${cpus().length - 1}`;
  // -a: every thread of this process; the generators it starts inherit the affinity.
  execFileSync('taskset', ['-a', '-p', '-c', rest, String(process.pid)], { stdio: 'ignore' });
  return `pinned: the webhook on CPU 0, this process (fake API server) and the load generators on CPUs ${rest}`;
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * The fixed-rate generators: `node`, the open-loop generator in load-rate.mjs (Node's https client,
 * latency from each request's scheduled send time), and `vegeta`, a Go HTTP client as the API
 * server's webhook client is (built from its pinned module by e2e/cluster/build/build.sh).
 */
type Generator = 'node' | 'vegeta';
/** BENCH_GENERATORS: which fixed-rate generators run, in this order (default both, vegeta first). */
const GENERATORS: Generator[] = (process.env.BENCH_GENERATORS ?? 'vegeta,node').split(',').map((g) => {
  const name = g.trim();
  if (name !== 'node' && name !== 'vegeta') throw new Error(`BENCH_GENERATORS: unknown generator "${name}"; expected node or vegeta`);
  return name;
});
const GENERATOR_LABEL: Record<Generator | 'autocannon', string> = { node: 'Node (load-rate.mjs)', vegeta: 'vegeta (Go)', autocannon: 'autocannon' };

/** Fixed rate with the given generator; rate 0: autocannon as fast as it can (load.mjs). */
function load(generator: Generator, url: string, bodyFile: string, rate: number, duration: number, connections: number): Promise<LoadResult> {
  if (generator === 'vegeta' && rate > 0) return loadVegeta(url, bodyFile, rate, duration, connections);
  return new Promise((resolve, reject) => {
    const script = rate > 0 ? 'load-rate.mjs' : 'load.mjs';
    const child = spawn(process.execPath, [path.join(here, script), url, bodyFile, String(rate), String(duration), String(connections)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const cpu = followCpu(child.pid);
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.on('error', reject);
    child.on('close', (code) => {
      const generatorCpuPercent = cpu.stop();
      if (code === 0) resolve({ ...(JSON.parse(out) as LoadResult), generatorCpuPercent });
      else reject(new Error(`load generator exited ${code}`));
    });
  });
}

let vegetaBinary: string | undefined;
/** build.sh prints the build manifest on stdout when it is done; vegeta is built only when named. */
function vegeta(): string {
  if (vegetaBinary) return vegetaBinary;
  const out = execFileSync('bash', [path.join(root, 'e2e/cluster/build/build.sh'), 'vegeta'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  const bin = (JSON.parse(out) as { binaries: Record<string, string> }).binaries['vegeta'];
  if (!bin) throw new Error('e2e/cluster/build/build.sh vegeta finished, but its manifest lists no vegeta binary');
  return (vegetaBinary = bin);
}

/** vegeta's JSON report (latencies in nanoseconds). */
interface VegetaReport {
  latencies: { '50th': number; '90th': number; '99th': number; max: number };
  requests: number;
  rate: number;
  success: number;
  status_codes: Record<string, number>;
}

/**
 * `vegeta attack` at a fixed rate over keep-alive HTTP/1.1 (the webhook offers no h2, so the API
 * server speaks HTTP/1.1 to it as well), then `vegeta report -type=json` of its results.
 */
async function loadVegeta(url: string, bodyFile: string, rate: number, duration: number, connections: number): Promise<LoadResult> {
  const targets = write(`vegeta-${path.basename(bodyFile)}.txt`, `POST ${url}\nContent-Type: application/json\n@${bodyFile}\n`);
  const results = path.join(dir, 'vegeta.bin');
  // Asynchronously: this process serves the fake API server the webhook watches.
  const attack = execFileAsync(
    vegeta(),
    ['attack', `-targets=${targets}`, `-rate=${rate}/1s`, `-duration=${duration}s`, '-insecure', '-keepalive=true', '-http2=false', `-workers=${connections}`, `-max-connections=${connections}`, `-output=${results}`],
    { cwd: root },
  );
  const cpu = followCpu(attack.child.pid);
  let generatorCpuPercent: number;
  try {
    await attack;
  } finally {
    generatorCpuPercent = cpu.stop();
  }
  const report = JSON.parse((await execFileAsync(vegeta(), ['report', '-type=json', results], { cwd: root, encoding: 'utf8' })).stdout) as VegetaReport;
  const ms = (ns: number) => ns / 1e6;
  return {
    requestsPerSecond: report.rate,
    total: report.requests,
    failed: report.requests - (report.status_codes['200'] ?? 0),
    p50: ms(report.latencies['50th']),
    p90: ms(report.latencies['90th']),
    p99: ms(report.latencies['99th']),
    max: ms(report.latencies.max),
    generatorCpuPercent,
  };
}

/**
 * An UPDATE of the trust-roots ConfigMap as the API server sends it: the new object and, as on every
 * UPDATE, the old one (here holding the 3 anchors), each with the metadata trust-manager's ConfigMaps
 * carry (its Bundle as owner, its label, one managedFields entry).
 */
function reviewBody(bundle: string, oldBundle: string): string {
  const configMap = (pem: string, resourceVersion: string) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: names.trustRootsConfigMap,
      namespace: names.linkerdNamespace,
      uid: '9d1c7f3e-2b4a-4c55-8a57-0f3c1e2d4b6a',
      resourceVersion,
      creationTimestamp: '2026-12-01T10:00:00Z',
      labels: { 'trust.cert-manager.io/bundle': names.trustRootsConfigMap },
      ownerReferences: [{ apiVersion: 'trust.cert-manager.io/v1alpha1', kind: 'Bundle', name: names.trustRootsConfigMap, uid: '5b0e4c1a-7d2f-4e8b-9a36-1c2d3e4f5a6b', controller: true, blockOwnerDeletion: true }],
      managedFields: [{ manager: 'trust-manager', operation: 'Apply', apiVersion: 'v1', time: '2026-12-01T10:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': { [`f:${names.trustRootsKey}`]: {} }, 'f:metadata': { 'f:labels': { 'f:trust.cert-manager.io/bundle': {} }, 'f:ownerReferences': { 'k:{"uid":"5b0e4c1a-7d2f-4e8b-9a36-1c2d3e4f5a6b"}': {} } } } }],
    },
    data: { [names.trustRootsKey]: pem },
  });
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'bench',
      kind: { group: '', version: 'v1', kind: 'ConfigMap' },
      resource: { group: '', version: 'v1', resource: 'configmaps' },
      requestKind: { group: '', version: 'v1', kind: 'ConfigMap' },
      requestResource: { group: '', version: 'v1', resource: 'configmaps' },
      name: names.trustRootsConfigMap,
      namespace: names.linkerdNamespace,
      operation: 'UPDATE',
      userInfo: { username: 'system:serviceaccount:cert-manager:trust-manager', uid: '0a6f2c4e-8b1d-4f3a-9c5e-7d2b1a0c3e4f', groups: ['system:serviceaccounts', 'system:serviceaccounts:cert-manager', 'system:authenticated'] },
      object: configMap(bundle, '1002'),
      oldObject: configMap(oldBundle, '1001'),
      dryRun: false,
      options: { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1', fieldManager: 'trust-manager' },
    },
  });
}

/** The webhook's answer to one request body (loopback; the bench's own serving certificate, not verified). */
function answerOf(url: string, bodyFile: string): Promise<{ allowed: boolean; message?: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        try {
          const { response } = JSON.parse(text) as { response: { allowed: boolean; status?: { message: string } } };
          resolve({ allowed: response.allowed, ...(response.status ? { message: response.status.message } : {}) });
        } catch {
          reject(new Error(`the webhook answered HTTP ${res.statusCode} with no AdmissionReview: ${text.slice(0, 200)}`));
        }
      });
    });
    req.on('error', reject);
    req.end(readFileSync(bodyFile));
  });
}

/**
 * The decisions the scenarios are meant to time, checked before any is: 3 anchors allowed, and 50
 * certificates denied by the trust-bundle rules for their 47 foreign CAs. A webhook that denies
 * both for want of its PKI view (as this bench's fake API server once had it) would be timing a
 * refusal that runs no rule.
 */
async function checkDecisions(url: string, files: { three: string; fifty: string }): Promise<void> {
  const [three, fifty] = [await answerOf(url, files.three), await answerOf(url, files.fifty)];
  if (!three.allowed) throw new Error(`expected the 3-anchor bundle to be allowed, found it denied: ${three.message ?? ''}`);
  if (fifty.allowed || !/anchors? of this install/.test(fifty.message ?? '')) {
    throw new Error(`expected the 50-certificate bundle to be denied for its foreign CAs, found ${fifty.allowed ? 'it allowed' : `it denied: ${(fifty.message ?? '').slice(0, 300)}`}`);
  }
}

/**
 * The two builds: the image's (scripts/bundle-app.mjs, @kubernetes/client-node bundled and
 * tree-shaken), and every dependency loaded from node_modules, as `npm run webhook` runs it. And the
 * floors (floor.mjs): a bare node:https server that reads each body and sends a fixed answer, so the
 * webhook's figures sit beside what Node's HTTP and TLS alone cost here; and `floor-express`, the same
 * answer through express as the webhook's server uses it (express.raw, res.json): what express costs.
 */
type Build = 'image' | 'node_modules' | 'floor' | 'floor-express' | 'baseline';
const isFloor = (kind: Build): boolean => kind === 'floor' || kind === 'floor-express';
/**
 * BENCH_BASELINE=<git ref>: the image's bundle built from that commit (a detached git worktree using
 * this checkout's node_modules) runs right after the image's, with the same flags, so a change's
 * effect is measured side by side in one run.
 */
const BASELINE = process.env.BENCH_BASELINE;
/** BENCH_SCENARIOS=<part>,<part>: only the scenarios whose names contain one of these (e.g. "3 anchors @ 2000"); a profile of one. */
const ONLY = (process.env.BENCH_SCENARIOS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const BUILD_LABEL: Record<Build, string> = {
  image: 'image bundle',
  node_modules: 'client-node from node_modules (previous image)',
  floor: 'floor: bare node:https, fixed answer',
  'floor-express': 'floor: express, fixed answer',
  baseline: `image bundle at ${BASELINE ?? '(BENCH_BASELINE)'}`,
};

async function buildWebhook(kind: Build): Promise<string> {
  if (isFloor(kind)) return path.join(here, 'floor.mjs');
  const outdir = path.join(root, 'tmp/bench');
  mkdirSync(outdir, { recursive: true });
  const outfile = path.join(outdir, `webhook-${kind}.mjs`);
  if (kind === 'baseline') return buildBaseline(outfile);
  const tsconfig = path.join(root, 'tsconfig.base.json');
  if (kind === 'image') {
    execFileSync(process.execPath, [path.join(root, 'scripts/bundle-app.mjs'), 'webhook', outfile], { cwd: root, stdio: 'inherit' });
    return outfile;
  }
  await build({ entryPoints: [path.join(root, 'apps/webhook/src/main.ts')], bundle: true, packages: 'external', platform: 'node', format: 'esm', target: 'node24', tsconfig, outfile, sourcemap: true, logLevel: 'warning' });
  return outfile;
}

/** The image's bundle as BENCH_BASELINE's commit builds it, written beside this checkout's (so it loads the same node_modules). */
function buildBaseline(outfile: string): string {
  if (!BASELINE) throw new Error('the baseline build needs BENCH_BASELINE=<git ref>');
  const commit = execFileSync('git', ['rev-parse', '--verify', `${BASELINE}^{commit}`], { cwd: root, encoding: 'utf8' }).trim();
  const tree = path.join(dir, `baseline-${commit.slice(0, 12)}`);
  execFileSync('git', ['worktree', 'add', '--detach', tree, commit], { cwd: root, stdio: 'ignore' });
  try {
    symlinkSync(path.join(root, 'node_modules'), path.join(tree, 'node_modules'));
    execFileSync(process.execPath, [path.join(tree, 'scripts/bundle-app.mjs'), 'webhook', outfile], { cwd: tree, stdio: 'inherit' });
  } finally {
    execFileSync('git', ['worktree', 'remove', '--force', tree], { cwd: root, stdio: 'ignore' });
  }
  return outfile;
}

interface ServerScrape {
  /** Cumulative counts of the server-side latency histogram, by upper bound in seconds. */
  buckets: Map<number, number>;
  /** GC time (seconds) and count so far, by kind (prom-client's nodejs_gc_duration_seconds). */
  gc: Map<string, { seconds: number; count: number }>;
  /** The webhook's event-loop delay p99 (seconds) since the previous scrape (prom-client resets it on each). */
  loopDelayP99: number;
}

async function scrapeServer(metricsPort: number): Promise<ServerScrape> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const buckets = new Map<number, number>();
  const gc = new Map<string, { seconds: number; count: number }>();
  let loopDelayP99 = NaN;
  const line = /^linkerd_rotator_admission_duration_seconds_bucket\{le="([^"]+)",resource="configmaps",operation="UPDATE"\} (\d+)$/;
  for (const l of text.split('\n')) {
    const m = line.exec(l) ?? /^linkerd_rotator_admission_duration_seconds_bucket\{resource="configmaps",operation="UPDATE",le="([^"]+)"\} (\d+)$/.exec(l);
    if (m) buckets.set(m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2]));
    const g = /^nodejs_gc_duration_seconds_(sum|count)\{kind="([a-z]+)"\} (\S+)$/.exec(l);
    if (g) {
      const entry = gc.get(g[2]!) ?? { seconds: 0, count: 0 };
      if (g[1] === 'sum') entry.seconds = Number(g[3]);
      else entry.count = Number(g[3]);
      gc.set(g[2]!, entry);
    }
    const d = /^nodejs_eventloop_lag_p99_seconds (\S+)$/.exec(l);
    if (d) loopDelayP99 = Number(d[1]);
  }
  return { buckets, gc, loopDelayP99 };
}

/** GC between two scrapes: pauses by kind (count, total ms), and their share of the wall time. */
function gcBetween(before: ServerScrape, after: ServerScrape, seconds: number): { minor: string; major: string; percentOfWallTime: number } {
  const delta = (kind: string) => {
    const [a, b] = [after.gc.get(kind) ?? { seconds: 0, count: 0 }, before.gc.get(kind) ?? { seconds: 0, count: 0 }];
    return { count: a.count - b.count, ms: (a.seconds - b.seconds) * 1000 };
  };
  const [minor, major] = [delta('minor'), delta('major')];
  const describe = (d: { count: number; ms: number }) => `${d.count} (${r1(d.ms)} ms)`;
  return { minor: describe(minor), major: describe(major), percentOfWallTime: r1(((minor.ms + major.ms) / (seconds * 1000)) * 100) };
}

/** The histogram bucket bound (ms) under which quantile q of the requests between two scrapes fell. */
function serverQuantile(before: Map<number, number>, after: Map<number, number>, q: number): string {
  const bounds = [...after.keys()].sort((x, y) => x - y);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  for (const le of bounds) {
    if ((after.get(le) ?? 0) - (before.get(le) ?? 0) >= q * total) return le === Infinity ? '> 1000 ms' : `<= ${le * 1000} ms`;
  }
  return 'n/a';
}

async function startWebhook(nodeFlags: string, entry: string, kubeconfig: string, certFile: string, keyFile: string, extraArgs: string[] = []): Promise<{ child: ChildProcess; port: number; metricsPort: number }> {
  const [port, metricsPort] = [await freePort(), await freePort()];
  // A flag set may start with NAME=value words: the webhook's environment, as a Deployment's env sets it.
  const env: Record<string, string> = {};
  const flags: string[] = [];
  for (const word of nodeFlags.split(' ').filter(Boolean)) {
    const assignment = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(word);
    if (assignment) env[assignment[1]!] = assignment[2]!;
    else flags.push(word);
  }
  const node = [process.execPath, ...flags, entry];
  const [command, ...args] = PIN ? ['taskset', '-c', '0', ...node] : node;
  const child = spawn(
    command!,
    [...args, '--kubeconfig', kubeconfig, '--tls-cert-file', certFile, '--tls-key-file', keyFile, '--port', String(port), '--metrics-port', String(metricsPort), '--bind-address', '127.0.0.1', '--metrics-bind-address', '127.0.0.1', '--log-level', 'warn', ...extraArgs],
    // NODE_ENV as the image sets it (apps/webhook/Dockerfile).
    { cwd: root, env: { ...process.env, NODE_OPTIONS: '', NODE_ENV: 'production', ...env }, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`webhook exited ${child.exitCode} before becoming ready`);
    const ready = await fetch(`http://127.0.0.1:${metricsPort}/readyz`).then((r) => r.ok, () => false);
    if (ready) return { child, port, metricsPort };
    if (Date.now() > deadline) throw new Error('webhook not ready within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main(): Promise<void> {
  console.log(`building the webhook and generating certificates in ${dir} ...`);
  const entries: Record<Build, string> = {
    image: await buildWebhook('image'),
    node_modules: await buildWebhook('node_modules'),
    floor: await buildWebhook('floor'),
    'floor-express': await buildWebhook('floor-express'),
    baseline: BASELINE ? await buildWebhook('baseline') : '',
  };
  if (GENERATORS.includes('vegeta')) console.log(`vegeta: ${vegeta()}`);
  const pinning = pinThisProcess();
  console.log(pinning);
  const servingCa = await fixtures.makeAnchor({ cn: 'bench-webhook-ca' });
  const serving = await fixtures.makeLeaf(servingCa, { cn: 'localhost' });
  const [prepared, active, previous] = [await fixtures.makeAnchor(), await fixtures.makeAnchor(), await fixtures.makeAnchor()];
  const issuer = await fixtures.makeIssuer(active);
  const others: Credentials[] = [];
  for (let i = 0; i < 47; i++) others.push(await fixtures.makeAnchor({ cn: `bench-anchor-${i}` }));
  const three = fixtures.bundleOf(prepared, active, previous);
  const fifty = fixtures.bundleOf(prepared, active, previous, ...others);

  const api = new FakeApiServer();
  const kc = await api.start();
  // The webhook reads no Secret: it reads the anchors and the issuer from the public PKI view the
  // exporter writes (without it, every guarded write is denied before any rule runs).
  const published = (source: PublicPkiSource, view: { certPem: string; caPem?: string }) => {
    const secret = publicPkiSecretName(names, source);
    return { secret: { ...secret, version: { uid: `bench-${source}`, resourceVersion: '1' } }, view: { source: `Secret ${secret.namespace}/${secret.name}`, ...view } };
  };
  const view: PublicPkiInput = {
    preparedAnchor: published('preparedAnchor', { certPem: prepared.certPem }),
    activeAnchor: published('activeAnchor', { certPem: active.certPem }),
    previousAnchor: published('previousAnchor', { certPem: previous.certPem }),
    issuer: published('issuer', { certPem: issuer.certPem, caPem: active.certPem }),
  };
  api.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: names.publicPkiConfigMap, namespace: names.releaseNamespace }, data: encodePublicPki(view) });
  api.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: names.trustRootsConfigMap, namespace: names.linkerdNamespace }, data: { [names.trustRootsKey]: three } });

  const files = {
    kubeconfig: write('kubeconfig', kc.exportConfig()),
    cert: write('tls.crt', serving.certPem),
    key: write('tls.key', serving.keyPem),
    three: write('three.json', reviewBody(three, three)),
    fifty: write('fifty.json', reviewBody(fifty, three)),
  };
  // The image (its bundle and its ENTRYPOINT's flags), the two floors (bare, express) with the same
  // flags, the image with --enable-source-maps, the image before client-node was bundled (client-node
  // from node_modules, its flags then), and the image's bundle with Node's defaults. BENCH_NODE_FLAGS:
  // the image's bundle with each of these flag sets (separated by `;`) instead, the floors with the
  // first. BENCH_FLOOR=0 leaves the floors out. BENCH_BASELINE=<git ref>: that commit's image bundle
  // right after the image's.
  const floor = process.env.BENCH_FLOOR !== '0';
  const withFloor = (variants: Variant[]): Variant[] => [
    variants[0]!,
    ...(BASELINE ? [{ build: 'baseline' as const, flags: variants[0]!.flags }] : []),
    ...(floor ? [{ build: 'floor' as const, flags: variants[0]!.flags }, { build: 'floor-express' as const, flags: variants[0]!.flags }] : []),
    ...variants.slice(1),
  ];
  const variants: Variant[] = withFloor(
    process.env.BENCH_NODE_FLAGS !== undefined
      ? process.env.BENCH_NODE_FLAGS.split(';').map((flags) => ({ build: 'image' as const, flags: flags.trim() }))
      : [
          { build: 'image', flags: IMAGE_FLAGS },
          { build: 'image', flags: `--enable-source-maps ${IMAGE_FLAGS}` },
          { build: 'node_modules', flags: PREVIOUS_IMAGE_FLAGS },
          { build: 'image', flags: '' },
        ],
  );
  const loadAtStart = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const results: VariantResult[] = [];
  try {
    for (const v of variants) results.push(await runVariant(v, entries[v.build], files));
  } finally {
    await api.stop();
  }
  const loadAtEnd = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const machine = { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown CPU', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, secondsPerScenario: seconds, pinning, loadAverageAtStart: loadAtStart, loadAverageAtEnd: loadAtEnd };
  console.log(`\n${table(results)}`);
  const json = JSON.stringify({ machine, variants: results }, null, 2);
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, json);
  console.log(json);
  console.log(`\nmachine: ${machine.cpus} cores, ${machine.model}, ${machine.memoryGiB} GiB; node ${process.version}; ${seconds} s per scenario; ${pinning}; load average ${loadAtStart} at the start, ${loadAtEnd} at the end`);
  console.log('client latency, loopback HTTPS with keep-alive: at a fixed rate, vegeta (Go, from the start of each request) and load-rate.mjs (Node, from each request\'s scheduled send time); at max rate, autocannon (1 ms resolution);');
  console.log('server latency: the webhook\'s own histogram (request body received -> response sent); CPU is shared with whatever else runs on this machine');
}

interface ScenarioResult extends LoadResult {
  scenario: string;
  generator: Generator | 'autocannon';
  targetRate: number | 'max';
  serverP50: string;
  serverP99: string;
  /** The webhook's event-loop delay p99 over the scenario (ms; prom-client samples at 10 ms). */
  serverLoopDelayP99: number;
  /** The webhook's CPU time over the scenario, as a percentage of one core. */
  webhookCpuPercent: number;
  /** The webhook's CPU time over the scenario divided by the requests sent (µs): what one request costs it, whatever the rate. */
  serverCpuMicrosPerRequest: number;
  /** CPU time the hypervisor took from this virtual machine over the scenario (steal), % of all CPU time. */
  stolenPercent: number;
  /** The webhook's GC pauses over the scenario. */
  serverGc: { minor: string; major: string; percentOfWallTime: number };
  /** VmHWM after this scenario: the peak of this one and every scenario before it. */
  peakRssSoFarMiB: number;
  rssAfterMiB: number;
}

/** The image's flags before client-node was bundled (with the build 'node_modules', that image). */
const PREVIOUS_IMAGE_FLAGS = '--enable-source-maps --max-semi-space-size=8';

/** apps/webhook/Dockerfile's ENTRYPOINT flags, read from it (the bench's bundle has its source map too). */
const IMAGE_FLAGS = (() => {
  const line = readFileSync(path.join(root, 'apps/webhook/Dockerfile'), 'utf8')
    .split('\n')
    .findLast((l) => l.startsWith('ENTRYPOINT '));
  const entrypoint = JSON.parse(line?.slice('ENTRYPOINT '.length) ?? 'null') as string[] | null;
  if (!entrypoint || entrypoint.at(-1) !== 'dist/main.js') throw new Error('apps/webhook/Dockerfile: expected ENTRYPOINT ["<node>", ...flags, "dist/main.js"]');
  return entrypoint.slice(1, -1).join(' ');
})();

interface Variant {
  build: Build;
  flags: string;
}

interface VariantResult {
  build: Build;
  nodeFlags: string;
  idleRssMiB: number;
  /** Peak RSS once both 500 req/s scenarios ran (they run first). */
  peakRssAt500MiB: number;
  peakRssMiB: number;
  scenarios: ScenarioResult[];
}

const r1 = (x: number) => Math.round(x * 100) / 100;

async function runVariant({ build: kind, flags }: Variant, entry: string, files: Record<'kubeconfig' | 'cert' | 'key' | 'three' | 'fifty', string>): Promise<VariantResult> {
  const { child, port, metricsPort } = await startWebhook(flags, entry, files.kubeconfig, files.cert, files.key, kind === 'floor-express' ? ['--express'] : []);
  const pid = child.pid as number;
  const idle = rssMiB(pid, 'VmRSS');
  const url = `https://127.0.0.1:${port}/validate`;
  if (!isFloor(kind)) await checkDecisions(url, files);
  // The 500 req/s scenarios first, so the peak RSS after them is the peak at 500 req/s.
  const fixedRate = [
    { name: '3 anchors @ 500 req/s', body: files.three, rate: 500, connections: 10 },
    { name: '50 certs @ 500 req/s', body: files.fifty, rate: 500, connections: 10 },
    { name: '3 anchors @ 2000 req/s', body: files.three, rate: 2000, connections: 20 },
    { name: '50 certs @ 2000 req/s', body: files.fifty, rate: 2000, connections: 20 },
  ];
  // Each rate with every generator in turn, so their figures come from one webhook process.
  const scenarios: { name: string; body: string; rate: number; connections: number; generator: Generator | 'autocannon' }[] = [
    ...fixedRate.flatMap((s) => GENERATORS.map((generator) => ({ ...s, generator }))),
    { name: '3 anchors, max rate', body: files.three, rate: 0, connections: 20, generator: 'autocannon' as const },
  ].filter((s) => ONLY.length === 0 || ONLY.some((only) => s.name.includes(only)));
  console.log(`\n${BUILD_LABEL[kind]}, node flags: ${flags || '(defaults)'}; webhook RSS idle after sync ${idle.toFixed(1)} MiB`);
  const results: ScenarioResult[] = [];
  let peakRssAt500MiB = 0;
  try {
    for (const s of scenarios) {
      const generator = s.generator === 'autocannon' ? 'node' : s.generator;
      await load(generator, url, s.body, s.rate === 0 ? 500 : s.rate, 3, s.connections); // warm-up: JIT, parse cache, TLS sessions
      const before = await scrapeServer(metricsPort);
      const [cpuBefore, wallBefore, machineBefore] = [cpuSeconds(pid), performance.now(), machineCpu()];
      const r = await load(generator, url, s.body, s.rate, seconds, s.connections);
      const cpuUsed = cpuSeconds(pid) - cpuBefore;
      const webhookCpuPercent = r1((cpuUsed / ((performance.now() - wallBefore) / 1000)) * 100);
      const serverCpuMicrosPerRequest = Math.round((cpuUsed / Math.max(1, r.total)) * 1e6);
      const machineAfter = machineCpu();
      const stolenPercent = r1(((machineAfter.steal - machineBefore.steal) / Math.max(1, machineAfter.total - machineBefore.total)) * 100);
      const after = await scrapeServer(metricsPort);
      const result: ScenarioResult = {
        scenario: s.name,
        generator: s.generator,
        targetRate: s.rate === 0 ? 'max' : s.rate,
        ...r,
        requestsPerSecond: Math.round(r.requestsPerSecond),
        p50: r1(r.p50),
        p90: r1(r.p90),
        p99: r1(r.p99),
        max: r1(r.max),
        ...(r.generatorLoopDelay ? { generatorLoopDelay: { p99: r1(r.generatorLoopDelay.p99), max: r1(r.generatorLoopDelay.max) } } : {}),
        serverP50: serverQuantile(before.buckets, after.buckets, 0.5),
        serverP99: serverQuantile(before.buckets, after.buckets, 0.99),
        serverLoopDelayP99: r1(after.loopDelayP99 * 1000),
        webhookCpuPercent,
        serverCpuMicrosPerRequest,
        stolenPercent,
        serverGc: gcBetween(before, after, seconds),
        peakRssSoFarMiB: r1(rssMiB(pid, 'VmHWM')),
        rssAfterMiB: r1(rssMiB(pid, 'VmRSS')),
      };
      if (s.rate === 500) peakRssAt500MiB = result.peakRssSoFarMiB;
      results.push(result);
      console.log(
        `${s.name} | ${GENERATOR_LABEL[s.generator]} | ${r.requestsPerSecond.toFixed(0).padStart(5)} req/s | client p50 ${r.p50.toFixed(2)} ms, p90 ${r.p90.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, max ${r.max.toFixed(1)} ms | server p50 ${result.serverP50}, p99 ${result.serverP99} | webhook loop delay p99 ${result.serverLoopDelayP99} ms, GC minor ${result.serverGc.minor}, major ${result.serverGc.major} | webhook CPU ${webhookCpuPercent}% of a core (${serverCpuMicrosPerRequest} µs per request), generator ${r.generatorCpuPercent ?? 'n/a'}% | stolen ${stolenPercent}% |${r.generatorLoopDelay ? ` generator loop delay p99 ${r.generatorLoopDelay.p99.toFixed(2)} ms, max ${r.generatorLoopDelay.max.toFixed(1)} ms |` : ''} ${r.total} requests, ${r.failed} failed | peak RSS so far ${result.peakRssSoFarMiB} MiB`,
      );
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  return { build: kind, nodeFlags: flags, idleRssMiB: r1(idle), peakRssAt500MiB, peakRssMiB: Math.max(...results.map((r) => r.peakRssSoFarMiB)), scenarios: results };
}

/** Every variant's scenarios as one Markdown table (the README's form). */
function table(variants: VariantResult[]): string {
  const head = ['scenario', 'client', 'build', 'Node flags', 'req/s', 'client p50 / p90 / p99', 'server p99', 'CPU (% of a core): webhook / generator', 'webhook CPU per request', 'CPU stolen', 'webhook GC (% of time)', 'loop delay p99: webhook / generator', 'failed', 'peak RSS so far'];
  const rows = variants.flatMap((v) =>
    v.scenarios.map((s) => [s.scenario, GENERATOR_LABEL[s.generator], BUILD_LABEL[v.build], v.nodeFlags ? `\`${v.nodeFlags}\`` : 'defaults', String(s.requestsPerSecond), `${s.p50} / ${s.p90} / ${s.p99} ms`, s.serverP99, `${s.webhookCpuPercent}% / ${s.generatorCpuPercent ?? 'n/a'}%`, `${s.serverCpuMicrosPerRequest} µs`, `${s.stolenPercent}%`, `${s.serverGc.percentOfWallTime}%`, `${s.serverLoopDelayP99} / ${s.generatorLoopDelay ? s.generatorLoopDelay.p99 : 'n/a'} ms`, String(s.failed), `${s.peakRssSoFarMiB} MiB`]),
  );
  const idle = variants.map((v) => `idle RSS ${v.idleRssMiB} MiB, peak at 500 req/s ${v.peakRssAt500MiB} MiB (${BUILD_LABEL[v.build]}, ${v.nodeFlags || 'defaults'})`).join('; ');
  return [head, head.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n') + `\n\n${idle}`;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
