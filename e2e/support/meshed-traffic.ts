// Live mTLS traffic for the local-cluster specs that rotate under load: Linkerd's stand-ins (1-minute
// leaves, so proxies renew during a rotation), meshed workloads, one simulated proxy per pod, handshakes.
import { waitFor, type Cluster } from '../cluster/src/index.js';
import { installLinkerd } from '../cluster/src/linkerd/install.js';
import { DataPlane, describeTraffic, TrafficDriver } from './dataplane.js';
import { createMeshedWorkloads, type MeshedWorkload, type MeshSpec } from './mesh.js';

export interface MeshedTraffic {
  workloads: MeshedWorkload[];
  plane: DataPlane;
  traffic: TrafficDriver;
}

export interface MeshedTrafficOptions {
  /** Names the summary line written to stderr at the end. */
  label: string;
  mesh: MeshSpec;
  /** Handshakes made at once. */
  concurrency: number;
  /** Handshakes to see before any test starts, and what they come before (for the wait's message). */
  warmup: { handshakes: number; before: string };
}

/**
 * In beforeAll (after the hooks registered before it: the cluster, the chart), installs Linkerd and
 * the mesh and starts the traffic; in afterAll stops it and writes how many handshakes failed.
 */
export function useMeshedTraffic(testCluster: () => Cluster, opts: MeshedTrafficOptions): () => MeshedTraffic {
  let current: MeshedTraffic | undefined;
  let plane: DataPlane | undefined;
  let traffic: TrafficDriver | undefined;
  beforeAll(async () => {
    const cluster = testCluster();
    const linkerd = await installLinkerd(cluster, { issuanceLifetime: '1m0s' });
    const workloads = await createMeshedWorkloads(cluster, opts.mesh);
    plane = new DataPlane(cluster.kubeConfig(), linkerd.identityAddr);
    await plane.start();
    const started = plane;
    await waitFor(() => started.ready().length === workloads.length, { what: `${workloads.length} simulated proxies with leaves`, timeoutMs: 180_000, diagnose: () => started.describeReadiness() });
    traffic = new TrafficDriver(plane, { concurrency: opts.concurrency });
    traffic.start();
    const driver = traffic;
    await waitFor(() => driver.handshakes >= opts.warmup.handshakes, { what: `${opts.warmup.handshakes} handshakes before ${opts.warmup.before}`, timeoutMs: 120_000 });
    current = { workloads, plane, traffic };
  }, 900_000);
  afterAll(async () => {
    const result = await traffic?.stop();
    await plane?.stop();
    if (result) process.stderr.write(`${describeTraffic(opts.label, result)}\n`);
  });
  return () => {
    if (!current) throw new Error('expected meshed traffic started by beforeAll, found none; see the first error of this spec file');
    return current;
  };
}
