// A kind cluster for the kind tier and the tools that drive it: the kind CLI (go install of the
// pinned sigs.k8s.io/kind module, cached per machine), kubectl (copied out of the node image, so it
// matches the cluster's version) and helm (the chart tests' pinned build). The cluster gets its own
// kubeconfig file and helm its own config/cache dirs, so nothing of the user's is touched.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, type RunOptions, type RunResult } from '../../cluster/src/kubectl.js';
import { cacheRoot, repoRoot } from '../../cluster/src/paths.js';
import { versions } from './versions.js';

export type Log = (message: string) => void;

/** Progress lines go straight to stderr: jest buffers console output until a test ends. */
export const log: Log = (message) => process.stderr.write(`[kind] ${new Date().toISOString().slice(11, 19)} ${message}\n`);

const goEnv = () => ({ ...process.env, GO111MODULE: 'on', GOFLAGS: '-mod=mod', GOWORK: 'off', CGO_ENABLED: '0' });

/** The kind CLI at the pinned version: `go install sigs.k8s.io/kind@<version>` once, then cached. */
export async function ensureKind(): Promise<string> {
  const dir = path.join(cacheRoot(), 'bin', `kind-${versions.kind}`);
  const bin = path.join(dir, 'kind');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const gobin = mkdtempSync(path.join(dir, '.gobin-'));
  log(`installing kind ${versions.kind} with go install (first run only)`);
  try {
    await run('go', ['install', `sigs.k8s.io/kind@${versions.kind}`], { env: { ...goEnv(), GOBIN: gobin }, timeoutMs: 20 * 60_000 });
    renameSync(path.join(gobin, 'kind'), bin);
  } finally {
    rmSync(gobin, { recursive: true, force: true });
  }
  return bin;
}

/** helm v3.22.0 built by charts/linkerd-rotator/tools/build.sh (a no-op when cached); HELM overrides. */
export async function ensureHelm(): Promise<string> {
  if (process.env['HELM']) return process.env['HELM'];
  const out = await run('bash', [path.join(repoRoot, 'charts/linkerd-rotator/tools/build.sh'), 'helm'], { timeoutMs: 20 * 60_000 });
  const line = out.stdout.split('\n').find((l) => l.startsWith('helm='));
  if (!line) throw new Error(`charts/linkerd-rotator/tools/build.sh printed no "helm=<path>" line: ${out.stdout}${out.stderr}`);
  return line.slice('helm='.length);
}

