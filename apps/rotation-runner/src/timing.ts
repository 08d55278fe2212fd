// Time spent inside each port of the engine, for `rotate --output json` and the benchmark: what the
// engine's own overhead is made of (snapshots, API writes, the rest is deciding).
import type { RotationPorts } from '@linkerd-rotator/rotation';

/** Per `port.method`: calls, total and longest milliseconds. */
export type PortTimes = Record<string, { calls: number; ms: number; maxMs: number }>;

/** The same ports, each method timed into `times` under `port.method`. */
export function timedPorts(ports: RotationPorts, times: PortTimes, now: () => number = () => performance.now()): RotationPorts {
  const wrap = <T extends object>(name: string, port: T): T =>
    new Proxy(port, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const started = now();
          const result = (value as (...a: unknown[]) => unknown).apply(target, args);
          const stop = () => {
            const entry = (times[`${name}.${String(key)}`] ??= { calls: 0, ms: 0, maxMs: 0 });
            const ms = now() - started;
            entry.calls++;
            entry.ms += ms;
            entry.maxMs = Math.max(entry.maxMs, ms);
          };
          if (result instanceof Promise) return result.finally(stop);
          stop();
          return result;
        };
      },
    });
  return Object.fromEntries(Object.entries(ports).map(([name, port]) => [name, wrap(name, port as object)])) as unknown as RotationPorts;
}
