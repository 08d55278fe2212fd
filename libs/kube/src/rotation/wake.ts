// Waiting on caches: re-check a condition whenever one of the watched collections changes (checks
// coalesced: at most one every `minIntervalMs`, or every `costFactor` times the last check's
// duration when checks are expensive), until it holds or the deadline passes. No polling.
import type { Changing } from '../collection.js';

export interface WakeOptions {
  readonly collections: readonly Changing[];
  readonly deadline: number;
  readonly now: () => number;
  /** Extra wake-ups at these times (clock gates). */
  readonly alarms?: readonly number[];
  /** Coalesces bursts (a rollout changes hundreds of pods): checks at most this often. */
  readonly minIntervalMs?: number;
  /**
   * Also spaces checks by this many times the last check's duration, so checking stays a small share
   * of the CPU when a check is expensive (thousands of pods).
   */
  readonly costFactor?: number;
  /** Also re-check on this schedule (ms after the previous check), for things no watch reports. */
  readonly recheck?: (attempt: number) => number | undefined;
}

/**
 * Resolves true once `check` returns true, false at the deadline. A check that throws rejects the
 * wait; a check that returns `undefined` counts as "not yet".
 */
export function wakeOn(check: (reason: 'change' | 'alarm' | 'recheck' | 'start') => Promise<boolean | undefined>, options: WakeOptions): Promise<boolean> {
  const { now, deadline } = options;
  const minInterval = options.minIntervalMs ?? 250;
  const costFactor = options.costFactor ?? 8;
  let lastCost = 0;
  return new Promise<boolean>((resolve, reject) => {
    let done = false;
    let running = false;
    let pending: 'change' | 'alarm' | 'recheck' | undefined;
    let lastRun = 0;
    let coalesce: NodeJS.Timeout | undefined;
    let recheckTimer: NodeJS.Timeout | undefined;
    let recheckAttempt = 0;
    // A re-check that fell due is owed until a run consumes it, whatever else is queued or running:
    // dropping it ended the re-check schedule, and a gate no watch can open waited out its deadline.
    let recheckOwed = false;
    const timers: NodeJS.Timeout[] = [];
    const unsubscribe = options.collections.map((c) => c.onChange(() => request('change')));
    const finish = (value: boolean | Error) => {
      if (done) return;
      done = true;
      for (const u of unsubscribe) u();
      for (const t of timers) clearTimeout(t);
      if (coalesce) clearTimeout(coalesce);
      if (recheckTimer) clearTimeout(recheckTimer);
      if (value instanceof Error) reject(value);
      else resolve(value);
    };
    const run = async (requested: 'change' | 'alarm' | 'recheck' | 'start') => {
      if (done) return;
      if (running) {
        pending = pending ?? (requested === 'start' ? 'change' : requested);
        return;
      }
      const reason = recheckOwed ? 'recheck' : requested;
      recheckOwed = false;
      running = true;
      lastRun = now();
      try {
        if ((await check(reason)) === true) return finish(true);
      } catch (err) {
        return finish(err as Error);
      } finally {
        running = false;
        lastCost = now() - lastRun;
      }
      if (reason === 'recheck' || reason === 'start') scheduleRecheck();
      if (pending) {
        const next = pending;
        pending = undefined;
        request(next);
      }
    };
    const request = (reason: 'change' | 'alarm' | 'recheck') => {
      if (done || coalesce) return;
      if (running) {
        pending = pending ?? reason;
        return;
      }
      const wait = Math.max(0, lastRun + Math.max(minInterval, lastCost * costFactor) - now());
      coalesce = setTimeout(() => {
        coalesce = undefined;
        void run(reason);
      }, wait);
    };
    const scheduleRecheck = () => {
      if (!options.recheck || done) return;
      const delay = options.recheck(recheckAttempt++);
      if (delay === undefined) return;
      if (recheckTimer) clearTimeout(recheckTimer);
      recheckTimer = setTimeout(() => {
        recheckOwed = true;
        void run('recheck');
      }, delay);
    };
    for (const at of options.alarms ?? []) {
      if (at > now() && at < deadline) timers.push(setTimeout(() => request('alarm'), at - now() + 1));
    }
    timers.push(setTimeout(() => finish(false), Math.max(0, deadline - now())));
    void run('start');
  });
}
