// `npm run bench:rotation -- --workloads N --namespaces M`: full trust-anchor rotations on a fresh
// local cluster (real API server, cert-manager, trust-manager, Linkerd stand-ins, kwok pods) with N
// meshed Deployments across M namespaces, by the runner as it ships (esbuild bundle, plain node, the
// chart's ServiceAccount), once per strategy side by side (restart, then cross-signed on the pods it
// left young). Prints forced restarts per meshed pod per rotation, wall time, API requests by kind,
// peak RSS, and the time spent in gates (rollouts becoming Ready, PKI propagation, the long
// old-leaves-expired wait, shortened through a 1-minute leaf lifetime) versus the engine's own work.
// `--baseline` then runs the common shell recipe on the same cluster, sleeps scaled by --sleep-scale;
// `--exporter` then measures the exporter there (e2e/bench/exporter.ts). `--replicas` makes pods =
// workloads x replicas (5,000 meshed pods: --workloads 2500 --namespaces 250 --replicas 2), and
// `--strategies` picks which to run. A Markdown table per strategy goes to stderr, JSON to stdout.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { startCluster, stopCluster, waitFor, type Cluster } from '../cluster/src/index.js';
import { installLinkerd } from '../cluster/src/linkerd/install.js';
import { repoRoot } from '../cluster/src/paths.js';
import { installChartForRunner } from '../support/chart.js';
import { runCommonRecipe } from '../support/common-recipe.js';
import { createMeshedWorkloads } from '../support/mesh.js';
import { benchExporter, exporterTable } from './exporter.js';
import { objectNames, release } from '../support/release.js';
import { rotateToDone, type RotateRunReport } from '../support/rotate-to-done.js';
import { watchPodStarts } from '../support/rotation-watch.js';
import { bundleRunner } from '../support/runner-bundle.js';

/** The runner image's Node flags (apps/rotation-runner/Dockerfile ENTRYPOINT). */
const IMAGE_NODE_FLAGS = '--max-semi-space-size=2 --optimize-for-size';

interface Options {
  workloads: number;
  namespaces: number;
  /** Pods per Deployment: meshed pods = workloads x replicas. */
  replicas: number;
  /** Which strategies to run, in this order. */
  strategies: Strategy[];
  maxConcurrentRollouts: number;
  /** The runner's --restart-concurrency; several values run strategy restart once per value, in order. */
  restartConcurrency?: number[];
  nodes?: number;
  baseline: boolean;
  /** Then measure the exporter on the same cluster (e2e/bench/exporter.ts). */
  exporter: boolean;
  sleepScale: number;
  keep: boolean;
  json?: string;
  /** Where to keep the runner's JSON log (one file per strategy, suffixed with it). */
  runnerLog?: string;
  /** Node flags for the runner process. */
  nodeFlags: string;
  /**
   * Another build of the runner (a bundle of scripts/bundle-app.mjs, e.g. from an earlier commit):
   * strategy restart also runs with it, right before this build, on the same cluster.
   */
  compareRunner?: string;
}

/** The strategies compared, in run order: cross-signed then rotates a mesh whose pods are all young. */
const STRATEGIES = ['restart', 'cross-signed'] as const;
type Strategy = (typeof STRATEGIES)[number];

/** Linkerd's leaf lifetime here and the runner's --leaf-lifetime: cross-signed's long gate waits one of these. */
const LEAF_LIFETIME = { linkerd: '1m0s', runner: '1m' } as const;

/**
 * What the bench reads of `rotate --output json` (RotateReport in
 * apps/rotation-runner/src/commands/rotate.ts): the runner is measured as a process, through its output.
 */
interface RotateReport extends RotateRunReport {
  steps: number;
  apiRequests: number;
  requestsByKind: Array<{ verb: string; resource: string; count: number }>;
  peakRssBytes: number;
  /** Time inside each port method (`cluster.readSnapshot` is the snapshot build). */
  ports: Record<string, { calls: number; ms: number; maxMs?: number }>;
  cpuMs: number;
  memory: { rss: number; heapUsed: number };
}

