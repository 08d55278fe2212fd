// Thin wrappers for running the cluster's own kubectl and helm binaries against a kubeconfig,
// with errors that carry the command and its stderr.
import { spawn } from 'node:child_process';

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  /** Resolve with the result instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
  timeoutMs?: number;
  /** Called with each chunk of stdout/stderr as it arrives (progress of long commands). */
  onOutput?: (chunk: string) => void;
  /**
   * Start the command as the leader of its own process group and pass its pid (the group's id):
   * `process.kill(-pid, 'SIGKILL')` then reaches every process it started (tsx runs node as a child).
   */
  onGroupStarted?: (pid: number) => void;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(command: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'], detached: opts.onGroupStarted !== undefined });
    if (opts.onGroupStarted && child.pid !== undefined) opts.onGroupStarted(child.pid);
    let stdout = '';
    let stderr = '';
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      opts.onOutput?.(d.toString());
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      opts.onOutput?.(d.toString());
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      const result = { code: code ?? -1, stdout, stderr };
      if (result.code !== 0 && !opts.allowFailure) {
        const shown = [command.split('/').pop(), ...args].join(' ');
        reject(new Error(`\`${shown}\` exited ${result.code}: ${stderr.trim() || stdout.trim()}`));
      } else {
        resolve(result);
      }
    });
    // A command that does not read its input (kubectl auth can-i) may exit before it is written:
    // the pipe then fails with EPIPE, which says nothing the exit code does not; other errors reject.
    child.stdin.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') reject(err);
    });
    child.stdin.end(opts.input ?? '');
  });
}
