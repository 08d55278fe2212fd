// Where the local cluster keeps its built binaries (a per-machine cache) and its runtime state
// (one directory per named cluster, holding pids, ports, certificates, logs and data).
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export function cacheRoot(): string {
  const base = process.env['XDG_CACHE_HOME'] || path.join(os.homedir(), '.cache');
  return path.join(base, 'linkerd-rotator');
}

export function clusterStateDir(name: string): string {
  return path.join(os.tmpdir(), 'linkerd-rotator-clusters', name);
}

/** Binaries and CRD directories written by e2e/cluster/build/build.sh. */
export interface BuildManifest {
  binaries: Record<string, string>;
  crds: Record<string, { version: string; dir: string }>;
  versions: Record<string, string>;
  /** kwok's stage configs, copied out of its module by build.sh. */
  kwokStages: { version: string; file: string };
}

export const requiredBinaries = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubectl',
  'kwok',
  'cert-manager-controller',
  'cert-manager-cainjector',
  'trust-manager',
  'helm',
] as const;
export type BinaryName = (typeof requiredBinaries)[number] | 'linkerd-standin';

export function manifestPath(): string {
  return path.join(cacheRoot(), 'bin', 'manifest.json');
}

export function readManifest(): BuildManifest {
  const file = manifestPath();
  if (!existsSync(file)) {
    throw new Error(
      `No cluster binaries found: expected ${file}. Build them with \`npm run cluster -- build\` (first run takes a while).`,
    );
  }
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as BuildManifest;
  for (const name of requiredBinaries) {
    const bin = manifest.binaries[name];
    if (!bin || !existsSync(bin)) {
      throw new Error(`Cluster binary "${name}" is missing from ${file} (or its file is gone). Rebuild with \`npm run cluster -- build\`.`);
    }
  }
  if (!manifest.kwokStages || !existsSync(manifest.kwokStages.file)) {
    throw new Error(`kwok's stage configs are missing from ${file}. Rebuild with \`npm run cluster -- build\`.`);
  }
  return manifest;
}