/** Gates that wait for restarted pods to become Ready and fresh, versus the PKI propagating. */
const ROLLOUT_GATES = new Set(['pods-trust-both', 'leaves-renewed', 'pods-trust-only-new', 'identity-restarted']);

const round1 = (x: number) => Math.round(x * 10) / 10;

/** Durations in the progress lines; the JSON results keep milliseconds. */
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const t0 = Date.now();
const say = (m: string) => process.stderr.write(`[bench ${seconds(Date.now() - t0).padStart(8)}] ${m}\n`);

function runRunner(runnerJs: string, args: string[], env: NodeJS.ProcessEnv, nodeFlags = ''): Promise<{ code: number | null; stdout: string; stderr: string; wallMs: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    // On the command line, as the image's ENTRYPOINT has them (--optimize-for-size is refused in NODE_OPTIONS).
    const flags = nodeFlags.split(/\s+/).filter(Boolean);
    const child = spawn(process.execPath, [...flags, runnerJs, ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      partial += d.toString();
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        try {
          const rec = JSON.parse(line) as { msg?: string };
          if (rec.msg && /^phase |rolled \d+\/\d+|^stopped/.test(rec.msg)) say(`  runner: ${rec.msg}`);
        } catch {
          // not a log record
        }
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, wallMs: Date.now() - started }));
  });
}

function nodesFor(o: Options): number {
  // kwok nodes take 250 pods each: N pods, the surge of concurrent rollouts, the control plane.
  return o.nodes ?? Math.max(3, Math.ceil((o.workloads * o.replicas + o.maxConcurrentRollouts + 50) / 200));
}

async function setUp(cluster: Cluster, o: Options, runnerJs: string): Promise<{ env: NodeJS.ProcessEnv; dataPlaneNamespaces: string[] }> {
  const { chartEnv, runnerKubeconfig } = await installChartForRunner(cluster, { timeoutSeconds: 180 });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    ...chartEnv,
    KUBECONFIG: runnerKubeconfig,
    POD_NAME: 'bench-runner',
    LOG_FORMAT: 'json',
  };
  const boot = await runRunner(runnerJs, ['bootstrap'], env);
  if (boot.code !== 0) throw new Error(`bootstrap exited ${boot.code}: ${boot.stderr.slice(-2000)}`);
  await cluster.kubectl(['-n', objectNames.linkerdNamespace, 'wait', '--for=condition=Ready', `certificate/${objectNames.issuerCertificate}`, '--timeout=180s']);
  await cluster.kubectl(['wait', '--for=condition=Synced', `bundle/${objectNames.trustRootsConfigMap}`, '--timeout=180s']);
  say('installing the Linkerd stand-ins');
  await installLinkerd(cluster, { issuanceLifetime: LEAF_LIFETIME.linkerd });
  say(`creating ${o.workloads} meshed Deployments x ${o.replicas} replicas in ${o.namespaces} namespaces`);
  const perNamespace = Math.ceil(o.workloads / o.namespaces);
  const workloads = await createMeshedWorkloads(cluster, { namespaces: o.namespaces, workloadsPerNamespace: perNamespace, replicas: o.replicas, timeoutSeconds: 1800 });
  say(`${workloads.length * o.replicas} meshed pods Available`);
  return { env, dataPlaneNamespaces: [...new Set(workloads.map((w) => w.namespace))] };
}

