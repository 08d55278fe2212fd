// A rotation driven as the chart's CronJob drives it: `rotate --output json` runs until the engine
// is done, and a run that ends `waiting` (cross-signed's old-leaves-expired gate) is resumed by the
// next run once its `resumeAt` has passed, as the next scheduled run would.
import { waitFor } from '../cluster/src/index.js';

/** What the e2e tier reads of `rotate --output json` (RotateReport, apps/rotation-runner/src/commands/rotate.ts). */
export interface RotateRunReport {
  outcome: string;
  message: string;
  reason?: string;
  phase?: string;
  from?: string;
  to?: string;
  /** With outcome `waiting`: when the gate opens (ISO 8601) and what it awaits. */
  resumeAt?: string;
  waitingFor?: string;
  rolls: number;
  wallMs: number;
  gates: Record<string, number>;
}

export interface RunnerOutput {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RotateToDoneOptions<R extends RotateRunReport = RotateRunReport> {
  /** Runs the runner once with these args (the rotate command and its flags come from the caller). */
  run: (args: string[]) => Promise<RunnerOutput>;
  /** Args of the first run (e.g. `--force`); later runs resume the rotation under way with `resumeArgs`. */
  firstArgs: string[];
  resumeArgs: string[];
  /** Runs at most this many times (3 by default: start, resume after the long gate, one spare). */
  maxRuns?: number;
  /** Called when a run ended waiting, before waiting for its `resumeAt` (e.g. to check the parked state). */
  onWaiting?: (report: R) => Promise<void> | void;
  /** How long past `resumeAt` the clock may be expected to take at most (the machine's scheduling). */
  resumeSlackMs?: number;
}

function parseReport<R extends RotateRunReport>(output: RunnerOutput, args: string[]): R {
  if (output.code !== 0) {
    throw new Error(`expected rotate ${args.join(' ')} to exit 0, found ${output.code}; its output:\n${output.stderr.slice(-4000)}${output.stdout.slice(-2000)}`);
  }
  try {
    return JSON.parse(output.stdout) as R;
  } catch {
    throw new Error(`expected rotate --output json to print its report on stdout, found ${JSON.stringify(output.stdout.slice(0, 400))}; check the runner's output flag`);
  }
}

/**
 * Runs rotate until a run reports `done`, resuming each `waiting` run once the clock has reached its
 * `resumeAt` (the gate is a clock condition: waiting for the clock is waiting for the condition).
 * Returns every run's report, in order.
 */
export async function rotateToDone<R extends RotateRunReport = RotateRunReport>(opts: RotateToDoneOptions<R>): Promise<R[]> {
  const reports: R[] = [];
  const maxRuns = opts.maxRuns ?? 3;
  for (let runs = 0; runs < maxRuns; runs++) {
    const args = [...(runs === 0 ? opts.firstArgs : opts.resumeArgs), '--output', 'json'];
    const report = parseReport<R>(await opts.run(args), args);
    reports.push(report);
    if (report.outcome === 'done') return reports;
    if (report.outcome !== 'waiting' || !report.resumeAt) {
      throw new Error(`expected rotate to end done or waiting with a resumeAt, found ${report.outcome}: ${report.message}; see the runner's report`);
    }
    await opts.onWaiting?.(report);
    const resumeAt = Date.parse(report.resumeAt);
    await waitFor(() => Date.now() >= resumeAt, {
      what: `the clock to reach ${report.resumeAt}, when ${report.waitingFor ?? 'the gate'} opens`,
      timeoutMs: Math.max(0, resumeAt - Date.now()) + (opts.resumeSlackMs ?? 60_000),
      intervalMs: 1_000,
    });
  }
  throw new Error(`expected the rotation done within ${maxRuns} runs, found outcomes ${reports.map((r) => r.outcome).join(', ')}; see the last report: ${reports.at(-1)?.message ?? ''}`);
}
