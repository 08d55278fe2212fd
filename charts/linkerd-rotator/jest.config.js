// Chart tests: helm lint/template over the chart, values-schema checks, assertions on the rendered
// objects, kubeconform against Kubernetes 1.37 and CRD schemas, Dockerfile and release-workflow checks.
import { jestConfig } from '../../jest.preset.js';

export default jestConfig('chart', {
  globalSetup: '<rootDir>/test/support/global-setup.js',
  testTimeout: 120_000,
});