function summarize(o: Options, nodes: number, report: RotateReport, wallMs: number) {
  const rollouts = Object.entries(report.gates).filter(([g]) => ROLLOUT_GATES.has(g)).reduce((s, [, ms]) => s + ms, 0);
  const gates = Object.values(report.gates).reduce((s, ms) => s + ms, 0);
  const overhead = wallMs - gates;
  const patches = report.requestsByKind.filter((r) => r.verb === 'patch').reduce((s, r) => s + r.count, 0);
  const snapshot = report.ports['cluster.readSnapshot'];
  return {
    workloads: o.workloads,
    namespaces: o.namespaces,
    pods: o.workloads * o.replicas,
    nodes,
    maxConcurrentRollouts: o.maxConcurrentRollouts,
    outcome: report.outcome,
    wallMs,
    gatesMs: gates,
    rolloutGatesMs: rollouts,
    pkiAndClockGatesMs: gates - rollouts,
    engineOverheadMs: overhead,
    engineOverheadPct: Math.round((overhead / wallMs) * 1000) / 10,
    runnerCpuMs: report.cpuMs,
    runnerCpuPct: Math.round((report.cpuMs / wallMs) * 1000) / 10,
    apiRequests: report.apiRequests,
    apiRequestsPerWorkload: Math.round((report.apiRequests / o.workloads) * 100) / 100,
    workloadPatches: patches,
    rolls: report.rolls,
    steps: report.steps,
    snapshots: snapshot?.calls ?? 0,
    snapshotMeanMs: snapshot ? round1(snapshot.ms / snapshot.calls) : undefined,
    snapshotMaxMs: snapshot?.maxMs !== undefined ? round1(snapshot.maxMs) : undefined,
    peakRssMiB: Math.round((report.peakRssBytes / 1048576) * 10) / 10,
    endRssMiB: Math.round((report.memory.rss / 1048576) * 10) / 10,
    endHeapUsedMiB: Math.round((report.memory.heapUsed / 1048576) * 10) / 10,
    gates: report.gates,
    ports: Object.fromEntries(Object.entries(report.ports).filter(([k]) => k !== 'waiter.waitFor').map(([k, v]) => [k, { calls: v.calls, ms: Math.round(v.ms), ...(v.maxMs !== undefined ? { maxMs: round1(v.maxMs) } : {}) }])),
    requestsByKind: report.requestsByKind,
  };
}

/**
 * One rotation with `strategy`, run as the CronJob runs it (a run parked on the long gate is resumed
 * at its resumeAt); counts the pods it created per plane while it ran.
 */
