// jest globalSetup for the integration tier: build (or reuse) the binaries and start one local
// cluster for the whole run; tests attach to it by name and work in their own namespaces.
import { buildClusterBinaries, startCluster } from '../cluster/src/index.js';

export default async function globalSetup(): Promise<void> {
  const name = `jest-${process.pid}`;
  const t0 = Date.now();
  const say = (m: string) => process.stderr.write(`[cluster ${((Date.now() - t0) / 1000).toFixed(0)}s] ${m}\n`);
  await buildClusterBinaries((line) => (line.trim() ? say(line) : undefined));
  await startCluster({ name, log: say });
  process.env['LR_CLUSTER_NAME'] = name;
}
