// One connection pool per cluster and user for a KubeConfig. @kubernetes/client-node 2.0 creates a
// new undici Agent for every request, so each API call opened a new TCP+TLS connection and left a
// pool behind (about 60 ms per call and steadily growing memory in the benchmark); this reuses one.
import type { KubeConfig } from '@kubernetes/client-node';

type DispatcherFactory = (cluster: unknown, agentOptions: unknown) => unknown;

/** Makes every request (and watch) made with `kc` share one dispatcher per cluster and user. */
export function reuseConnections(kc: KubeConfig): KubeConfig {
  const target = kc as unknown as { createDispatcher: DispatcherFactory; getAgentCacheKey(cluster: unknown): string };
  const create = target.createDispatcher.bind(kc);
  const pools = new Map<string, unknown>();
  target.createDispatcher = (cluster, agentOptions) => {
    const key = target.getAgentCacheKey(cluster);
    if (!pools.has(key)) pools.set(key, create(cluster, agentOptions));
    return pools.get(key);
  };
  return kc;
}
