// Linkerd's certificate verifier for the e2e tier: builds (or reuses) webpki-verify, keeps one
// process running and asks it about chains over JSON lines, so thousands of handshakes cost one spawn.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const buildScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'build.sh');

export interface WebpkiRequest {
  /** Trust anchors as the proxy loaded them at start, PEM (a string may hold several certificates). */
  roots: readonly string[];
  /** The leaf first, then the intermediates in the order the peer presents them, PEM. */
  chain: readonly string[];
  /**
   * "server": a client verifying a server's chain, and a proxy checking its own new leaf
   * (KeyUsage::server_auth); "client": a server verifying a client's chain (client_auth).
   */
  usage: 'server' | 'client';
  /** The instant to verify at. */
  at: Date;
  /** A DNS identity the leaf must carry as a SAN (Linkerd's identity check), when given. */
  serverName?: string;
}

export type WebpkiVerdict =
  | { ok: true; /** Index into `roots` of the anchor the path ended at. */ anchorIndex: number; intermediatesUsed: number }
  | { ok: false; /** webpki's error variant, e.g. "UnknownIssuer". */ error: string; detail: string };

/** Builds webpki-verify unless the cache holds a binary of the same sources; resolves with its path. */
export function buildWebpkiVerify(onLine: (line: string) => void = () => undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [buildScript], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    createInterface({ input: child.stderr }).on('line', onLine);
    child.once('error', reject);
    child.once('close', (code) => {
      const binary = stdout.trim().split('\n').pop() ?? '';
      if (code === 0 && binary) resolve(binary);
      else reject(new Error(`expected ${buildScript} to print the webpki-verify binary, found exit code ${code}; read its [webpki-verify] lines above and rerun it`));
    });
  });
}

interface Pending {
  resolve: (verdict: WebpkiVerdict) => void;
  reject: (err: Error) => void;
}

/** One running webpki-verify process. Answers come back in request order; ids pair them anyway. */
export class WebpkiVerifier {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stderrTail = '';
  private exited: Error | undefined;
  private closing = false;
  private readonly exit: Promise<void>;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    /** The rustls-webpki version the binary was built with, from its cache directory's name. */
    readonly rustlsWebpkiVersion: string,
  ) {
    createInterface({ input: child.stdout }).on('line', (line) => this.onAnswer(line));
    child.stderr.on('data', (chunk: Buffer) => (this.stderrTail = (this.stderrTail + chunk.toString()).slice(-2000)));
    this.exit = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exited = new Error(
          `expected webpki-verify (pid ${child.pid}) to keep running, found it exited (code ${code}, signal ${signal}); its stderr: ${this.stderrTail.trim() || '(empty)'}; rerun e2e/cluster/webpki/build.sh`,
        );
        for (const waiter of this.pending.values()) waiter.reject(this.exited);
        this.pending.clear();
        resolve();
      }),
    );
  }

  /** Builds or reuses the binary (unless `binary` is given) and starts one process. */
  static async start(options: { binary?: string; onBuildLine?: (line: string) => void } = {}): Promise<WebpkiVerifier> {
    const binary = options.binary ?? (await buildWebpkiVerify(options.onBuildLine));
    const version = /webpki-verify-([^/]+)\/webpki-verify$/.exec(binary)?.[1] ?? 'unknown';
    const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    return new WebpkiVerifier(child, version);
  }

  verify(request: WebpkiRequest): Promise<WebpkiVerdict> {
    if (this.exited) return Promise.reject(this.exited);
    // A handshake that lands while the plane shuts down: stdin is ended, and a write would raise
    // 'write after end' on the stream, outside any caller.
    if (this.closing) return Promise.reject(new Error(`expected webpki-verify (pid ${this.child.pid}) to take requests, found it closing`));
    const id = this.nextId++;
    const line = JSON.stringify({
      id,
      roots: request.roots,
      chain: request.chain,
      usage: request.usage,
      atUnixSeconds: Math.floor(request.at.getTime() / 1000),
      ...(request.serverName === undefined ? {} : { serverName: request.serverName }),
    });
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin.write(line + '\n');
    });
  }

  /** Closes stdin and waits for the process to finish the requests it has and exit. */
  async close(): Promise<void> {
    this.closing = true;
    if (!this.exited) this.child.stdin.end();
    await this.exit;
  }

  private onAnswer(line: string): void {
    const answer = JSON.parse(line) as { id: number | null } & ({ ok: true; anchorIndex: number | null; intermediatesUsed: number } | { ok: false; error: string; detail: string });
    const waiter = answer.id === null ? undefined : this.pending.get(answer.id);
    if (!waiter || answer.id === null) {
      // Answers can no longer be paired with requests: fail them all rather than guess.
      const mismatch = new Error(`expected an answer to a pending request, found ${line.slice(0, 200)}; the client and webpki-verify disagree on the protocol`);
      for (const pending of this.pending.values()) pending.reject(mismatch);
      this.pending.clear();
      this.child.kill();
      return;
    }
    this.pending.delete(answer.id);
    if (!answer.ok) {
      if (answer.error === 'BadRequest') waiter.reject(new Error(`webpki-verify refused the request: ${answer.detail}`));
      else waiter.resolve({ ok: false, error: answer.error, detail: answer.detail });
    } else if (answer.anchorIndex === null) {
      waiter.reject(new Error('expected webpki-verify to name the anchor of a verified path, found none; this is a bug in src/main.rs'));
    } else {
      waiter.resolve({ ok: true, anchorIndex: answer.anchorIndex, intermediatesUsed: answer.intermediatesUsed });
    }
  }
}
