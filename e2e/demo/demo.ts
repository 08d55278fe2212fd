// `npm run demo`: the product end to end on a fresh machine. Builds (or reuses) the local cluster,
// installs this chart on real cert-manager and trust-manager, Linkerd's control plane, meshed demo
// workloads with live mTLS traffic between simulated proxies, runs a full trust-anchor rotation as
// the chart's CronJob would, prints a report (or, with --output json, its figures as JSON on stdout),
// and tears everything down (unless --keep).
import { Command } from 'commander';
import { X509Certificate } from 'node:crypto';
import { sha256Hex, shortFingerprint } from '@linkerd-rotator/x509';
import { buildClusterBinaries, buildLinkerdStandins, startCluster, stopCluster, waitFor } from '../cluster/src/index.js';
import { installLinkerd } from '../cluster/src/linkerd/install.js';
import { certificatePems, fingerprintsOf } from '../support/certs.js';
import { installRotator, runRunnerAsChart } from '../support/chart.js';
import { DataPlane, TrafficDriver } from '../support/dataplane.js';
import { createMeshedWorkloads } from '../support/mesh.js';
import { anchorPem, secretData, trustRootsPem } from '../support/objects.js';
import { objectNames as names, release } from '../support/release.js';
import { rotateToDone } from '../support/rotate-to-done.js';
import { watchPhases, watchPodStarts } from '../support/rotation-watch.js';

const program = new Command('demo')
  .description('zero-downtime Linkerd trust-anchor rotation on a local cluster, under live mTLS traffic')
  .option('--keep', 'leave the cluster running afterwards and print its KUBECONFIG')
  .option('--namespaces <n>', 'meshed namespaces', '4')
  .option('--workloads <n>', 'meshed Deployments per namespace', '5')
  .option('--name <name>', 'cluster name', 'demo')
  .option('--strategy <strategy>', "rotation strategy passed to the runner (cross-signed or restart; default: the runner's own)")
  .option('--output <format>', 'text (the report) or json (the figures on stdout, progress on stderr)', 'text');

const t0 = Date.now();
const stamp = () => `${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s`;
/** Progress goes to stdout, or to stderr when stdout carries the JSON figures. */
let progress: NodeJS.WriteStream = process.stdout;
const say = (m: string) => progress.write(`[${stamp()}] ${m}\n`);
const step = (m: string) => progress.write(`\n[${stamp()}] == ${m}\n`);

interface AnchorFacts {
  fingerprint: string;
  subject: string;
  notAfter: string;
}

function anchorFacts(pem: string): AnchorFacts {
  const c = new X509Certificate(pem);
  return { fingerprint: shortFingerprint(sha256Hex(c.raw)), subject: c.subject.replace(/\n/g, ', '), notAfter: new Date(c.validTo).toISOString() };
}

/** The demo's figures, as `--output json` prints them. */
export interface DemoFigures {
  strategy: string;
  handshakes: number;
  failed: number;
  disagreements: number;
  dataPlaneRestarts: number;
  controlPlaneRestarts: number;
  wallSeconds: number;
}

/** Linkerd's leaf lifetime in the demo, and the runner's --leaf-lifetime: cross-signed's long wait is one of these. */
const LEAF_LIFETIME = { linkerd: '1m0s', runner: '1m' } as const;

