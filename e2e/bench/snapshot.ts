// `npm run bench:snapshot -- --cluster <name>`: the runner's snapshot build at scale, on a local
// cluster that already carries the chart and meshed pods (one `npm run bench:rotation -- ... --keep`
// left). Starts the rotation adapter's watches as the runner's ServiceAccount, waits for the first
// lists, then times `readSnapshot` (the first, cold: every pod projected; then warm repeats, which
// reuse the per-object memos) and the pure part alone (`meshed()`: pods and workloads to facts),
// and the JavaScript heap the caches hold after a full GC (run with --expose-gc). JSON and a table.
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { Command } from 'commander';
import { createRotationAdapter } from '@linkerd-rotator/kube/rotation';
import { attachCluster } from '../cluster/src/index.js';
import { runnerSa, serviceAccountKubeconfig } from '../support/chart.js';
import { objectNames } from '../support/release.js';

const round1 = (x: number) => Math.round(x * 10) / 10;
const MiB = (b: number) => round1(b / 1048576);

function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc (npm run bench:snapshot does)');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

function quantiles(times: number[]): { p50: number; max: number } {
  const sorted = [...times].sort((a, b) => a - b);
  return { p50: round1(sorted[Math.floor(sorted.length / 2)]!), max: round1(sorted[sorted.length - 1]!) };
}

async function main(o: { cluster: string; repeats: number; json?: string }): Promise<void> {
  const cluster = attachCluster(o.cluster);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(await serviceAccountKubeconfig(cluster, runnerSa));
  const heapBefore = heapAfterGc();
  const adapter = createRotationAdapter(kubeConfig, {
    names: objectNames,
    stateNamespace: objectNames.releaseNamespace,
    instance: 'bench-snapshot',
    apiTimeoutMs: 120_000,
    budgetTimeoutMs: 60_000,
  });
  try {
    const started = performance.now();
    await adapter.start();
    await adapter.cache.synced(Date.now() + 600_000);
    const syncMs = performance.now() - started;
    const heapCaches = heapAfterGc() - heapBefore;
    let t = performance.now();
    const first = await adapter.reader.readSnapshot();
    const coldMs = performance.now() - t;
    const warm: number[] = [];
    for (let i = 0; i < o.repeats; i++) {
      t = performance.now();
      await adapter.reader.readSnapshot();
      warm.push(performance.now() - t);
    }
    const pure: number[] = [];
    for (let i = 0; i < o.repeats; i++) {
      t = performance.now();
      adapter.reader.meshed();
      pure.push(performance.now() - t);
    }
    const heapWithSnapshot = heapAfterGc() - heapBefore;
    const result = {
      meshedPods: first.pods.length,
      workloads: first.workloads.length,
      syncMs: Math.round(syncMs),
      snapshotColdMs: round1(coldMs),
      snapshotWarmMs: quantiles(warm),
      meshedWarmMs: quantiles(pure),
      apiRequests: adapter.requests.total,
      heapCachesMiB: MiB(heapCaches),
      heapCachesBytesPerPod: Math.round(heapCaches / Math.max(1, first.pods.length)),
      heapCachesAndSnapshotMiB: MiB(heapWithSnapshot),
      rssMiB: MiB(process.memoryUsage().rss),
    };
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    const head = ['meshed pods', 'workloads', 'first lists', 'snapshot cold', 'snapshot warm p50 / max', 'meshed() p50 / max', 'heap of the caches', 'per pod'];
    const row = [result.meshedPods, result.workloads, `${(result.syncMs / 1000).toFixed(1)} s`, `${result.snapshotColdMs} ms`, `${result.snapshotWarmMs.p50} / ${result.snapshotWarmMs.max} ms`, `${result.meshedWarmMs.p50} / ${result.meshedWarmMs.max} ms`, `${result.heapCachesMiB} MiB`, `${result.heapCachesBytesPerPod} B`];
    process.stderr.write([head, head.map(() => '---'), row].map((c) => `| ${c.join(' | ')} |`).join('\n') + '\n');
    const text = JSON.stringify({ machine: { cpus: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadAverageAtEnd: load }, snapshot: result }, null, 2);
    if (o.json) writeFileSync(o.json, text);
    process.stdout.write(`${text}\n`);
  } finally {
    await adapter.stop();
  }
}

new Command('bench:snapshot')
  .description("time the runner's snapshot build and measure its caches on a running local cluster with the chart and meshed pods")
  .requiredOption('--cluster <name>', 'the local cluster (e.g. one `npm run bench:rotation -- --keep` left running)')
  .option('--repeats <n>', 'warm snapshots to time', (v) => Number(v), 20)
  .option('--json <file>', 'also write the results to this file')
  .action(main)
  .parseAsync()
  .catch((err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).message}\n`);
    process.exitCode = 1;
  });
