// A fleet of two local clusters, east and west, for the specs of issue 17 (docs/multicluster.md
// "Proof"): the harness (both clusters, the chart in each, meshed traffic spanning both), the member's
// anchor Secrets as a fleet gives them to a member, one kubeconfig with a context per cluster, and the
// observations the fleet specs share (handshakes by route, a deploy after Retire, in-cluster failures).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { waitFor, type Cluster } from '../cluster/src/index.js';
import { certificatePems, fingerprintOf, fingerprintsOf } from './certs.js';
import { useClusters } from './cluster.js';
import { isCrossCluster } from './dataplane.js';
import { installLocalTestCluster, type LocalTestCluster } from './local-test-cluster.js';
import { useFleetMeshedTraffic, type FleetMeshedTraffic } from './meshed-traffic.js';
import { anchorPem, secretData } from './objects.js';
import { objectNames } from './release.js';

export type FleetMember = 'east' | 'west';
export const FLEET_MEMBERS = ['east', 'west'] as const;
export type FleetInstall = LocalTestCluster & { stop(): Promise<void> };
/** useFleet's leaves live one minute: the runner is told, so cross-signed's long gate is short. */
export const LEAF_LIFETIME = ['--leaf-lifetime', '1m'];
/** Handshakes each route (east -> west, ...) must show before a claim about it counts. */
export const PER_ROUTE = 100;

/** The short fingerprint the data plane reports roots and chains by (chain-judge.ts). */
export const short = (pem: string) => fingerprintOf(pem).slice(0, 16);

/**
 * One fleet of two local clusters with the chart and meshed traffic, for the enclosing describe.
 * `install` installs the chart in each (the control: the single-cluster chart in both; the fleet
 * rotation: a primary and a member, installFleetMember). `label` names the traffic summary line;
 * `leafLifetime` is Linkerd's issuanceLifetime in both (1m0s by default, LEAF_LIFETIME).
 */
export function useFleet(label: string, install: (clusters: Record<FleetMember, Cluster>) => Promise<Record<FleetMember, FleetInstall>>, opts: { leafLifetime?: string } = {}) {
  const clusters = useClusters(FLEET_MEMBERS);
  let members: Record<FleetMember, FleetInstall> | undefined;
  beforeAll(async () => {
    members = await install(clusters());
  }, 600_000);
  afterAll(async () => {
    for (const member of Object.values(members ?? {})) await member.stop();
  });
  const mesh = useFleetMeshedTraffic(clusters, {
    label,
    mesh: { namespaces: 2, workloadsPerNamespace: 2 },
    concurrency: 3,
    warmup: { handshakes: 200, before: 'the first rotation' },
    ...opts,
  });
  return {
    member: (name: FleetMember) => {
      if (!members) throw new Error('expected the chart installed in both clusters by beforeAll, found none; see the first error of this spec file');
      return members[name];
    },
    mesh,
  };
}

/** One anchor Secret of the trust namespace, `data` in clear (stringData), as a List item. */
export const anchorSecret = (name: string, type: string, data: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: objectNames.trustNamespace },
  type,
  stringData: data,
});

/** A List of objects for one `kubectl create|replace -f -`. */
export const list = (...items: unknown[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });

/**
 * The member's anchor Secrets as docs/multicluster.md's table has them while no rotation is under way:
 * prepared and previous the anchor's certificate only, active the anchor with its key, all written as
 * the member's runner ServiceAccount, the identity the fleet driver uses in a member (the chart's
 * member role lets it create and update the prepared Secret, without a key).
 */
export async function writeMemberAnchor(cluster: Cluster, runnerKubeconfig: string, anchor: { certPem: string; keyPem: string }, verb: 'create' | 'replace'): Promise<void> {
  await cluster.kubectl([`--kubeconfig=${runnerKubeconfig}`, verb, '-f', '-'], {
    input: list(
      anchorSecret(objectNames.preparedAnchorSecret, 'Opaque', { 'tls.crt': anchor.certPem, 'anchor.crt': anchor.certPem }),
      anchorSecret(objectNames.activeAnchorSecret, 'kubernetes.io/tls', { 'tls.crt': anchor.certPem, 'tls.key': anchor.keyPem, 'anchor.crt': anchor.certPem }),
      anchorSecret(objectNames.previousAnchorSecret, 'Opaque', { 'tls.crt': anchor.certPem }),
    ),
  });
}

/**
 * The chart in `cluster` as a fleet member (docs/multicluster.md "Adding a cluster to an existing
 * fleet"): `fleet.role=member`, no prepared Certificate, and the primary's current anchor copied in as
 * the member's runner ServiceAccount (writeMemberAnchor) where a single cluster's bootstrap would run.
 */