/** The module cache directory of a pinned Go module, fetched through the module proxy if needed. */
export async function goModuleDir(modulePath: string, version: string): Promise<string> {
  const out = await run('go', ['mod', 'download', '-json', `${modulePath}@${version}`], { env: goEnv(), timeoutMs: 10 * 60_000, allowFailure: true });
  const info = JSON.parse(out.stdout || '{}') as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${modulePath}@${version} failed: ${info.Error ?? out.stderr}`);
  return info.Dir;
}

export class KindCluster {
  readonly dir: string;
  readonly kubeconfig: string;
  private kubectlBin = 'kubectl';
  private created = false;

  constructor(
    readonly name: string,
    readonly kindBin: string,
    readonly helmBin: string,
    private readonly workers: number,
  ) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), `${name}-`));
    this.kubeconfig = path.join(this.dir, 'kubeconfig');
  }

  /**
   * Creates the cluster (deleting a leftover of the same name first), writes its kubeconfig into a
   * private dir and picks a kubectl. From the moment creation starts, delete() removes the cluster
   * (also on SIGINT/SIGTERM), even when creation itself fails half way.
   */
  async up(): Promise<void> {
    const existing = await this.kind(['get', 'clusters'], { allowFailure: true });
    if (existing.stdout.split('\n').includes(this.name)) {
      log(`deleting a leftover cluster ${this.name}`);
      await this.kind(['delete', 'cluster', '--name', this.name]);
    }
    const node = (role: string) => `  - role: ${role}\n    image: ${versions.nodeImage}\n`;
    const config = path.join(this.dir, 'kind.yaml');
    writeFileSync(
      config,
      `kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n${node('control-plane')}${Array.from({ length: this.workers }, () => node('worker')).join('')}`,
    );
    log(`creating kind cluster ${this.name} (${versions.nodeImage.split('@')[0]}, 1 control plane, ${this.workers} workers)`);
    this.created = true;
    this.registerSignalCleanup();
    await this.kind(['create', 'cluster', '--name', this.name, '--config', config, '--kubeconfig', this.kubeconfig, '--wait', '180s'], {
      timeoutMs: 15 * 60_000,
    });
    this.kubectlBin = await this.pickKubectl();
  }

  /** KUBECTL, else the node image's own kubectl (Linux hosts), else kubectl on PATH. */
  private async pickKubectl(): Promise<string> {
    if (process.env['KUBECTL']) return process.env['KUBECTL'];
    if (process.platform === 'linux') {
      const bin = path.join(this.dir, 'kubectl');
      const cp = await run('docker', ['cp', `${this.name}-control-plane:/usr/bin/kubectl`, bin], { allowFailure: true });
      if (cp.code === 0) {
        chmodSync(bin, 0o755);
        return bin;
      }
      log(`could not copy kubectl out of the node image (${cp.stderr.trim()}); using kubectl from PATH`);
    }
    return 'kubectl';
  }

  private registerSignalCleanup(): void {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        if (this.created && process.env['KIND_KEEP_CLUSTER'] !== '1') {
          spawnSync(this.kindBin, ['delete', 'cluster', '--name', this.name], { stdio: 'inherit' });
        }
        process.exit(signal === 'SIGINT' ? 130 : 143);
      });
    }
  }

  kind(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run(this.kindBin, args, { timeoutMs: 10 * 60_000, ...opts });
  }

  kubectl(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run(this.kubectlBin, args, { timeoutMs: 5 * 60_000, ...opts, env: { ...process.env, ...opts.env, KUBECONFIG: this.kubeconfig } });
  }

  /** The kubectl command and environment, for long-running children (log followers). */
  kubectlCommand(): { command: string; env: NodeJS.ProcessEnv } {
    return { command: this.kubectlBin, env: { ...process.env, KUBECONFIG: this.kubeconfig } };
  }

  helm(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const home = path.join(this.dir, 'helm');
    return run(this.helmBin, args, {
      timeoutMs: 15 * 60_000,
      ...opts,
      env: {
        ...process.env,
        ...opts.env,
        KUBECONFIG: this.kubeconfig,
        HELM_CONFIG_HOME: path.join(home, 'config'),
        HELM_CACHE_HOME: path.join(home, 'cache'),
        HELM_DATA_HOME: path.join(home, 'data'),
      },
    });
  }

  async loadImages(images: string[]): Promise<void> {
    log(`kind load docker-image ${images.join(' ')}`);
    await this.kind(['load', 'docker-image', '--name', this.name, ...images], { timeoutMs: 10 * 60_000 });
  }

  async json<T>(args: string[]): Promise<T> {
    return JSON.parse((await this.kubectl([...args, '-o', 'json'])).stdout) as T;
  }

  /** `kind export logs` (node journals, every container's log) into dir. */
  async exportLogs(dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true });
    const r = await this.kind(['export', 'logs', dir, '--name', this.name], { allowFailure: true, timeoutMs: 5 * 60_000 });
    log(r.code === 0 ? `kind logs exported to ${dir}` : `kind export logs failed: ${r.stderr.trim()}`);
  }

  async delete(): Promise<void> {
    if (!this.created) return;
    if (process.env['KIND_KEEP_CLUSTER'] === '1') {
      log(`KIND_KEEP_CLUSTER=1: cluster ${this.name} kept; KUBECONFIG=${this.kubeconfig}; delete it with: ${this.kindBin} delete cluster --name ${this.name}`);
      return;
    }
    log(`deleting kind cluster ${this.name}`);
    await this.kind(['delete', 'cluster', '--name', this.name], { allowFailure: true, timeoutMs: 5 * 60_000 });
    this.created = false;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Builds the app images from apps/<app>/Dockerfile with the repository root as context (BuildKit). */
export async function buildImage(app: string, tag: string): Promise<void> {
  const started = Date.now();
  log(`docker build -f apps/${app}/Dockerfile -t ${tag} .`);
  const r = await run('docker', ['build', '--progress=plain', '-f', path.join(repoRoot, 'apps', app, 'Dockerfile'), '-t', tag, repoRoot], {
    env: { ...process.env, DOCKER_BUILDKIT: '1' },
    allowFailure: true,
    timeoutMs: 30 * 60_000,
  });
  if (r.code !== 0) {
    throw new Error(`docker build of apps/${app}/Dockerfile failed (exit ${r.code}):\n${(r.stderr + r.stdout).split('\n').slice(-60).join('\n')}`);
  }
  log(`built ${tag} in ${Math.round((Date.now() - started) / 1000)} s`);
}
