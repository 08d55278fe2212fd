// jest globalTeardown: stop every process of the run's cluster (set KEEP_CLUSTER=1 to keep it).
import { tsImport } from 'tsx/esm/api';

export default async function globalTeardown() {
  const name = process.env.LR_CLUSTER_NAME;
  if (!name) return;
  if (process.env.KEEP_CLUSTER === '1') {
    process.stderr.write(`KEEP_CLUSTER=1: cluster ${name} left running; stop it with npm run cluster -- down --name ${name}\n`);
    return;
  }
  const { stopCluster } = await tsImport('../cluster/src/index.ts', import.meta.url);
  await stopCluster(name);
}
