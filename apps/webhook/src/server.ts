// The webhook's I/O: express 5 over HTTPS for POST /validate, and a plain-HTTP server for
// /healthz, /readyz and /metrics. All policy lives in decide(); nothing here ever throws out.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { TrustSnapshotSource } from '@linkerd-rotator/kube/caches';
import { BundleCache } from '@linkerd-rotator/x509';
import { admissionResponse, parseAdmissionReview, type AdmissionRequest } from './admission.js';
import type { WebhookConfig } from './config.js';
import { decide, type Decision } from './decide.js';
import { createMetrics, registerServingCertificate, type WebhookMetrics } from './metrics.js';
import { loadTlsMaterial, TlsReloader } from './tls.js';

export interface WebhookDeps {
  config: WebhookConfig;
  source: TrustSnapshotSource;
  logger: Logger;
  metrics?: WebhookMetrics;
  /** Injected clock, for tests. */
  now?: () => Date;
}

export interface RunningWebhook {
  admissionPort: number;
  metricsPort: number;
  metrics: WebhookMetrics;
  tls: TlsReloader;
  /** The HTTPS server (for TlsReloader.check in tests). */
  server: HttpsServer;
  close(): Promise<void>;
}

function resourceLabel(request: AdmissionRequest | undefined): string {
  return request?.resource.resource ?? 'unknown';
}

/** The admission app: POST /validate. Exported separately so tests can mount it. */
export function createAdmissionApp(deps: WebhookDeps & { metrics: WebhookMetrics }): express.Express {
  const { config, source, logger, metrics } = deps;
  const now = deps.now ?? (() => new Date());
  const cache = new BundleCache(64);
  const app = express();
  app.disable('x-powered-by');
  // No ETag: nothing caches an AdmissionReview response, and express would hash every body for it.
  app.disable('etag');

  app.post('/validate', express.raw({ type: () => true, limit: config.maxRequestBytes }), async (req: Request, res: Response) => {
    const started = process.hrtime.bigint();
    const body: Uint8Array = Buffer.isBuffer(req.body) ? req.body : new Uint8Array();
    const parsed = parseAdmissionReview(body);
    let request: AdmissionRequest | undefined;
    let decision: Decision | undefined;
    let verdict: 'allowed' | 'denied' | 'error' | 'invalid';

    if (!parsed.ok && !('uid' in parsed)) {
      metrics.requests.inc({ resource: 'unknown', operation: 'unknown', verdict: 'invalid' });
      logger.warn({ bytes: body.length, error: parsed.error }, 'rejected a malformed admission request');
      res.status(parsed.status).json({ error: parsed.error });
      return;
    }
    let uid: string;
    if (!parsed.ok) {
      uid = parsed.uid;
      verdict = 'invalid';
      decision = { allowed: false, object: 'other', code: 400, message: parsed.error, reasons: [parsed.error], warnings: [] };
    } else {
      request = parsed.request;
      uid = request.uid;
      try {
        decision = await decide(request, source.current(), {
          names: config.names,
          now: now(),
          limits: config.limits,
          synced: source.isSynced(),
          cache,
          allowDeleteBy: config.allowDeleteBy,
          allowOwnerReferencesBy: config.allowOwnerReferencesBy,
        });
        verdict = decision.allowed ? 'allowed' : 'denied';
      } catch (err) {
        // Fail closed, but say so: the user sees why the write was refused.
        verdict = 'error';
        logger.error({ uid, err }, 'admission decision failed');
        const message = `linkerd-rotator could not evaluate this request because of an internal error (request ${uid}), so the write was refused; these objects fail closed, see the linkerd-rotator webhook logs`;
        decision = { allowed: false, object: 'other', code: 500, message, reasons: [message], warnings: [] };
      }
    }

    const operation = request?.operation ?? 'unknown';
    const resource = resourceLabel(request);
    metrics.requests.inc({ resource, operation, verdict });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.duration.observe({ resource, operation }, seconds);
    const fields = {
      uid,
      resource,
      operation,
      namespace: request?.namespace,
      name: request?.name,
      user: request?.userInfo?.username,
      object: decision.object,
      verdict,
      reasons: decision.reasons,
      warnings: decision.warnings.length,
      ms: Math.round(seconds * 1e4) / 10,
    };
    if (decision.allowed) logger.debug(fields, 'admission allowed');
    else logger.info(fields, 'admission denied');
    res.status(200).json(admissionResponse(uid, decision));
  });

  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: 'not found; the admission endpoint is POST /validate' });
  });

  // Body-parser errors (too large, aborted, bad encoding) and anything else: a clear JSON answer.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { status?: number; statusCode?: number; type?: string; length?: number; limit?: number; message?: string };
    const status = e.status ?? e.statusCode ?? 500;
    const error =
      e.type === 'entity.too.large'
        ? `the request body is ${e.length ?? 'over'} bytes, over the limit of ${e.limit ?? config.maxRequestBytes}; no trust bundle needs that much`
        : status < 500
          ? `bad request (${e.type ?? e.message ?? 'unreadable body'})`
          : 'internal error';
    metrics.requests.inc({ resource: 'unknown', operation: 'unknown', verdict: status < 500 ? 'invalid' : 'error' });
    if (status >= 500) logger.error({ err }, 'admission request failed');
    else logger.warn({ status, type: e.type }, 'rejected an unreadable admission request');
    if (!res.headersSent) res.status(status).json({ error });
  });
  return app;
}

/** /healthz (process up), /readyz (snapshot synced), /metrics (Prometheus). */
export function createMetricsServer(source: TrustSnapshotSource, metrics: WebhookMetrics): HttpServer {
  return createHttpServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain' }).end('method not allowed\n');
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      if (source.isSynced()) res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      else res.writeHead(503, { 'content-type': 'text/plain' }).end('trust state not synced from the API server yet\n');
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
}

function listen(server: HttpServer | HttpsServer, port: number, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Starts both servers. Ports of 0 pick free ports (tests, bench). */
export async function startWebhook(deps: WebhookDeps): Promise<RunningWebhook> {
  const { config, logger } = deps;
  const metrics = deps.metrics ?? createMetrics();
  const material = loadTlsMaterial(config.tls.certFile, config.tls.keyFile);
  const app = createAdmissionApp({ ...deps, metrics });
  const https = createHttpsServer({ cert: material.cert, key: material.key, minVersion: 'TLSv1.2' }, app);
  // The API server keeps connections open; keep them alive longer than its idle timeout.
  https.keepAliveTimeout = 65_000;
  const tls = new TlsReloader(config.tls.certFile, config.tls.keyFile, material, {
    intervalMs: config.tls.reloadIntervalMs,
    logger,
    onReload: (result) => metrics.tlsReloads.inc({ result }),
  });
  registerServingCertificate(metrics, { leaf: () => tls.material.leaf, namespace: config.names.releaseNamespace });
  const plain = createMetricsServer(deps.source, metrics);
  const admissionPort = await listen(https, config.listen.port, config.listen.address);
  const metricsPort = await listen(plain, config.metricsListen.port, config.metricsListen.address);
  tls.start(https);
  logger.info({ admissionPort, metricsPort, servingCertificate: material.fingerprint }, 'webhook listening');
  return {
    admissionPort,
    metricsPort,
    metrics,
    tls,
    server: https,
    close: async () => {
      tls.stop();
      https.closeAllConnections();
      plain.closeAllConnections();
      await Promise.all([
        new Promise<void>((r) => https.close(() => r())),
        new Promise<void>((r) => plain.close(() => r())),
      ]);
    },
  };
}
