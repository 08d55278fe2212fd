// Waiter: a gate is re-checked on a fresh snapshot whenever a watched collection changes (pods,
// workloads, bundles, Secrets, Certificates, identity events), at a clock gate's opening time, and,
// for the injector gate, by asking the proxy-injector again with backoff (no watch can tell when
// its mounted bundle file changes). Never a fixed sleep: the deadline is the only timer that ends it.
import type { WaitCondition, Waiter } from '@linkerd-rotator/rotation';
import type { AnyCollection } from '../collection.js';
import type { ClusterCache } from './cache.js';
import type { AdapterContext } from './context.js';
import { KubeApiError } from '../errors.js';
import type { KubeClusterReader } from './reader.js';
import { wakeOn } from './wake.js';

/** Injector re-asks: 0.5 s doubling to 8 s. */
export const injectorBackoff = (attempt: number): number => Math.min(500 * 2 ** attempt, 8_000);

export class KubeWaiter implements Waiter {
  constructor(
    private readonly ctx: AdapterContext,
    private readonly cache: ClusterCache,
    private readonly reader: KubeClusterReader,
  ) {}

  async waitFor(condition: WaitCondition, deadline: number): Promise<'satisfied' | 'timeout'> {
    const sources = condition.gate.watch;
    const collections = new Set<AnyCollection>();
    for (const source of sources.length > 0 ? sources : (['pods', 'workloads', 'bundles', 'anchor-secrets', 'public-view', 'prepared-anchor', 'issuer', 'identity-events'] as const)) {
      for (const c of this.cache.forSource(source)) collections.add(c);
    }
    const injector = sources.includes('injector');
    const satisfied = await wakeOn(
      async (reason) => {
        try {
          const snapshot = await this.reader.readSnapshot({ forceInjector: injector && reason === 'recheck', deadline });
          return condition.satisfied(snapshot);
        } catch (err) {
          // An unreachable API is ridden out until the deadline; anything else (a 403) ends the wait.
          if (err instanceof KubeApiError && err.kind === 'unreachable') return undefined;
          throw err;
        }
      },
      {
        collections: [...collections],
        deadline,
        now: this.ctx.now,
        ...(condition.gate.notBefore !== undefined ? { alarms: [condition.gate.notBefore] } : {}),
        ...(injector ? { recheck: injectorBackoff } : {}),
      },
    );
    return satisfied ? 'satisfied' : 'timeout';
  }
}
