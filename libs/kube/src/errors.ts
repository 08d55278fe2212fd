// Kubernetes API failures as typed errors with one-sentence messages (what, found, what to do), and
// the retry-with-backoff every call goes through so a briefly unreachable API server is ridden out.

/** One API call, for messages: `update certificates/status cert-manager/linkerd-trust-anchor`. */
export interface KubeOperation {
  readonly verb: string;
  readonly resource: string;
  readonly namespace?: string;
  readonly name?: string;
}

export type KubeErrorKind = 'forbidden' | 'not-found' | 'conflict' | 'unreachable' | 'invalid' | 'unauthorized' | 'other';

export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  constructor(
    readonly kind: KubeErrorKind,
    readonly code: number | undefined,
    readonly operation: KubeOperation,
    message: string,
  ) {
    super(message);
  }
}

export function describeOperation(op: KubeOperation): string {
  const where = op.name ? ` ${op.namespace ? `${op.namespace}/` : ''}${op.name}` : op.namespace ? ` in namespace ${op.namespace}` : ' (all namespaces)';
  return `${op.verb} ${op.resource}${where}`;
}

const PEM_BLOCK = /-----BEGIN [^-]+-----[\s\S]*?(-----END [^-]+-----|$)/g;

/**
 * A run of 32 or more base64 characters (24 bytes and up): a Secret's `data` value (base64 of a PEM
 * key) or a PEM body without its armour. Redacted when it mixes upper- and lower-case letters with a
 * digit, `+` or `/`, as encoded bytes do; a hex fingerprint, a UID, a resource path or a word does not.
 */
const BASE64_RUN = /[A-Za-z0-9+/]{32,}={0,2}/g;

function looksEncoded(run: string): boolean {
  return /[A-Z]/.test(run) && /[a-z]/.test(run) && /[0-9+/]/.test(run);
}

/**
 * Server messages can echo request fields (a Secret's base64 `data`, a PEM block); never pass
 * certificate or key material on (I5). Redacts before cutting to 600 characters, so no part is left.
 */
export function redact(text: string): string {
  return text
    .replace(PEM_BLOCK, '[PEM redacted]')
    .replace(BASE64_RUN, (run) => (looksEncoded(run) ? '[base64 redacted]' : run))
    .slice(0, 600);
}

interface ErrorLike {
  code?: unknown;
  statusCode?: unknown;
  body?: unknown;
  message?: unknown;
  cause?: unknown;
  name?: unknown;
}

/** The HTTP status of an ApiException (or a watch error), if the server answered at all. */
export function statusOf(err: unknown): number | undefined {
  const e = err as ErrorLike | null;
  const code = typeof e?.code === 'number' ? e.code : typeof e?.statusCode === 'number' ? e.statusCode : undefined;
  return code !== undefined && code >= 100 && code < 600 ? code : undefined;
}

/** The API server's own `Status.message`, when the body carries one. */
export function serverMessage(err: unknown): string | undefined {
  const body = (err as ErrorLike | null)?.body;
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return redact(body);
    }
  }
  const message = (parsed as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? redact(message) : undefined;
}

function causeText(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const x = e as ErrorLike;
    const code = typeof x.code === 'string' ? x.code : undefined;
    const message = typeof x.message === 'string' ? x.message.split('\n')[0] : undefined;
    if (code || message) parts.push([code, message].filter(Boolean).join(' '));
    e = x.cause;
  }
  return redact(parts.join(': ') || String(err));
}

const TRANSIENT_STATUS = new Set([429, 500, 502, 503, 504]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
]);

/** No answer at all: the connection was refused, reset or timed out (not a bug in the caller). */
export function isNetworkError(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const x = e as ErrorLike;
    if (typeof x.code === 'string' && NETWORK_CODES.has(x.code)) return true;
    if (x.name === 'AbortError' || x.name === 'TimeoutError') return true;
    if (typeof x.message === 'string' && /fetch failed|socket hang up|other side closed|ECONNREFUSED|ECONNRESET/.test(x.message)) return true;
    e = x.cause;
  }
  return false;
}

