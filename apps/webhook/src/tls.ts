// The serving certificate and key, read from files and re-read when they change on disk (cert-manager
// renews them; the kubelet swaps the mounted files), applied with server.setSecureContext.
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { Server } from 'node:https';
import { parseBundle, sha256Hex, shortFingerprint, type ParsedCertificate } from '@linkerd-rotator/x509';

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** Short SHA-256 of the serving certificate's DER, for logs. */
  fingerprint: string;
  notAfter?: Date;
  /** The serving certificate itself (the first of the file), for its metrics. */
  leaf?: ParsedCertificate;
}

export interface TlsLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** Reads and validates both files; throws with a message naming the files, never their content. */
export function loadTlsMaterial(certFile: string, keyFile: string): TlsMaterial {
  const cert = readFileSync(certFile);
  const key = readFileSync(keyFile);
  try {
    // Fails when the key does not match the certificate, or either cannot be parsed.
    createSecureContext({ cert, key });
  } catch (err) {
    throw new Error(`${certFile} and ${keyFile} are not a usable certificate and matching key (${(err as { code?: string }).code ?? 'invalid'})`);
  }
  const leaf = parseBundle(cert.toString('utf8')).certificates[0];
  return { cert, key, fingerprint: leaf ? shortFingerprint(leaf.fingerprint) : 'unknown', notAfter: leaf?.notAfter, ...(leaf ? { leaf } : {}) };
}

/**
 * Polls the files' content (robust to the kubelet's symlink swap, which file watchers miss) and
 * applies a new pair only when it loads and matches; a half-written or bad pair keeps the old one.
 */
export class TlsReloader {
  private timer: NodeJS.Timeout | undefined;
  private lastDigest: string;

  constructor(
    private readonly certFile: string,
    private readonly keyFile: string,
    private current: TlsMaterial,
    private readonly options: { intervalMs: number; logger: TlsLogger; onReload?: (result: 'loaded' | 'rejected', material?: TlsMaterial) => void },
  ) {
    this.lastDigest = sha256Hex(Buffer.concat([current.cert, current.key]));
  }

  get material(): TlsMaterial {
    return this.current;
  }

  start(server: Server): void {
    this.timer = setInterval(() => this.check(server), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Re-reads the files once; applies them if they changed and are valid. */
  check(server: Server): void {
    let cert: Buffer;
    let key: Buffer;
    try {
      cert = readFileSync(this.certFile);
      key = readFileSync(this.keyFile);
    } catch (err) {
      this.options.logger.warn({ certFile: this.certFile, keyFile: this.keyFile, error: (err as Error).message }, 'cannot read serving certificate files; keeping the current ones');
      return;
    }
    const digest = sha256Hex(Buffer.concat([cert, key]));
    if (digest === this.lastDigest) return;
    this.lastDigest = digest;
    try {
      const material = loadTlsMaterial(this.certFile, this.keyFile);
      server.setSecureContext({ cert: material.cert, key: material.key });
      this.current = material;
      this.options.logger.info({ fingerprint: material.fingerprint, notAfter: material.notAfter?.toISOString() }, 'serving certificate reloaded');
      this.options.onReload?.('loaded', material);
    } catch (err) {
      this.options.logger.warn({ error: (err as Error).message }, 'new serving certificate rejected; keeping the current one');
      this.options.onReload?.('rejected');
    }
  }
}
