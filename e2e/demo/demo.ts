// `npm run demo`: the product end to end on a fresh machine. Builds (or reuses) the local cluster,
// installs this chart on real cert-manager and trust-manager, Linkerd's control plane, meshed demo
// workloads with live mTLS traffic between simulated proxies, runs a full trust-anchor rotation as
// the chart's CronJob would, prints a report, and tears everything down (unless --keep).
import * as k8s from '@kubernetes/client-node';
import { Command } from 'commander';
import { X509Certificate } from 'node:crypto';
import { sha256Hex, shortFingerprint } from '@linkerd-rotator/x509';
import { buildClusterBinaries, buildLinkerdStandins, startCluster, stopCluster, waitFor, type Cluster } from '../cluster/src/index.js';
import { installLinkerd } from '../cluster/src/linkerd/install.js';
import { fingerprintsOf } from '../support/certs.js';
import { installRotator, runRunnerAsChart } from '../support/chart.js';
import { DataPlane, TrafficDriver } from '../support/dataplane.js';
import { createMeshedWorkloads } from '../support/mesh.js';
import { secretData, trustRootsPem } from '../support/objects.js';
import { objectNames as names, release } from '../support/release.js';

const program = new Command('demo')
  .description('zero-downtime Linkerd trust-anchor rotation on a local cluster, under live mTLS traffic')
  .option('--keep', 'leave the cluster running afterwards and print its KUBECONFIG')
  .option('--namespaces <n>', 'meshed namespaces', '4')
  .option('--workloads <n>', 'meshed Deployments per namespace', '5')
  .option('--name <name>', 'cluster name', 'demo');

const t0 = Date.now();
const stamp = () => `${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s`;
const say = (m: string) => console.log(`[${stamp()}] ${m}`);
const step = (m: string) => console.log(`\n[${stamp()}] == ${m}`);

interface AnchorFacts {
  fingerprint: string;
  subject: string;
  notAfter: string;
}

function anchorFacts(pem: string): AnchorFacts {
  const c = new X509Certificate(pem);
  return { fingerprint: shortFingerprint(sha256Hex(c.raw)), subject: c.subject.replace(/\n/g, ', '), notAfter: new Date(c.validTo).toISOString() };
}

/** Watches the runner's state ConfigMap and records when each phase was first seen. */
function watchPhases(cluster: Cluster): { phases: { phase: string; at: number }[]; stop: () => Promise<void> } {
  const kc = cluster.kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const phases: { phase: string; at: number }[] = [];
  const selector = `metadata.name=${names.stateConfigMap}`;
  const informer = k8s.makeInformer(kc, `/api/v1/namespaces/${release.namespace}/configmaps?fieldSelector=${encodeURIComponent(selector)}`, () =>
    core.listNamespacedConfigMap({ namespace: release.namespace, fieldSelector: selector }),
  );
  const seen = (cm: k8s.V1ConfigMap) => {
    const phase = cm.data?.['phase'];
    if (phase && phases[phases.length - 1]?.phase !== phase) phases.push({ phase, at: Date.now() });
  };
  informer.on('add', seen);
  informer.on('update', seen);
  void informer.start();
  return { phases, stop: () => informer.stop() };
}