async function rotateWith(
  strategy: Strategy,
  opts: { o: Options; nodes: number; cluster: Cluster; runnerJs: string; env: NodeJS.ProcessEnv; dataPlaneNamespaces: string[]; label: string; logSuffix?: string; restartConcurrency?: number },
) {
  const { o, cluster, label } = opts;
  const concurrency = opts.restartConcurrency === undefined ? [] : ['--restart-concurrency', String(opts.restartConcurrency)];
  say(`rotating with strategy ${strategy} (--max-concurrent-rollouts ${o.maxConcurrentRollouts}${concurrency.length > 0 ? ` ${concurrency.join(' ')}` : ''})`);
  const common = ['--strategy', strategy, '--leaf-lifetime', LEAF_LIFETIME.runner, '--phase-timeout', '30m', '--max-concurrent-rollouts', String(o.maxConcurrentRollouts), ...concurrency];
  const startedAt = Date.now();
  const starts = watchPodStarts(cluster, startedAt);
  const outputs: string[] = [];
  const wallByRun: number[] = [];
  const reports = await rotateToDone<RotateReport>({
    run: async (args) => {
      const run = await runRunner(opts.runnerJs, ['rotate', ...common, ...args], opts.env, o.nodeFlags);
      outputs.push(run.stderr);
      wallByRun.push(run.wallMs);
      return run;
    },
    firstArgs: ['--force'],
    resumeArgs: [],
    onWaiting: (report) => void say(`  ${strategy}: the run ended waiting (${report.waitingFor ?? report.message}); resuming at ${report.resumeAt}`),
  });
  const elapsedMs = Date.now() - startedAt;
  await starts.stop();
  if (o.runnerLog) writeFileSync(`${o.runnerLog}.${strategy}${opts.restartConcurrency === undefined ? '' : `.${opts.restartConcurrency}`}${opts.logSuffix ?? ''}`, outputs.join(''));
  const dataPlaneNamespaces = new Set(opts.dataPlaneNamespaces);
  const dataPlanePodsCreated = starts.count({ namespaces: dataPlaneNamespaces, inside: true });
  const runs = reports.map((report, i) => summarize(o, opts.nodes, report, wallByRun[i]!));
  const result = {
    strategy: label,
    ...(opts.restartConcurrency !== undefined ? { restartConcurrency: opts.restartConcurrency } : {}),
    loadAverageAfter: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    // A rollout replaces every pod of a workload once: pods created per meshed pod (not per workload,
    // which read 6.0 for three rollouts of 2-replica Deployments).
    forcedRestartsPerPod: Math.round((dataPlanePodsCreated / (o.workloads * o.replicas)) * 100) / 100,
    dataPlanePodsCreated,
    controlPlanePodsCreated: starts.count({ namespaces: dataPlaneNamespaces, inside: false }),
    runnerRuns: reports.map((r) => r.outcome),
    elapsedMs,
    runnerWallMs: runs.reduce((sum, r) => sum + r.wallMs, 0),
    apiRequests: runs.reduce((sum, r) => sum + r.apiRequests, 0),
    apiRequestsPerWorkload: round1(runs.reduce((sum, r) => sum + r.apiRequests, 0) / o.workloads),
    peakRssMiB: Math.max(...runs.map((r) => r.peakRssMiB)),
    snapshotMeanMs: round1(runs.reduce((s, r) => s + (r.snapshotMeanMs ?? 0) * r.snapshots, 0) / Math.max(1, runs.reduce((s, r) => s + r.snapshots, 0))),
    snapshotMaxMs: Math.max(...runs.map((r) => r.snapshotMaxMs ?? 0)),
    runs,
  };
  say(
    `${label}: ${result.forcedRestartsPerPod} forced restarts per meshed pod (${dataPlanePodsCreated} data-plane, ${result.controlPlanePodsCreated} control-plane pods created); ` +
      `runs ${result.runnerRuns.join(', ')}; ${seconds(elapsedMs)} elapsed, ${seconds(result.runnerWallMs)} in the runner; ${result.apiRequests} API requests; ` +
      runs.map((r) => `engine overhead ${seconds(r.engineOverheadMs)} = ${r.engineOverheadPct}%, peak RSS ${r.peakRssMiB} MiB`).join('; '),
  );
  return result;
}

