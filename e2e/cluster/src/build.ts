// Builds (or reuses from the per-machine cache) every binary the local cluster runs: the Go
// build scripts print progress and fail naming the component; this wraps them for the CLI and tests.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './paths.js';

/**
 * Runs a build script, passing every line of its stdout and stderr to `onLine`, and resolves with
 * the last non-empty line of its **stdout** (the scripts print progress on stderr and their result
 * on stdout). The two pipes are read independently, so stderr's last line may arrive after stdout's:
 * taking the last line of either once made `linkerd-standin: cached (...)` the binary's "path".
 */
export function runBuildScript(script: string, onLine: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let result = '';
    const reader = (isStdout: boolean) => {
      let buffered = '';
      const take = (line: string) => {
        if (isStdout && line.trim()) result = line.trim();
        onLine(line);
      };
      return {
        data: (d: Buffer) => {
          buffered += d.toString();
          const lines = buffered.split('\n');
          buffered = lines.pop() ?? '';
          for (const line of lines) take(line);
        },
        flush: () => {
          if (buffered.trim()) take(buffered);
          buffered = '';
        },
      };
    };
    const out = reader(true);
    const err = reader(false);
    child.stdout.on('data', out.data);
    child.stderr.on('data', err.data);
    child.on('error', reject);
    child.on('close', (code) => {
      out.flush();
      err.flush();
      if (code === 0) resolve(result);
      else reject(new Error(`${path.relative(repoRoot, script)} failed (exit ${code}); see the output above`));
    });
  });
}

/** Build the upstream components (Kubernetes, etcd, kwok, cert-manager, trust-manager, helm). */
export function buildClusterBinaries(onLine: (line: string) => void = (l) => console.log(l)): Promise<string> {
  return runBuildScript(path.join(repoRoot, 'e2e/cluster/build/build.sh'), onLine);
}

/** Build the Linkerd stand-ins; resolves with the binary's path (the script's last line on stdout). */
export function buildLinkerdStandins(onLine: (line: string) => void = (l) => console.log(l)): Promise<string> {
  return runBuildScript(path.join(repoRoot, 'e2e/cluster/standins/build.sh'), onLine);
}