async function main(opts: { keep?: boolean; namespaces: string; workloads: string; name: string }): Promise<void> {
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

    step('installing Linkerd (identity and proxy-injector as pod-backed processes; leaves live 2 minutes)');
    const linkerd = await installLinkerd(cluster, { issuanceLifetime: '2m0s', log: say });

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
      active: anchorFacts((await secretData(cluster, names.trustNamespace, names.activeAnchorSecret))['tls.crt']!),
      issuer: anchorFacts((await secretData(cluster, names.linkerdNamespace, names.issuerSecret))['tls.crt']!),
    };

    step('rotating the trust anchor: `rotate --force`, run as the chart CronJob runs it (its args, env and ServiceAccount)');
    const phases = watchPhases(cluster);
    const handshakesBefore = traffic.handshakes;
    const rotationStart = Date.now();
    const ticker = setInterval(() => say(`traffic: ${traffic!.handshakes - handshakesBefore} handshakes during the rotation, ${traffic!.failures.length} failed`), 15_000);
    const run = await runRunnerAsChart(cluster, {
      kubeconfig: rotator.runnerKubeconfig,
      workload: 'rotate-cronjob',
      extraArgs: ['--force'],
      timeoutMs: 1_800_000,
      env: { LOG_FORMAT: 'text' },
      onOutput: (chunk) => process.stdout.write(chunk.replace(/^(?=.)/gm, '    runner | ')),
    }).finally(() => clearInterval(ticker));
    const rotationMs = Date.now() - rotationStart;
    await phases.stop();
    const result = await traffic.stop();
    await plane.stop();
    plane = undefined;
    if (run.code !== 0) throw new Error(`the rotation exited ${run.code}; see the runner output above`);

    const after = {
      active: anchorFacts((await secretData(cluster, names.trustNamespace, names.activeAnchorSecret))['tls.crt']!),
      issuer: anchorFacts((await secretData(cluster, names.linkerdNamespace, names.issuerSecret))['tls.crt']!),
    };
    const bundle = await trustRootsPem(cluster);
    const bundleAnchors = fingerprintsOf(bundle).map(shortFingerprint);
    const pods = JSON.parse((await cluster.kubectl(['get', 'pods', '-A', '-l', 'linkerd.io/control-plane-ns=linkerd', '-o', 'json'])).stdout) as {
      items: { metadata: { creationTimestamp: string; deletionTimestamp?: string } }[];
    };
    const restarted = pods.items.filter((p) => !p.metadata.deletionTimestamp && new Date(p.metadata.creationTimestamp).getTime() >= Math.floor(rotationStart / 1000) * 1000).length;

    console.log('\n================ linkerd-rotator demo report ================');
    console.log(`trust anchor before  ${before.active.fingerprint}  ${before.active.subject}  expires ${before.active.notAfter}`);
    console.log(`trust anchor after   ${after.active.fingerprint}  ${after.active.subject}  expires ${after.active.notAfter}`);
    console.log(`identity issuer      ${before.issuer.fingerprint} -> ${after.issuer.fingerprint}  (expires ${after.issuer.notAfter})`);
    console.log(`trust bundle now     {${bundleAnchors.join(', ')}}`);
    console.log(`meshed pods          ${pods.items.filter((p) => !p.metadata.deletionTimestamp).length} live, ${restarted} started during the rotation (${workloads.length} workloads + Linkerd control plane)`);
    console.log(`mTLS handshakes      ${result.handshakes - handshakesBefore} during the rotation, ${result.handshakes} in all, ${result.failures.length} failed, ${result.timeouts.length} timed out (no answer in 10 s)`);
    console.log(`rotation wall time   ${(rotationMs / 1000).toFixed(1)} s`);
    for (let i = 0; i < phases.phases.length; i++) {
      const p = phases.phases[i]!;
      const end = phases.phases[i + 1]?.at ?? rotationStart + rotationMs;
      console.log(`  phase ${p.phase.padEnd(10)} ${((end - p.at) / 1000).toFixed(1).padStart(6)} s`);
    }
    console.log('=============================================================');
    if (result.failures.length > 0) {
      for (const f of result.failures.slice(0, 10)) console.log(`failure: ${f.client.namespace}/${f.client.pod} -> ${f.server.namespace}/${f.server.pod}: ${f.error}`);
      throw new Error(`${result.failures.length} mTLS handshakes failed during the rotation`);
    }
  } finally {
    await traffic?.stop();
    await plane?.stop();
    if (opts.keep) {
      console.log(`\n--keep: cluster "${opts.name}" left running.\nexport KUBECONFIG=${cluster.kubeconfigPath}\nStop it with: npm run cluster -- down --name ${opts.name}`);
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
