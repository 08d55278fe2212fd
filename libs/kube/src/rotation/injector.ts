// The proxy-injector check: a server-side dry-run pod create in a meshed namespace, and the
// `linkerd.io/trust-root-sha256` the injector stamped on it. Nothing is created (dryRun=All), and
// the answer is kept while the bundles stay the same, so a snapshot does not cost a request each.
import type { V1Pod } from '@kubernetes/client-node';
import type { InjectorFacts } from '@linkerd-rotator/rotation';
import type { AdapterContext } from './context.js';
import { classify, type KubeApiError } from '../errors.js';
import { TRUST_ROOT_ANNOTATION } from '../linkerd.js';

/** An answer older than this is asked again even if the bundles did not change (the injector may have restarted). */
const MAX_AGE_MS = 30_000;
const MAX_NAMESPACES_TRIED = 3;

export interface InjectorAnswer {
  readonly facts?: InjectorFacts;
  /** Why there is no answer: the dry-run failed, or the pod came back without the annotation. */
  readonly problem?: string;
  readonly namespace?: string;
  readonly error?: KubeApiError;
}

export function probePod(): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'linkerd-rotator-injector-probe-',
      annotations: { 'linkerd.io/inject': 'enabled' },
      labels: { 'app.kubernetes.io/name': 'linkerd-rotator', 'app.kubernetes.io/component': 'injector-probe' },
    },
    spec: {
      automountServiceAccountToken: false,
      containers: [{ name: 'probe', image: 'linkerd-rotator.invalid/injector-probe:dry-run' }],
    },
  };
}

export class InjectorProbe {
  private cached: { key: string; at: number; answer: InjectorAnswer } | undefined;
  private preferred: string | undefined;

  /** `namespace`: probe only there (the chart's `rbac.podDryRun.mode: namespaces`); else meshed namespaces. */
  constructor(
    private readonly ctx: AdapterContext,
    private readonly namespace?: string,
  ) {}

  /** The answer for the current bundles (`key`), probing when it changed, is stale, or `force`. */
  async answer(key: string, candidates: readonly string[], force = false): Promise<InjectorAnswer> {
    const now = this.ctx.now();
    if (!force && this.cached && this.cached.key === key && now - this.cached.at < MAX_AGE_MS) return this.cached.answer;
    const answer = await this.probe(candidates);
    this.cached = { key, at: now, answer };
    return answer;
  }

  private async probe(candidates: readonly string[]): Promise<InjectorAnswer> {
    const order = this.namespace ? [this.namespace] : [...new Set([...(this.preferred ? [this.preferred] : []), ...candidates])].slice(0, MAX_NAMESPACES_TRIED);
    if (order.length === 0) return { problem: 'no meshed namespace to dry-run a pod in (set --injector-namespace)' };
    let last: InjectorAnswer = {};
    for (const namespace of order) {
      const op = { verb: 'create (dry-run)', resource: 'pods', namespace };
      try {
        // One attempt, no retry: a failing or slow injector must not hold the run; the gate asks again.
        const pod = await this.ctx.core.createNamespacedPod({ namespace, body: probePod(), dryRun: 'All', fieldManager: 'linkerd-rotator' });
        const hash = pod.metadata?.annotations?.[TRUST_ROOT_ANNOTATION];
        this.preferred = namespace;
        if (!hash) {
          return { namespace, problem: `the dry-run pod in namespace ${namespace} came back without ${TRUST_ROOT_ANNOTATION}: the proxy-injector did not inject it (is its webhook registered for this namespace?)` };
        }
        return { namespace, facts: { trustRootSha256: hash } };
      } catch (err) {
        const error = classify(err, op);
        last = { namespace, error, problem: error.message };
        // Another namespace may work: a terminating or deleted namespace, or RBAC granted per namespace.
        if (error.kind === 'forbidden' || error.kind === 'not-found') continue;
        return last;
      }
    }
    return last;
  }
}
