// The rotation runner, the exporter and the webhook as their images ship them
// (apps/rotation-runner/Dockerfile, apps/webhook/Dockerfile): scripts/bundle-app.mjs, run with plain node.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
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

/** One JSON log record of the runner (LOG_FORMAT=json, on stderr). */
export interface RunnerLogRecord {
  level?: number;
  msg: string;
  [field: string]: unknown;
}

export interface BundledRunnerResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Every JSON log record, in order. */
  logs: RunnerLogRecord[];
}

/**
 * Starts the bundle (`bundleRunner`) with plain node: one process, so a SIGKILL hits the runner
 * itself; `detached` puts it in a process group of its own (kill `-child.pid` to end the group).
 * `onLog` sees each JSON log record on stderr as it arrives, with the child.
 */
export function startBundledRunner(
  runnerJs: string,
  args: string[],
  opts: { env: NodeJS.ProcessEnv; detached?: boolean; onLog?: (rec: RunnerLogRecord, child: ChildProcess) => void },
): { child: ChildProcess; done: Promise<BundledRunnerResult> } {
  const child = spawn(process.execPath, ['--enable-source-maps', runnerJs, ...args], { cwd: repoRoot, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached ?? false });
  let stdout = '';
  let stderr = '';
  let partial = '';
  const logs: RunnerLogRecord[] = [];
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
    partial += d.toString();
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        const rec = JSON.parse(line) as RunnerLogRecord;
        logs.push(rec);
        opts.onLog?.(rec, child);
      } catch {
        // not a log record (a crash trace): kept in stderr
      }
    }
  });
  const done = new Promise<BundledRunnerResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, logs })));
  return { child, done };
}
