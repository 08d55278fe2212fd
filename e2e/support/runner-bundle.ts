// The rotation runner as its image ships it (apps/rotation-runner/Dockerfile): one esbuild bundle of
// the app and the workspace libs, production dependencies external, run with plain node.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { repoRoot } from '../cluster/src/paths.js';

/** Bundles apps/rotation-runner/src/main.ts into `outfile` (with its source map) and returns outfile. */
export async function bundleRunner(outfile: string): Promise<string> {
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  await build({
    entryPoints: [path.join(repoRoot, 'apps/rotation-runner/src/main.ts')],
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    tsconfig: path.join(repoRoot, 'apps/rotation-runner/tsconfig.json'),
    external: Object.keys(pkg.dependencies),
    sourcemap: true,
    outfile,
    logLevel: 'error',
  });
  return outfile;
}
