// `npm run bench:exporter -- --cluster <name>`: the PKI health exporter on a local cluster that already
// carries the chart and meshed pods (one `npm run bench:rotation -- ... --keep` left, or `bench:rotation
// --exporter`, which runs this on its own cluster after the rotations). Runs the exporter as its image
// does (esbuild bundle, plain node with the chart Deployment's command flags, its env and
// ServiceAccount), waits until every cache has synced, then scrapes /metrics repeatedly: scrape time
// (p50 / p99 / max), series count by metric, time to ready, idle and peak RSS. JSON and a table.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { MESHED_POD_LABEL } from '@linkerd-rotator/kube';
import { attachCluster, freePorts, type Cluster } from '../cluster/src/index.js';
import { repoRoot } from '../cluster/src/paths.js';
import { podEnvironment, release, serviceAccountKubeconfig, type DeploymentSpec } from '../support/chart.js';
import { getJson } from '../support/objects.js';
import { releaseObjects } from '../support/release.js';
import { bundleApp } from '../support/runner-bundle.js';

export interface ExporterBenchResult {
  meshedPods: number;
  namespaces: number;
  nodeFlags: string;
  readyAfterMs: number;
  idleRssMiB: number;
  peakRssMiB: number;
  rssAfterMiB: number;
  scrapes: number;
  scrapeMs: { p50: number; p99: number; max: number };
  scrapeBytes: number;
  series: number;
  /** Series per metric name, largest first (the bounded families of docs/metrics.md). */
  seriesByMetric: Record<string, number>;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

function rssMiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return round1(Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024);
}

/** The series of a Prometheus text exposition, counted per metric name (histogram parts under their own names). */
export function countSeries(text: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0] ?? line;
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).sort(([, a], [, b]) => b - a));
}

/** Runs the exporter against `cluster` (the chart installed) and measures it; stops it afterwards. */
export async function benchExporter(cluster: Cluster, opts: { scrapes: number; log: (m: string) => void; nodeFlags?: string }): Promise<ExporterBenchResult> {
  // Inside the repository, so the bundle's external packages resolve from its node_modules.
  mkdirSync(path.join(repoRoot, 'tmp'), { recursive: true });
  const dir = mkdtempSync(path.join(repoRoot, 'tmp', 'bench-exporter-'));
  try {
    const entry = await bundleApp('exporter', path.join(dir, 'exporter.mjs'));
    const deployment = await getJson<DeploymentSpec>(cluster, ['-n', release.namespace, 'get', 'deployment', releaseObjects.exporterDeployment]);
    const container = deployment.spec.template.spec.containers[0]!;
    // The chart's command: ["/nodejs/bin/node", <flags...>, "dist/exporter.js"]; the same flags here.
    const nodeFlags = opts.nodeFlags !== undefined ? opts.nodeFlags.split(/\s+/).filter(Boolean) : (container.command ?? []).filter((a) => a.startsWith('--'));
    const env = await podEnvironment(cluster, container, { what: 'the chart exporter Deployment', podName: 'bench-exporter' });
    const kubeconfig = await serviceAccountKubeconfig(cluster, releaseObjects.exporterServiceAccount);
    const [port] = await freePorts(1);
    const url = `http://127.0.0.1:${port}`;
    const listed = (await cluster.kubectl(['get', 'pods', '-A', '-l', MESHED_POD_LABEL, '--no-headers', '-o', 'custom-columns=NS:.metadata.namespace'])).stdout.split('\n').filter(Boolean);
    const args = [...nodeFlags, entry, ...(container.args ?? []), '--metrics-bind-address', '127.0.0.1', '--metrics-port', String(port), '--kubeconfig', kubeconfig, '--log-level', 'warn'];
    opts.log(`exporter: node ${args.join(' ')} (${listed.length} meshed pods in ${new Set(listed).size} namespaces)`);
    const started = performance.now();
    const child = spawn(process.execPath, args, { cwd: repoRoot, env: { ...env, NODE_OPTIONS: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    try {
      const deadline = Date.now() + 600_000;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`exporter exited ${child.exitCode}: ${stderr}`);
        const ready = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
        if (ready) break;
        if (Date.now() > deadline) throw new Error(`exporter not ready within 10 min: ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const readyAfterMs = Math.round(performance.now() - started);
      const pid = child.pid!;
      const idleRssMiB = rssMiB(pid, 'VmRSS');
      const times: number[] = [];
      let text = '';
      for (let i = 0; i < opts.scrapes; i++) {
        const t = performance.now();
        text = await (await fetch(`${url}/metrics`)).text();
        times.push(performance.now() - t);
      }
      times.sort((a, b) => a - b);
      const q = (p: number) => round1(times[Math.min(times.length - 1, Math.floor(p * times.length))]!);
      const seriesByMetric = countSeries(text);
      return {
        meshedPods: listed.length,
        namespaces: new Set(listed).size,
        nodeFlags: nodeFlags.join(' '),
        readyAfterMs,
        idleRssMiB,
        peakRssMiB: rssMiB(pid, 'VmHWM'),
        rssAfterMiB: rssMiB(pid, 'VmRSS'),
        scrapes: opts.scrapes,
        scrapeMs: { p50: q(0.5), p99: q(0.99), max: round1(times[times.length - 1]!) },
        scrapeBytes: Buffer.byteLength(text),
        series: Object.values(seriesByMetric).reduce((s, n) => s + n, 0),
        seriesByMetric,
      };
    } finally {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The figures as a Markdown table (the README's form). */
export function exporterTable(r: ExporterBenchResult): string {
  const head = ['meshed pods', 'namespaces', 'ready after', 'scrape p50 / p99 / max', 'scrape size', 'series', 'idle RSS', 'peak RSS'];
  const row = [String(r.meshedPods), String(r.namespaces), `${(r.readyAfterMs / 1000).toFixed(1)} s`, `${r.scrapeMs.p50} / ${r.scrapeMs.p99} / ${r.scrapeMs.max} ms`, `${Math.round(r.scrapeBytes / 1024)} KiB`, String(r.series), `${r.idleRssMiB} MiB`, `${r.peakRssMiB} MiB`];
  return [head, head.map(() => '---'), row].map((cells) => `| ${cells.join(' | ')} |`).join('\n') + '\n';
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === path.resolve(repoRoot, 'e2e/bench/exporter.ts');
if (isMain) {
  const program = new Command('bench:exporter')
    .description('measure the exporter (scrape time, series, RSS) on a running local cluster that has the chart and meshed pods')
    .requiredOption('--cluster <name>', 'the local cluster (e.g. one `npm run bench:rotation -- --keep` left running)')
    .option('--scrapes <n>', 'scrapes to time', (v) => Number(v), 50)
    .option('--json <file>', 'also write the results to this file')
    .option('--node-flags <flags>', "Node flags for the exporter (default: the chart Deployment's command)")
    .action(async (o: { cluster: string; scrapes: number; json?: string; nodeFlags?: string }) => {
      const cluster = attachCluster(o.cluster);
      const result = await benchExporter(cluster, { scrapes: o.scrapes, log: (m) => process.stderr.write(`[bench:exporter] ${m}\n`), ...(o.nodeFlags !== undefined ? { nodeFlags: o.nodeFlags } : {}) });
      const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
      const out = { machine: { cpus: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadAverageAtEnd: load }, exporter: result };
      process.stderr.write(exporterTable(result));
      const text = JSON.stringify(out, null, 2);
      if (o.json) writeFileSync(o.json, text);
      process.stdout.write(`${text}\n`);
    });
  program.parseAsync().catch((err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).message}\n`);
    process.exitCode = 1;
  });
}
