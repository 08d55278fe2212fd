// Local-cluster integration tier: each spec file starts its own cluster (e2e/support/cluster.ts),
// globalSetup only builds (or reuses) the Go binaries. Run by `npm test` after the unit tier.
import { jestConfig } from '../jest.preset.js';

export default jestConfig('integration', {
  rootDir: '.',
  testMatch: ['<rootDir>/integration/**/*.spec.ts'],
  globalSetup: '<rootDir>/support/global-setup.mjs',
  testTimeout: 300_000,
  maxWorkers: 1,
  // @kubernetes/client-node keeps watch and keep-alive sockets that outlive informer.stop(); the
  // clusters themselves are stopped in each file's afterAll, so nothing is lost by exiting.
  forceExit: true,
});
