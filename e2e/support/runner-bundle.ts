// The rotation runner and the exporter as their images ship them (apps/rotation-runner/Dockerfile,
// apps/webhook/Dockerfile): one esbuild bundle of the app and the workspace libs, production
// dependencies external, run with plain node.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { repoRoot } from '../cluster/src/paths.js';

/** Bundles apps/<app>/src/main.ts into `outfile` (with its source map) and returns outfile. */
export async function bundleApp(app: 'rotation-runner' | 'exporter' | 'webhook', outfile: string): Promise<string> {
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  await build({
    entryPoints: [path.join(repoRoot, `apps/${app}/src/main.ts`)],
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    tsconfig: path.join(repoRoot, `apps/${app}/tsconfig.json`),
    external: Object.keys(pkg.dependencies),
    sourcemap: true,
    outfile,
    logLevel: 'error',
  });
  return outfile;
}

/** Bundles apps/rotation-runner/src/main.ts into `outfile` (with its source map) and returns outfile. */
export const bundleRunner = (outfile: string): Promise<string> => bundleApp('rotation-runner', outfile);