/** A failure worth retrying: no answer (connection refused/reset, timeout) or an overloaded server. */
export function isTransient(err: unknown): boolean {
  if (err instanceof KubeApiError) return err.kind === 'unreachable';
  const status = statusOf(err);
  if (status !== undefined) return TRANSIENT_STATUS.has(status);
  return isNetworkError(err);
}

/** Maps any error of one call to a KubeApiError with a message that says what to do. */
export function classify(err: unknown, op: KubeOperation): KubeApiError {
  if (err instanceof KubeApiError) return err;
  const status = statusOf(err);
  const what = describeOperation(op);
  const server = serverMessage(err);
  if (status === 403) {
    return new KubeApiError(
      'forbidden',
      403,
      op,
      `expected permission to ${what}, found 403 Forbidden${server ? ` (${server})` : ''}; the linkerd-rotator chart's RBAC should grant this component's ServiceAccount (runner, webhook or exporter) "${op.verb}" on ${op.resource}${op.name ? ` "${op.name}"` : ''} (docs/chart.md, "RBAC"): check that the release's Roles are installed and bound`,
    );
  }
  if (status === 401) {
    return new KubeApiError('unauthorized', 401, op, `expected the API server to accept this component's credentials to ${what}, found 401 Unauthorized; check the kubeconfig or the ServiceAccount token`);
  }
  if (status === 404) return new KubeApiError('not-found', 404, op, `expected ${what} to find the object, found 404 Not Found${server ? ` (${server})` : ''}`);
  if (status === 409) return new KubeApiError('conflict', 409, op, `expected ${what} to apply, found 409 Conflict${server ? ` (${server})` : ''}`);
  if (status === 400 || status === 422) {
    return new KubeApiError('invalid', status, op, `expected the API server to accept ${what}, found ${status} ${server ?? 'Invalid'}; this object is not what linkerd-rotator expects, fix it or report a bug`);
  }
  if ((status === undefined && isNetworkError(err)) || (status !== undefined && TRANSIENT_STATUS.has(status))) {
    return new KubeApiError('unreachable', status, op, `expected the Kubernetes API server to answer ${what}, found ${status ? `HTTP ${status}` : 'no answer'} (${server ?? causeText(err)})`);
  }
  return new KubeApiError('other', status, op, `expected ${what} to succeed, found ${status ? `HTTP ${status}` : 'an error'} (${server ?? causeText(err)})`);
}

export interface RetryOptions {
  /** Give up (throw `unreachable`) once this epoch-ms time has passed. */
  readonly deadline: number;
  readonly now?: () => number;
  /** Called before each retry, for logs. */
  readonly onRetry?: (error: KubeApiError, attempt: number, delayMs: number) => void;
  /** Also retry these (e.g. a 403 from an API server that restarted a moment ago). */
  readonly alsoTransient?: (error: KubeApiError) => boolean;
  /** Told about every answer-less failure (to open the grace window above). */
  readonly onUnreachable?: () => void;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `call`, retrying transient failures with exponential backoff (250 ms doubling to 8 s, with
 * jitter) until `deadline`; a permanent failure (403, 404, 409, 422) is thrown at once, classified.
 */
export async function withRetry<T>(op: KubeOperation, call: () => Promise<T>, options: RetryOptions): Promise<T> {
  const now = options.now ?? Date.now;
  const started = now();
  let delay = 250;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const error = classify(err, op);
      if (error.kind === 'unreachable') options.onUnreachable?.();
      if (error.kind !== 'unreachable' && !options.alsoTransient?.(error)) throw error;
      const wait = Math.min(delay, 8_000) * (0.8 + Math.random() * 0.4);
      if (now() + wait > options.deadline) {
        const seconds = Math.round((now() - started) / 1000);
        throw new KubeApiError(
          'unreachable',
          error.code,
          op,
          `${error.message}; retried for ${seconds}s without an answer, so the run stopped in a safe state: run again once the API server is reachable`,
        );
      }
      options.onRetry?.(error, attempt, wait);
      await sleep(wait);
      delay *= 2;
    }
  }
}
