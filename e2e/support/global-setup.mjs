// jest globalSetup for the integration tier: build (or reuse) the binaries and start one local
// cluster for the whole run; tests attach to it by name and work in their own namespaces.
// Plain JS loading the TypeScript cluster API through tsx: jest imports globalSetup natively.
import { tsImport } from 'tsx/esm/api';

export default async function globalSetup() {
  const { buildClusterBinaries, startCluster } = await tsImport('../cluster/src/index.ts', import.meta.url);
  const name = `jest-${process.pid}`;
  const t0 = Date.now();
  const say = (m) => process.stderr.write(`[cluster ${((Date.now() - t0) / 1000).toFixed(0)}s] ${m}\n`);
  await buildClusterBinaries((line) => (line.trim() ? say(line) : undefined));
  await startCluster({ name, log: say });
  process.env.LR_CLUSTER_NAME = name;
}