async function main(o: Options): Promise<void> {
  const name = `bench-rot-${process.pid}`;
  const dir = path.join(repoRoot, 'tmp', name);
  mkdirSync(dir, { recursive: true });
  const nodes = nodesFor(o);
  if (o.compareRunner !== undefined && !existsSync(o.compareRunner)) {
    throw new Error(`--compare-runner: expected a runner bundle at ${o.compareRunner}, found none; build one with node scripts/bundle-app.mjs rotation-runner ${o.compareRunner}`);
  }
  const runnerJs = await bundleRunner(path.join(dir, 'main.mjs'));
  say(`starting a local cluster with ${nodes} kwok nodes`);
  // Kubernetes' default controller-manager QPS (20) creates about 2.5 pods a second: hours at 5,000.
  const cluster = await startCluster({ name, nodes, controlPlaneQps: 200 });
  const results: Record<string, unknown> = { machine: machine(), nodeFlags: o.nodeFlags, workloads: o.workloads, namespaces: o.namespaces, replicas: o.replicas, pods: o.workloads * o.replicas };
  try {
    const { env, dataPlaneNamespaces } = await setUp(cluster, o, runnerJs);
    const strategies: Record<string, StrategyResult> = {};
    results['strategies'] = strategies;
    for (const strategy of o.strategies) {
      const variants = strategy === 'restart' && o.restartConcurrency ? o.restartConcurrency : [undefined];
      for (const restartConcurrency of variants) {
        const label = restartConcurrency === undefined ? strategy : `${strategy} (--restart-concurrency ${restartConcurrency})`;
        const concurrency = restartConcurrency !== undefined ? { restartConcurrency } : {};
        if (strategy === 'restart' && o.compareRunner) {
          // The other build first; to rule out the order, run again with the two builds swapped (docs/scale.md did both).
          const other = `${label} [${path.basename(path.dirname(path.resolve(o.compareRunner)))}/${path.basename(o.compareRunner)}]`;
          strategies[other] = await rotateWith(strategy, { o, nodes, cluster, runnerJs: path.resolve(o.compareRunner), env, dataPlaneNamespaces, label: other, logSuffix: '.compare', ...concurrency });
        }
        strategies[label] = await rotateWith(strategy, { o, nodes, cluster, runnerJs, env, dataPlaneNamespaces, label, ...concurrency });
      }
    }
    process.stderr.write(table(Object.values(strategies)));
    const perPod = Object.entries(strategies).map(([label, r]) => `${label} ${r.forcedRestartsPerPod.toFixed(1)}`).join(', ');
    say(`forced data-plane restarts per meshed pod per rotation: ${perPod}`);
    if (o.baseline) {
      const published = { afterAnchor: 120_000, afterIssuer: 120_000, afterControlPlane: 20_000, perNamespace: 10_000, beforeRetire: 120_000 };
      const scaled = Object.fromEntries(Object.entries(published).map(([k, v]) => [k, Math.round(v * o.sleepScale)])) as typeof published;
      const sleepsRaw = published.afterAnchor + published.afterIssuer + published.afterControlPlane + published.beforeRetire + published.perNamespace * dataPlaneNamespaces.length;
      // The recipe is written for Linkerd's docs PKI: the identity ClusterIssuer signs with the anchor
      // cert-manager renews, and the bundle holds that anchor and a hand-kept "previous" one.
      await cluster.kubectl(['patch', 'clusterissuer', objectNames.identityClusterIssuer, '--type=merge', '-p', JSON.stringify({ spec: { ca: { secretName: objectNames.preparedAnchorSecret } } })]);
      // The recipe runs where no rotator is installed: the chart's admission guards (only the runner
      // may write the anchor Secrets) would deny its hand-written "previous" anchor.
      await cluster.kubectl(['delete', 'validatingadmissionpolicybinding', '-l', `app.kubernetes.io/instance=${release.name}`]);
      // The API server drops a deleted binding from its admission cache a moment later: wait until a
      // (dry-run) write of an anchor Secret is admitted.
      await waitFor(
        async () =>
          (await cluster.kubectl(['-n', objectNames.trustNamespace, 'label', 'secret', objectNames.activeAnchorSecret, '--overwrite', 'bench/recipe=1', '--dry-run=server'], { allowFailure: true })).code === 0,
        { what: 'the admission guards to stop applying', timeoutMs: 60_000 },
      );
      say(`baseline: the common shell recipe, sleeps scaled by ${o.sleepScale}`);
      const started = Date.now();
      await runCommonRecipe(cluster, { sleepsMs: scaled, dataPlaneNamespaces, log: (m) => say(`  ${m}`) });
      const measured = Date.now() - started;
      const projected = measured + Math.round(sleepsRaw * (1 - o.sleepScale));
      results['baseline'] = { sleepScale: o.sleepScale, measuredMs: measured, fixedSleepsMs: sleepsRaw, projectedUnscaledMs: projected, namespaces: dataPlaneNamespaces.length };
      say(`baseline: ${seconds(measured)} with sleeps x${o.sleepScale}; ${seconds(projected)} with the published sleeps (${seconds(sleepsRaw)} of them)`);
    }
    if (o.exporter) {
      say('exporter: scrape time, series and RSS on the same cluster');
      const exporter = await benchExporter(cluster, { scrapes: 50, log: say });
      results['exporter'] = exporter;
      process.stderr.write(exporterTable(exporter));
    }
  } catch (err) {
    // What was measured before the failure is still printed.
    results['error'] = (err as Error).message;
    throw err;
  } finally {
    if (o.keep) say(`cluster ${name} kept: export KUBECONFIG=${cluster.kubeconfigPath}`);
    else await stopCluster(name);
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
    const text = JSON.stringify(results, null, 2);
    if (o.json) writeFileSync(o.json, text);
    process.stdout.write(`${text}\n`);
  }
}

