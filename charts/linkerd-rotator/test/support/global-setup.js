// jest globalSetup: builds (or finds in the per-machine cache) helm, kubeconform and hadolint and generates the
// kubeconform schemas once, so no single test pays for a first-run build. jest loads globalSetup
// outside its ESM transform, so the TypeScript helpers are imported through tsx.
import { tsImport } from 'tsx/esm/api';

export default async function globalSetup() {
  const tools = await tsImport('./tools.ts', import.meta.url);
  const schemas = await tsImport('./kube-schemas.ts', import.meta.url);
  tools.helmBinary();
  tools.kubeconformBinary();
  tools.hadolintBinary();
  schemas.ensureSchemas();
}
