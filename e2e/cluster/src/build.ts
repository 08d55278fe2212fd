// Builds (or reuses from the per-machine cache) every binary the local cluster runs: the Go
// build scripts print progress and fail naming the component; this wraps them for the CLI and tests.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './paths.js';

function runScript(script: string, onLine: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let last = '';
    let buffered = '';
    const onData = (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim()) last = line.trim();
        onLine(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => {
      if (buffered.trim()) {
        last = buffered.trim();
        onLine(buffered);
      }
      if (code === 0) resolve(last);
      else reject(new Error(`${path.relative(repoRoot, script)} failed (exit ${code}); see the output above`));
    });
  });
}

/** Build the upstream components (Kubernetes, etcd, kwok, cert-manager, trust-manager, helm). */
export function buildClusterBinaries(onLine: (line: string) => void = (l) => console.log(l)): Promise<string> {
  return runScript(path.join(repoRoot, 'e2e/cluster/build/build.sh'), onLine);
}

/** Build the Linkerd stand-ins; resolves with the binary's path (the script's last line). */
export function buildLinkerdStandins(onLine: (line: string) => void = (l) => console.log(l)): Promise<string> {
  return runScript(path.join(repoRoot, 'e2e/cluster/standins/build.sh'), onLine);
}
