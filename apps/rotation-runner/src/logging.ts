// Logs and progress: pino JSON lines when not on a terminal (the CronJob), the same records as short
// text lines on one ("12:00:03 TrustBoth: rolled 37/120 workloads"). Fields are fingerprints,
// names and counts; nothing here ever receives a key or a whole PEM (I5).
import { pino, type Logger } from 'pino';
import type { AdapterLogger } from '@linkerd-rotator/kube/rotation';
import { workloadKey, type ProgressEvent } from '@linkerd-rotator/rotation';
import type { CommandIO } from './cli.js';
import type { ClusterConfig } from './config.js';

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const OMIT = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'command']);

/** One pino JSON record as a terminal line: time, level (when not info), message, then key=value. */
export function textLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = typeof rec['time'] === 'number' ? new Date(rec['time']).toISOString().slice(11, 19) : '';
  const level = LEVEL_NAMES[rec['level'] as number] ?? 'info';
  const fields = Object.entries(rec)
    .filter(([k, v]) => !OMIT.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return `${time} ${level === 'info' ? '' : `${level.toUpperCase()} `}${String(rec['msg'] ?? '')}${fields.length > 0 ? `  ${fields.join(' ')}` : ''}\n`;
}

/** The command's logger; with a kubeconfig context (`check --fleet`, one per cluster) every record names it. */
export function makeLogger(config: Pick<ClusterConfig, 'logLevel' | 'logFormat' | 'context'>, output: { io: CommandIO; command: string; isTTY: boolean }): Logger {
  const { io, command, isTTY } = output;
  const text = config.logFormat === 'text' || (config.logFormat === 'auto' && isTTY);
  return pino(
    { level: config.logLevel, base: { command, ...(config.context !== undefined ? { context: config.context } : {}) }, timestamp: pino.stdTimeFunctions.epochTime },
    { write: (line: string) => io.err(text ? textLine(line) : line) },
  );
}

export function adapterLogger(logger: Logger): AdapterLogger {
  return {
    debug: (fields, message) => logger.debug(fields, message),
    info: (fields, message) => logger.info(fields, message),
    warn: (fields, message) => logger.warn(fields, message),
  };
}

/**
 * Turns the engine's progress events into log records a person can follow: phases, each action,
 * every roll with counts, and each gate once (again when what it waits for changes).
 */
export function progressLogger(logger: Logger): (event: ProgressEvent) => void {
  let lastWait = '';
  return (event) => {
    switch (event.kind) {
      case 'started':
        logger.info({ phase: event.phase, holder: event.holder }, `run started in phase ${event.phase}`);
        return;
      case 'phase':
        logger.info({ from: event.from, to: event.to }, `phase ${event.from} -> ${event.to}: ${event.why}`);
        return;
      case 'action':
        if (event.action.kind === 'roll-workloads' || event.action.kind === 'record-transition') return;
        logger.info({ phase: event.phase, action: event.action.kind }, `${event.phase}: ${event.summary}`);
        return;
      case 'rolled':
        logger.info(
          {
            phase: event.phase,
            tier: event.tier,
            rolled: event.rolled,
            total: event.total,
            workloads: event.restarted.map(workloadKey),
            ...(event.notFound.length > 0 ? { gone: event.notFound.map(workloadKey) } : {}),
          },
          `${event.phase}: rolled ${event.rolled}/${event.total} workloads (${event.tier})`,
        );
        return;
      case 'waiting': {
        const key = `${event.gate.name}|${event.gate.summary}`;
        if (key === lastWait) return;
        lastWait = key;
        logger.info(
          {
            phase: event.gate.phase,
            gate: event.gate.name,
            deadline: new Date(event.deadline).toISOString(),
            ...(event.gate.progress ? { done: event.gate.progress.done, of: event.gate.progress.total } : {}),
            ...(event.gate.blockers.length > 0 ? { blockers: event.gate.blockers.map((b) => b.message) } : {}),
          },
          `waiting: ${event.gate.summary}`,
        );
        return;
      }
      case 'done':
        logger.info({}, event.summary);
        return;
      case 'stopped':
        logger.warn({ reason: event.reason }, `stopped: ${event.message}`);
        return;
    }
  };
}
