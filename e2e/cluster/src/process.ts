// Starting the cluster's component processes (detached, logs to files, pids recorded) and waiting
// on observed readiness conditions with deadlines. A wait fails fast when its process has died.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';

export interface ProcessRecord {
  name: string;
  pid: number;
  log: string;
  command: string[];
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  log: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Start a long-running component detached from this process so a CLI `up` can exit. */
export function startProcess(opts: StartOptions): ProcessRecord {
  const fd = openSync(opts.log, 'a');
  try {
    const child = spawn(opts.command, opts.args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    if (child.pid === undefined) throw new Error(`could not start ${opts.name} (${opts.command})`);
    child.unref();
    return { name: opts.name, pid: child.pid, log: opts.log, command: [opts.command, ...opts.args] };
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether the process still runs. A zombie (exited, not yet reaped by its parent) answers
 * kill(pid, 0) like a live process, so on Linux its state in /proc decides: Z or X is gone.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  const state = processState(pid);
  return state !== 'Z' && state !== 'X';
}

/** The kernel's one-letter state of a process (R, S, D, Z, ...) from /proc, or undefined off Linux. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ...: comm may hold spaces and parentheses, so read after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) || undefined;
  } catch {
    return undefined;
  }
}

/** SIGTERM the process group, then SIGKILL whatever is left once the deadline passes. */
export async function stopProcess(rec: Pick<ProcessRecord, 'pid' | 'name'>, graceMs = 10_000): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-rec.pid, sig);
    } catch {
      try {
        process.kill(rec.pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  if (!isAlive(rec.pid)) return;
  signal('SIGTERM');
  try {
    await waitFor(() => !isAlive(rec.pid), { what: `${rec.name} (pid ${rec.pid}) to exit`, timeoutMs: graceMs, intervalMs: 50 });
  } catch {
    signal('SIGKILL');
    // A killed process still has to leave uninterruptible I/O and free its memory; on a loaded
    // machine a large one (kube-apiserver, etcd) took over 5 s. Its state is in the message.
    await waitFor(() => !isAlive(rec.pid), {
      what: `${rec.name} (pid ${rec.pid}) to die after SIGKILL`,
      timeoutMs: 30_000,
      intervalMs: 50,
      diagnose: () => `Its state in /proc: ${processState(rec.pid) ?? 'gone'}.`,
    });
  }
}

export function logTail(file: string, lines = 25): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

export interface WaitOptions {
  what: string;
  timeoutMs: number;
  intervalMs?: number;
  /** Fail at once, with its log, when this process is no longer running. */
  process?: ProcessRecord;
  /** What the timeout's message adds about the state it saw last (counts, recent events). */
  diagnose?: () => string;
}

/**
 * Poll an observed condition until it holds or the deadline passes. Used only for readiness
 * probes of processes we started (health endpoints, API objects), never as a stand-in timer.
 */
export async function waitFor<T>(condition: () => T | Promise<T>, opts: WaitOptions): Promise<NonNullable<T>> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (opts.process && !isAlive(opts.process.pid)) {
      throw new Error(`${opts.process.name} exited while waiting for ${opts.what}. Last log lines (${opts.process.log}):\n${logTail(opts.process.log)}`);
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? ` Last error: ${lastError.message}` : '';
      const log = opts.process ? `\nLast log lines (${opts.process.log}):\n${logTail(opts.process.log)}` : '';
      const seen = opts.diagnose ? `\n${opts.diagnose()}` : '';
      throw new Error(`Timed out after ${opts.timeoutMs} ms waiting for ${opts.what}.${detail}${seen}${log}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}

/**
 * The kernel's ephemeral port range (Linux `ip_local_port_range`): where listen(0) and every
 * outgoing connection's source port come from.
 */
export function ephemeralPortRange(file = '/proc/sys/net/ipv4/ip_local_port_range'): [number, number] {
  try {
    const [low, high] = readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high) && low! > 0 && high! >= low!) return [low!, high!];
  } catch {
    // not Linux: the IANA range, which macOS and Windows use
  }
  return [49152, 65535];
}

const lowestPort = 10_000;

function tryListen(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

/**
 * Free loopback ports for the cluster's components, held together while they are picked so they
 * are distinct. They come from below the ephemeral range, because a component may be stopped and
 * started again on the same port (stopComponent, startComponent): a port from the ephemeral range
 * can meanwhile become the source port of any outgoing connection (the traffic driver makes
 * thousands), and the component restarted on it then exits with "address already in use".
 * Random picks also keep two test files started at once apart.
 */
export async function freePorts(count: number): Promise<number[]> {
  const [ephemeralLow] = ephemeralPortRange();
  const span = ephemeralLow - lowestPort;
  if (span < count * 16) throw new Error(`freePorts: the ephemeral port range starts at ${ephemeralLow}, leaving too few ports below it for ${count} components`);
  const held: net.Server[] = [];
  try {
    for (let attempts = 0; held.length < count; attempts++) {
      if (attempts > count * 50) throw new Error(`freePorts: no ${count} free loopback ports between ${lowestPort} and ${ephemeralLow - 1} after ${attempts} tries`);
      const port = lowestPort + Math.floor(Math.random() * span);
      if (held.some((s) => (s.address() as net.AddressInfo).port === port)) continue;
      const server = await tryListen(port);
      if (server) held.push(server);
    }
    return held.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  }
}
