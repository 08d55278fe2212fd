// The exporter's HTTP endpoints on a real port: liveness, readiness that follows the cache's sync,
// the Prometheus text with the PKI series, and clear answers for anything else.
import { Registry } from 'prom-client';
import { StaticExporterSource } from '@linkerd-rotator/kube/testing';
import { DEFAULT_OBJECT_NAMES as names } from '@linkerd-rotator/names';
import { EXPORTER_METRICS, registerExporterMetrics } from '../src/metrics.js';
import { startMetricsServer, type RunningMetricsServer } from '../src/server.js';

describe('exporter metrics server', () => {
  let server: RunningMetricsServer;
  const source = new StaticExporterSource({ trustRoots: [], pods: [], podsWatched: true }, false);

  beforeAll(async () => {
    const registry = new Registry();
    registerExporterMetrics(registry, { source, names });
    server = await startMetricsServer({ registry, isReady: () => source.isSynced(), listen: { address: '127.0.0.1', port: 0 } });
  });

  afterAll(() => server.close());

  const get = async (path: string, method = 'GET') => {
    const res = await fetch(`http://127.0.0.1:${server.port}${path}`, { method });
    return { status: res.status, body: await res.text() };
  };

  it('is live at once, and ready only once the cache has synced', async () => {
    expect(await get('/healthz')).toEqual({ status: 200, body: 'ok\n' });
    expect((await get('/readyz')).status).toBe(503);
    expect((await get('/metrics')).body).toContain(`${EXPORTER_METRICS.synced} 0`);
    source.set(source.current(), true);
    expect(await get('/readyz')).toEqual({ status: 200, body: 'ok\n' });
    const metrics = await get('/metrics');
    expect(metrics.body).toContain(`${EXPORTER_METRICS.synced} 1`);
    expect(metrics.body).toContain(`${EXPORTER_METRICS.phase}{phase="Idle"} 1`);
  });

  it('answers 404 for other paths and 405 for other methods', async () => {
    expect(await get('/validate')).toEqual({ status: 404, body: 'not found; the exporter serves /metrics, /healthz and /readyz\n' });
    expect((await get('/metrics', 'POST')).status).toBe(405);
  });
});
