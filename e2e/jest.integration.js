// Local-cluster integration tier: each spec file starts its own cluster (e2e/support/cluster.ts),
// globalSetup only builds (or reuses) the Go binaries. Run by `npm test` after the unit tier.
import { jestConfig } from '../jest.preset.js';

export default jestConfig('integration', {
  rootDir: '.',
  testMatch: ['<rootDir>/integration/**/*.spec.ts'],
  globalSetup: '<rootDir>/support/global-setup.mjs',
  testTimeout: 300_000,
  // Two files at once: most of a spec's time is waiting on leaf lifetimes, deadlines and rollouts,
  // not CPU. Each file has its own cluster (named after the file and the worker's pid), ports from
  // freePorts (below the ephemeral range, picked at random) and mkdtemp directories.
  maxWorkers: 2,
  // @kubernetes/client-node keeps watch and keep-alive sockets that outlive informer.stop(); the
  // clusters themselves are stopped in each file's afterAll, so nothing is lost by exiting.
  forceExit: true,
});