export function installFleetMember(cluster: Cluster, primary: LocalTestCluster, name: FleetMember): Promise<FleetInstall> {
  return installLocalTestCluster(cluster, ['--set', 'fleet.role=member', '--set', `fleet.clusterName=${name}`, '--set', 'pki.trustAnchor.enabled=false'], {
    bootstrap: async (runnerKubeconfig) => {
      const active = await secretData(primary, objectNames.trustNamespace, objectNames.activeAnchorSecret);
      await writeMemberAnchor(cluster, runnerKubeconfig, { certPem: primary.rotator.anchorPem, keyPem: active['tls.key']! }, 'create');
    },
  });
}

type KubeconfigFile = { clusters: Array<{ name: string; cluster: unknown }>; users: Array<{ name: string; user: unknown }> };

/** One kubeconfig (in `dir`) with a context per cluster, named by the keys of `files`, each with that file's first cluster and user. */
export function writeFleetKubeconfig(dir: string, files: Record<string, string>): string {
  const entries = Object.entries(files).map(([context, file]) => {
    const kc = parseYaml(readFileSync(file, 'utf8')) as KubeconfigFile;
    return { context, cluster: kc.clusters[0]!.cluster, user: kc.users[0]!.user };
  });
  const file = path.join(dir, 'fleet-kubeconfig');
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: entries.map((e) => ({ name: e.context, cluster: e.cluster })),
      users: entries.map((e) => ({ name: e.context, user: e.user })),
      contexts: entries.map((e) => ({ name: e.context, context: { cluster: e.context, user: e.context } })),
      'current-context': entries[0]!.context,
    }),
    { mode: 0o600 },
  );
  return file;
}

export const activeAnchor = (member: LocalTestCluster) => anchorPem(member, objectNames.trustNamespace, objectNames.activeAnchorSecret);
/** The identity issuer's chain as its Secret holds it (the issuer first; after a cross-signed promotion, X after it). */
export const issuerChain = async (member: LocalTestCluster) => certificatePems((await secretData(member, objectNames.linkerdNamespace, objectNames.issuerSecret))['tls.crt']!);

/** Handshakes by route so far (east -> east, east -> west, ...). */
export function handshakesByRoute(mesh: FleetMeshedTraffic<FleetMember>): Record<string, number> {
  return Object.fromEntries([...mesh.traffic.routes].map(([route, count]) => [route, count.handshakes]));
}

/** Waits until every route of the fleet has made `count` more handshakes than `since`. */
export async function everyRouteHandshakes(mesh: () => FleetMeshedTraffic<FleetMember>, since: Record<string, number>, count: number, what: string): Promise<void> {
  const routes = FLEET_MEMBERS.flatMap((client) => FLEET_MEMBERS.map((server) => `${client} -> ${server}`));
  await waitFor(() => routes.every((route) => (handshakesByRoute(mesh())[route] ?? 0) - (since[route] ?? 0) >= count), {
    what: `${count} handshakes on every route (${routes.join(', ')}) ${what}`,
    timeoutMs: 180_000,
    diagnose: () => `Handshakes by route: ${JSON.stringify(handshakesByRoute(mesh()))}`,
  });
}

/**
 * An ordinary deploy in `cluster` (rollout restart of its first workload), and its new pod's proxy
 * with a leaf: a pod that restarts after its cluster retired A. Returns that proxy's pod name.
 */
export async function deployAfterRetire(mesh: () => FleetMeshedTraffic<FleetMember>, cluster: FleetMember, roots: string[]): Promise<string> {
  const { cluster: kube, workloads, plane } = mesh().clusters[cluster];
  const workload = workloads[0]!;
  await kube.kubectl(['-n', workload.namespace, 'rollout', 'restart', `deployment/${workload.name}`]);
  await kube.kubectl(['-n', workload.namespace, 'rollout', 'status', `deployment/${workload.name}`, '--timeout=180s']);
  const want = JSON.stringify(roots.map(fingerprintOf));
  const proxy = await waitFor(
    () => plane.ready().find((p) => p.namespace === workload.namespace && p.pod.startsWith(`${workload.name}-`) && JSON.stringify(fingerprintsOf(p.roots.join(''))) === want),
    { what: `a proxy with a leaf for the restarted ${cluster}/${workload.namespace}/${workload.name}, trusting ${roots.length} anchor(s)`, timeoutMs: 180_000, diagnose: () => plane.describeReadiness() },
  );
  return proxy.pod;
}

/** No handshake between two proxies of one cluster failed (the records print when some did). */
export function expectInClusterClean(mesh: FleetMeshedTraffic<FleetMember>): void {
  expect(mesh.traffic.failures.filter((f) => !isCrossCluster(f))).toEqual([]);
  for (const member of FLEET_MEMBERS) expect(mesh.traffic.routes.get(`${member} -> ${member}`)?.failures ?? 0).toBe(0);
}