async function main(opts: { keep?: boolean; namespaces: string; workloads: string; name: string; strategy?: string; output: string }): Promise<void> {
  if (opts.output !== 'text' && opts.output !== 'json') throw new Error(`expected --output text or json, found "${opts.output}"`);
  if (opts.output === 'json') progress = process.stderr;
  step('building (or reusing) the local cluster binaries: Kubernetes, etcd, kwok, cert-manager, trust-manager, helm, Linkerd stand-ins');
  await buildClusterBinaries((l) => (l.includes('cached') || l.includes('built') || l.includes('building') ? say(l.trim()) : undefined));
  await buildLinkerdStandins(() => undefined);

  step(`starting cluster "${opts.name}"`);
  await stopCluster(opts.name);
  const cluster = await startCluster({ name: opts.name, log: say });
  let plane: DataPlane | undefined;
  let traffic: TrafficDriver | undefined;
  try {
    step('installing linkerd-rotator with helm (PKI on cert-manager, bundle on trust-manager, webhook, CronJob) and bootstrapping');
    const rotator = await installRotator(cluster);
    say(`anchor bootstrapped: ${anchorFacts(rotator.anchorPem).fingerprint}`);

    step('installing Linkerd (identity and proxy-injector as pod-backed processes; leaves live 1 minute, so the wait for old leaves to expire is short)');
    const linkerd = await installLinkerd(cluster, { issuanceLifetime: LEAF_LIFETIME.linkerd, log: say });

    const ns = Number(opts.namespaces);
    const per = Number(opts.workloads);
    step(`creating ${ns * per} meshed workloads in ${ns} namespaces`);
    const workloads = await createMeshedWorkloads(cluster, { namespaces: ns, workloadsPerNamespace: per, prefix: 'demo' });
    plane = new DataPlane(cluster.kubeConfig(), linkerd.identityAddr);
    await plane.start();
    await waitFor(() => plane!.ready().length === workloads.length, { what: `${workloads.length} proxies with leaves from identity`, timeoutMs: 300_000 });
    traffic = new TrafficDriver(plane, { concurrency: 4 });
    traffic.start();
    await waitFor(() => traffic!.handshakes >= 100, { what: 'the first 100 mTLS handshakes', timeoutMs: 120_000 });
    say(`${workloads.length} simulated proxies serving mTLS; ${traffic.handshakes} handshakes so far, ${traffic.failures.length} failed`);

    const before = {
      active: anchorFacts(await anchorPem(cluster, names.trustNamespace, names.activeAnchorSecret)),
      issuer: anchorFacts((await secretData(cluster, names.linkerdNamespace, names.issuerSecret))['tls.crt']!),
    };

    step('rotating the trust anchor: `rotate --force`, run as the chart CronJob runs it (its args, env and ServiceAccount); a run that ends waiting is resumed at its resumeAt, as the next CronJob run would');
    const phases = watchPhases(cluster);
    const handshakesBefore = traffic.handshakes;
    const rotationStart = Date.now();
    const podStarts = watchPodStarts(cluster, rotationStart);
    const ticker = setInterval(() => say(`traffic: ${traffic!.handshakes - handshakesBefore} handshakes during the rotation, ${traffic!.failures.length} failed`), 15_000);
    const runnerArgs = ['--leaf-lifetime', LEAF_LIFETIME.runner, ...(opts.strategy ? ['--strategy', opts.strategy] : [])];
    const runs = await rotateToDone({
      run: (args) =>
        runRunnerAsChart(cluster, {
          kubeconfig: rotator.runnerKubeconfig,
          workload: 'rotate-cronjob',
          extraArgs: [...runnerArgs, ...args],
          timeoutMs: 1_800_000,
          env: { LOG_FORMAT: 'text' },
          onOutput: (chunk) => progress.write(chunk.replace(/^(?=.)/gm, '    runner | ')),
        }),
      firstArgs: ['--force'],
      resumeArgs: [],
      onWaiting: (report) => void say(`the run ended waiting: ${report.message}; the next run resumes at ${report.resumeAt} (the CronJob's next run, brought forward)`),
    }).finally(() => clearInterval(ticker));
    const rotationMs = Date.now() - rotationStart;
    await phases.stop();
    await podStarts.stop();
    const result = await traffic.stop();
    await plane.stop();
    plane = undefined;

    const after = {
      active: anchorFacts(await anchorPem(cluster, names.trustNamespace, names.activeAnchorSecret)),
      issuer: anchorFacts((await secretData(cluster, names.linkerdNamespace, names.issuerSecret))['tls.crt']!),
    };
    const issuerChain = certificatePems((await secretData(cluster, names.linkerdNamespace, names.issuerSecret))['tls.crt']!);
    const bundle = await trustRootsPem(cluster);
    const bundleAnchors = fingerprintsOf(bundle).map(shortFingerprint);
    const pods = JSON.parse((await cluster.kubectl(['get', 'pods', '-A', '-l', 'linkerd.io/control-plane-ns=linkerd', '-o', 'json'])).stdout) as {
      items: { metadata: { namespace: string; creationTimestamp: string; deletionTimestamp?: string } }[];
    };
    const live = pods.items.filter((p) => !p.metadata.deletionTimestamp);
    const startedDuring = live.filter((p) => new Date(p.metadata.creationTimestamp).getTime() >= Math.floor(rotationStart / 1000) * 1000);
    const dataPlaneNamespaces = new Set(workloads.map((w) => w.namespace));
    const state = JSON.parse((await cluster.kubectl(['get', 'configmap', '-n', release.namespace, names.stateConfigMap, '-o', 'jsonpath={.data.state\\.json}'])).stdout) as { last?: { strategy?: string } };
    const figures: DemoFigures = {
      strategy: state.last?.strategy ?? 'restart',
      handshakes: result.handshakes - handshakesBefore,
      failed: result.failures.length,
      disagreements: result.disagreements,
      dataPlaneRestarts: podStarts.count({ namespaces: dataPlaneNamespaces, inside: true }),
      controlPlaneRestarts: podStarts.count({ namespaces: dataPlaneNamespaces, inside: false }),
      wallSeconds: Math.round(rotationMs / 100) / 10,
    };
    if (opts.output === 'json') process.stdout.write(`${JSON.stringify(figures)}\n`);
    const report = (line: string) => progress.write(`${line}\n`);

    report('\n================ linkerd-rotator demo report ================');
    report(`trust anchor before  ${before.active.fingerprint}  ${before.active.subject}  expires ${before.active.notAfter}`);
    report(`trust anchor after   ${after.active.fingerprint}  ${after.active.subject}  expires ${after.active.notAfter}`);
    report(`identity issuer      ${before.issuer.fingerprint} -> ${after.issuer.fingerprint}  (expires ${after.issuer.notAfter})${issuerChain.length > 1 ? `, chain carries the cross-signature ${issuerChain.slice(1).map((pem) => anchorFacts(pem).fingerprint).join(', ')} (new anchor signed by the old)` : ''}`);
    report(`trust bundle now     {${bundleAnchors.join(', ')}}`);
    report(`strategy             ${figures.strategy} (requested ${opts.strategy ?? "the runner's default"})`);
    report(`runner runs          ${runs.map((r) => r.outcome).join(', ')}${runs.length > 1 ? ' (the first parked on a long gate, the next resumed it)' : ''}`);
    report(`meshed pods          ${live.length} live, ${startedDuring.length} of them started during the rotation (${workloads.length} workloads + Linkerd control plane)`);
    report(`pod restarts         ${figures.dataPlaneRestarts} data plane, ${figures.controlPlaneRestarts} Linkerd control plane and extensions (pods created during the rotation)`);
    report(`mTLS handshakes      ${result.handshakes - handshakesBefore} during the rotation, ${result.handshakes} in all, ${result.failures.length} failed, ${result.timeouts.length} timed out (no answer in 10 s), ${result.disagreements} webpki/node:tls disagreements`);
    report(`rotation wall time   ${(rotationMs / 1000).toFixed(1)} s`);
    for (let i = 0; i < phases.phases.length; i++) {
      const p = phases.phases[i]!;
      const end = phases.phases[i + 1]?.at ?? rotationStart + rotationMs;
      report(`  phase ${p.phase.padEnd(10)} ${((end - p.at) / 1000).toFixed(1).padStart(6)} s`);
    }
    report('=============================================================');
    if (result.disagreements > 0) throw new Error(`${result.disagreements} handshakes where webpki and node:tls disagreed`);
    if (result.failures.length > 0) {
      for (const f of result.failures.slice(0, 10)) report(`failure: ${f.client.namespace}/${f.client.pod} -> ${f.server.namespace}/${f.server.pod}: ${f.error}`);
      throw new Error(`${result.failures.length} mTLS handshakes failed during the rotation`);
    }
  } finally {
    await traffic?.stop();
    await plane?.stop();
    if (opts.keep) {
      progress.write(`\n--keep: cluster "${opts.name}" left running.\nexport KUBECONFIG=${cluster.kubeconfigPath}\nStop it with: npm run cluster -- down --name ${opts.name}\n`);
    } else {
      step('tearing down');
      await stopCluster(opts.name);
    }
  }
}

program.action(main);
program
  .parseAsync()
  .then(() => process.exit(0))
  .catch((err: unknown) => {
    console.error(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
