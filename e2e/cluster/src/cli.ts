// `npm run cluster -- build|up|down|status`: the local cluster for development and tests.
import { Command } from 'commander';
import { buildClusterBinaries, buildLinkerdStandins } from './build.js';
import { loadClusterState, startCluster, stopCluster } from './cluster.js';
import { isAlive } from './process.js';

const program = new Command('cluster').description('Local Kubernetes + cert-manager + trust-manager + Linkerd stand-ins, built from Go modules');
const stamp = () => new Date().toISOString().slice(11, 19);
const say = (m: string) => console.log(`[${stamp()}] ${m}`);

program
  .command('build')
  .description('build (or reuse from cache) every binary the cluster needs')
  .action(async () => {
    await buildClusterBinaries();
    const standin = await buildLinkerdStandins();
    say(`linkerd stand-ins: ${standin}`);
  });

program
  .command('up')
  .description('start a cluster and print its KUBECONFIG')
  .option('--name <name>', 'cluster name (several can run at once)', 'default')
  .option('--nodes <n>', 'number of kwok nodes', '3')
  .option('--no-build', 'fail instead of building missing binaries')
  .action(async (opts: { name: string; nodes: string; build: boolean }) => {
    if (opts.build) await buildClusterBinaries((l) => (l.trim() ? say(l) : undefined));
    const cluster = await startCluster({ name: opts.name, nodes: Number(opts.nodes), log: say });
    console.log(`\nKUBECONFIG: ${cluster.kubeconfigPath}\nexport KUBECONFIG=${cluster.kubeconfigPath}`);
    console.log(`Logs: ${cluster.state.dir}/logs/. Stop with: npm run cluster -- down${opts.name === 'default' ? '' : ` --name ${opts.name}`}`);
  });

program
  .command('down')
  .description('stop every process the cluster started and remove its state')
  .option('--name <name>', 'cluster name', 'default')
  .action(async (opts: { name: string }) => {
    const stopped = await stopCluster(opts.name);
    say(stopped.length ? `stopped ${stopped.join(', ')}` : `no running processes for cluster "${opts.name}"`);
  });

program
  .command('status')
  .description('show the processes of a cluster and whether they run')
  .option('--name <name>', 'cluster name', 'default')
  .action((opts: { name: string }) => {
    const state = loadClusterState(opts.name);
    if (!state) {
      console.log(`no cluster named "${opts.name}"`);
      process.exitCode = 1;
      return;
    }
    console.log(`cluster ${state.name} (started ${state.startedAt})\nexport KUBECONFIG=${state.kubeconfig}`);
    for (const p of state.processes) console.log(`  ${p.name.padEnd(26)} pid ${String(p.pid).padEnd(8)} ${isAlive(p.pid) ? 'running' : 'STOPPED'}  ${p.log}`);
    if (state.processes.some((p) => !isAlive(p.pid))) process.exitCode = 1;
  });

program.parseAsync().catch((err: unknown) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
