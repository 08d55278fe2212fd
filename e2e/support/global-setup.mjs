// jest globalSetup for the integration tier: build (or reuse from the per-machine cache) every
// binary the local clusters need, once per run. Each spec file then starts its own cluster.
// Plain JS loading the TypeScript API through tsx: jest imports globalSetup natively.
import { tsImport } from 'tsx/esm/api';

export default async function globalSetup() {
  const { buildClusterBinaries, buildLinkerdStandins } = await tsImport('../cluster/src/index.ts', import.meta.url);
  const t0 = Date.now();
  const say = (m) => process.stderr.write(`[build ${((Date.now() - t0) / 1000).toFixed(0)}s] ${m}\n`);
  await buildClusterBinaries((line) => (line.trim() ? say(line) : undefined));
  await buildLinkerdStandins((line) => (line.trim() ? say(line) : undefined));
  // Linkerd's verifier (rustls-webpki, built with cargo): cold here rather than inside a spec's timeout.
  const { buildWebpkiVerify } = await tsImport('../cluster/webpki/client.ts', import.meta.url);
  say(`webpki-verify: ${await buildWebpkiVerify((line) => (line.trim() ? say(line) : undefined))}`);
}
