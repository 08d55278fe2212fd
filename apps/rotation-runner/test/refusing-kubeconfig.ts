// CLI test helpers without a cluster: run the CLI capturing its output, and a kubeconfig whose
// contexts point at a local port nothing listens on (their API servers refuse every connection).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../src/cli.js';

export function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  return run(argv, { out: (t) => (out += t), err: (t) => (err += t) }).then((code) => ({ code, out, err }));
}

/** A local port nothing listens on: taken from the OS, then released. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Writes to `path` a kubeconfig with one context per name (the first current), each refusing connections. */
export async function writeRefusingKubeconfig(path: string, names: readonly string[]): Promise<void> {
  const port = await closedPort();
  const cluster = (name: string) => `- name: ${name}\n  cluster:\n    server: https://127.0.0.1:${port}\n    insecure-skip-tls-verify: true`;
  const context = (name: string) => `- name: ${name}\n  context:\n    cluster: ${name}\n    user: u`;
  writeFileSync(path, `apiVersion: v1\nkind: Config\ncurrent-context: ${names[0]}\nclusters:\n${names.map(cluster).join('\n')}\ncontexts:\n${names.map(context).join('\n')}\nusers:\n- name: u\n  user:\n    token: t\n`);
}

/** For a spec: a refusing kubeconfig with contexts east and west in a temporary directory, made before all and removed after. */
export function refusingKubeconfigForSpec(prefix: string): { readonly path: () => string } {
  let dir: string | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), prefix));
    await writeRefusingKubeconfig(join(dir, 'kubeconfig'), ['east', 'west']);
  });
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));
  return { path: () => join(dir as string, 'kubeconfig') };
}
