// jest globalTeardown: stop every process of the run's cluster (set KEEP_CLUSTER=1 to keep it).
import { stopCluster } from '../cluster/src/index.js';

export default async function globalTeardown(): Promise<void> {
  const name = process.env['LR_CLUSTER_NAME'];
  if (!name) return;
  if (process.env['KEEP_CLUSTER'] === '1') {
    process.stderr.write(`KEEP_CLUSTER=1: cluster ${name} left running; stop it with npm run cluster -- down --name ${name}\n`);
    return;
  }
  await stopCluster(name);
}
