// Live mTLS traffic for the local-cluster specs that rotate under load: Linkerd's stand-ins (1-minute
// leaves, so proxies renew during a rotation), meshed workloads, one simulated proxy per pod, handshakes.
// One cluster (useMeshedTraffic) or a fleet of several (useFleetMeshedTraffic): each cluster has its
// own Linkerd, identity and plane; the planes share one ProxyNetwork, and one driver picks pairs
// across all of them, so handshakes are in-cluster and cross-cluster.
import { waitFor, type Cluster } from '../cluster/src/index.js';
import { installLinkerd } from '../cluster/src/linkerd/install.js';
import { DataPlane, describeTraffic, ProxyNetwork, TrafficDriver } from './dataplane.js';
import { createMeshedWorkloads, type MeshedWorkload, type MeshSpec } from './mesh.js';

export interface MeshedTraffic {
  workloads: MeshedWorkload[];
  plane: DataPlane;
  traffic: TrafficDriver;
}

/** One cluster of a fleet's mesh: its workloads and its plane (whose proxies carry `cluster`). */
export interface MeshedCluster {
  cluster: Cluster;
  workloads: MeshedWorkload[];
  plane: DataPlane;
}

export interface FleetMeshedTraffic<N extends string> {
  clusters: Record<N, MeshedCluster>;
  traffic: TrafficDriver;
}

export interface MeshedTrafficOptions {
  /** Names the summary line written to stderr at the end. */
  label: string;
  /** Per cluster; in a fleet, each cluster's namespaces and workloads are prefixed with its name. */
  mesh: MeshSpec;
  /** Handshakes made at once. */
  concurrency: number;
  /** Handshakes to see before any test starts, and what they come before (for the wait's message). */
  warmup: { handshakes: number; before: string };
  /** Linkerd's issuanceLifetime, the proxies' leaf lifetime (1m0s by default). */
  leafLifetime?: string;
}

/** Linkerd, its mesh and a plane in one cluster, its proxies judging in `network`. */
async function meshCluster(cluster: Cluster, opts: { mesh: MeshSpec; network: ProxyNetwork; name?: string; leafLifetime?: string }): Promise<MeshedCluster> {
  const linkerd = await installLinkerd(cluster, { issuanceLifetime: opts.leafLifetime ?? '1m0s' });
  const workloads = await createMeshedWorkloads(cluster, opts.mesh);
  const plane = new DataPlane(cluster.kubeConfig(), linkerd.identityAddr, { network: opts.network, ...(opts.name === undefined ? {} : { cluster: opts.name }) });
  await plane.start();
  return { cluster, workloads, plane };
}

/**
 * In beforeAll (after the hooks registered before it: the clusters, the chart), meshes every cluster
 * (in parallel), waits for a proxy with a leaf per workload, starts one driver over all planes and
 * waits for the warm-up; in afterAll stops it and writes how many handshakes failed (by route).
 */
function useTraffic(clusters: () => Array<{ name?: string; cluster: Cluster }>, opts: MeshedTrafficOptions): () => { meshed: MeshedCluster[]; traffic: TrafficDriver } {
  let meshed: MeshedCluster[] = [];
  let traffic: TrafficDriver | undefined;
  let current: { meshed: MeshedCluster[]; traffic: TrafficDriver } | undefined;
  const network = new ProxyNetwork();
  beforeAll(async () => {
    const members = clusters();
    meshed = await Promise.all(
      members.map(({ name, cluster }) =>
        meshCluster(cluster, { network, mesh: name === undefined ? opts.mesh : { ...opts.mesh, prefix: name }, ...(name === undefined ? {} : { name }), ...(opts.leafLifetime ? { leafLifetime: opts.leafLifetime } : {}) }),
      ),
    );
    const planes = meshed.map((m) => m.plane);
    const expected = meshed.reduce((n, m) => n + m.workloads.length, 0);
    const ready = () => planes.reduce((n, p) => n + p.ready().length, 0);
    await waitFor(() => ready() === expected, { what: `${expected} simulated proxies with leaves`, timeoutMs: 180_000, diagnose: () => planes.map((p) => p.describeReadiness()).join('\n') });
    traffic = new TrafficDriver(planes, { concurrency: opts.concurrency });
    traffic.start();
    const driver = traffic;
    await waitFor(() => driver.handshakes >= opts.warmup.handshakes, { what: `${opts.warmup.handshakes} handshakes before ${opts.warmup.before}`, timeoutMs: 120_000 });
    current = { meshed, traffic };
  }, 900_000);
  afterAll(async () => {
    const result = await traffic?.stop();
    for (const { plane } of meshed) await plane.stop();
    await network.close();
    if (result) process.stderr.write(`${describeTraffic(opts.label, result)}\n`);
  });
  return () => {
    if (!current) throw new Error('expected meshed traffic started by beforeAll, found none; see the first error of this spec file');
    return current;
  };
}

/** Meshed traffic in one cluster (see useTraffic). */
export function useMeshedTraffic(testCluster: () => Cluster, opts: MeshedTrafficOptions): () => MeshedTraffic {
  const traffic = useTraffic(() => [{ cluster: testCluster() }], opts);
  return () => {
    const { meshed, traffic: driver } = traffic();
    return { workloads: meshed[0]!.workloads, plane: meshed[0]!.plane, traffic: driver };
  };
}

/** Meshed traffic across a fleet, by cluster name (see useTraffic): in-cluster and cross-cluster handshakes. */
export function useFleetMeshedTraffic<N extends string>(clusters: () => Record<N, Cluster>, opts: MeshedTrafficOptions): () => FleetMeshedTraffic<N> {
  const traffic = useTraffic(() => Object.entries<Cluster>(clusters()).map(([name, cluster]) => ({ name, cluster })), opts);
  return () => {
    const { meshed, traffic: driver } = traffic();
    return { clusters: Object.fromEntries(meshed.map((m) => [m.plane.cluster!, m])) as Record<N, MeshedCluster>, traffic: driver };
  };
}