type StrategyResult = Awaited<ReturnType<typeof rotateWith>>;

/** The per-strategy figures as a Markdown table (the README's form). */
function table(results: StrategyResult[]): string {
  const head = ['strategy', 'pods', 'forced restarts / pod', 'elapsed', 'in the runner', 'engine overhead', 'API requests (/ workload)', 'snapshot mean / max', 'peak RSS'];
  const rows = results.map((r) => {
    const run = r.runs[0]!;
    const overhead = r.runs.map((x) => `${seconds(x.engineOverheadMs)} (${x.engineOverheadPct}%)`).join(', ');
    return [r.strategy, String(run.pods), r.forcedRestartsPerPod.toFixed(2), seconds(r.elapsedMs), seconds(r.runnerWallMs), overhead, `${r.apiRequests} (${r.apiRequestsPerWorkload})`, `${r.snapshotMeanMs} / ${r.snapshotMaxMs} ms`, `${r.peakRssMiB} MiB`];
  });
  return [head, head.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n') + '\n';
}

function machine(): object {
  const cpus = readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm)?.length ?? 0;
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  return { cpus, node: process.version, loadAverageAtEnd: load };
}

function parseCounts(list: string): number[] {
  return list.split(',').map((v) => {
    const n = Number(v.trim());
    if (!Number.isInteger(n) || n < 1) throw new Error(`--restart-concurrency: expected whole numbers of at least 1, found "${v}"`);
    return n;
  });
}

function parseStrategy(s: string): Strategy {
  if (!(STRATEGIES as readonly string[]).includes(s)) throw new Error(`unknown strategy ${s}: one of ${STRATEGIES.join(', ')}`);
  return s as Strategy;
}

const program = new Command('bench:rotation')
  .description('time a full anchor rotation per strategy (restart, cross-signed) on the local cluster, and optionally the common shell recipe')
  .requiredOption('--workloads <n>', 'meshed Deployments (1 replica each)', (v) => Number(v))
  .requiredOption('--namespaces <m>', 'namespaces they are spread over', (v) => Number(v))
  .option('--replicas <r>', 'pods per Deployment (meshed pods = workloads x replicas)', (v) => Number(v), 1)
  .option('--strategies <list>', 'strategies to run, in order (comma-separated)', (v) => v.split(',').map((s) => parseStrategy(s.trim())), [...STRATEGIES])
  .option('--max-concurrent-rollouts <k>', 'the runner\'s --max-concurrent-rollouts', (v) => Number(v), 20)
  .option('--restart-concurrency <list>', "the runner's --restart-concurrency (default: the runner's); a comma-separated list runs strategy restart once per value, in order, on the same cluster", parseCounts)
  .option('--nodes <n>', 'kwok nodes (default: enough for the pods)', (v) => Number(v))
  .option('--baseline', 'then run the common shell recipe on the same cluster')
  .option('--exporter', 'then measure the exporter on the same cluster (scrape time, series, RSS)')
  .option('--sleep-scale <f>', 'factor on the recipe\'s fixed sleeps (1 = as published)', (v) => Number(v), 1)
  .option('--keep', 'keep the cluster afterwards')
  .option('--json <file>', 'also write the results to this file')
  .option('--runner-log <file>', "keep the runner's JSON log of each strategy in <file>.<strategy>")
  .option('--node-flags <flags>', "Node flags for the runner process (default: the image's)", IMAGE_NODE_FLAGS)
  .option('--compare-runner <bundle>', 'another runner build (node scripts/bundle-app.mjs rotation-runner <bundle>, e.g. at an earlier commit): strategy restart also runs with it, first, on the same cluster')
  .action(async (opts: Options) => {
    await main({ ...opts, baseline: opts.baseline ?? false, exporter: opts.exporter ?? false, keep: opts.keep ?? false });
  });

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
