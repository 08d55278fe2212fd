// The exporter's only I/O besides its cache: plain HTTP with /metrics (Prometheus, computed at
// scrape time), /healthz (the process is up) and /readyz (every cache has listed its objects).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface MetricsServerDeps {
  registry: Registry;
  /** Ready once the cache has synced. */
  isReady: () => boolean;
  listen: { address: string; port: number };
}

export interface RunningMetricsServer {
  port: number;
  close(): Promise<void>;
}

type Route = (res: ServerResponse) => void;

const text = (res: ServerResponse, status: number, body: string) => res.writeHead(status, { 'content-type': 'text/plain' }).end(`${body}\n`);

export async function startMetricsServer(deps: MetricsServerDeps): Promise<RunningMetricsServer> {
  const routes: Record<string, Route> = {
    '/healthz': (res) => text(res, 200, 'ok'),
    '/readyz': (res) => (deps.isReady() ? text(res, 200, 'ok') : text(res, 503, 'exporter caches not synced from the API server yet')),
    '/metrics': (res) =>
      void deps.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': deps.registry.contentType }).end(body),
        () => text(res, 500, 'metrics unavailable'),
      ),
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const route = routes[(req.url ?? '/').split('?')[0] ?? '/'];
    if (req.method !== 'GET' && req.method !== 'HEAD') text(res, 405, 'method not allowed');
    else if (route) route(res);
    else text(res, 404, 'not found; the exporter serves /metrics, /healthz and /readyz');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(deps.listen.port, deps.listen.address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
