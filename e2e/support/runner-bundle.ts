// The rotation runner, the exporter and the webhook as their images ship them
// (apps/rotation-runner/Dockerfile, apps/webhook/Dockerfile): scripts/bundle-app.mjs, run with plain node.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../cluster/src/paths.js';

/** Bundles apps/<app>/src/main.ts into `outfile` (with its source map) and returns outfile. */
export async function bundleApp(app: 'rotation-runner' | 'exporter' | 'webhook', outfile: string): Promise<string> {
  await promisify(execFile)(process.execPath, [path.join(repoRoot, 'scripts/bundle-app.mjs'), app, outfile], { cwd: repoRoot });
  return outfile;
}

/** Bundles apps/rotation-runner/src/main.ts into `outfile` (with its source map) and returns outfile. */
export const bundleRunner = (outfile: string): Promise<string> => bundleApp('rotation-runner', outfile);
