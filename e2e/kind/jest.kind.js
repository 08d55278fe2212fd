// kind tier: scenarios 1 and 5 of issue 6 on a kind cluster with upstream images (cert-manager,
// trust-manager, Linkerd edge, this chart built from apps/*/Dockerfile). Needs Docker and internet;
// without a Docker engine every test is skipped with a message. `npm run test:kind`, and the last
// step of `npm test` (where it normally skips). One cluster for the file, so one worker.
import { jestConfig } from '../../jest.preset.js';

export default jestConfig('kind', {
  rootDir: '.',
  testMatch: ['<rootDir>/*.spec.ts'],
  testTimeout: 600_000,
  // afterAll kills the kubectl log followers and deletes the cluster, so nothing outlives the file
  // (no forceExit: a leaked handle should show, not be papered over).
  maxWorkers: 1,
});
