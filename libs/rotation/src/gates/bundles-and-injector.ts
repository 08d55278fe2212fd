// Gates `bundles-synced`, `public-view-synced` and `injector-serves-bundle`: the anchor Secrets, the
// public PKI view, every trust-roots ConfigMap and the proxy-injector agree on the bundle a phase
// needs, before any pod is restarted.
import type { Decision } from '../decision.js';
import { gate, MAX_LISTED, type DecideContext } from '../phases/context.js';
import { publicViewSynced } from './public-view.js';
import { shortFp, type Fingerprint } from '../snapshot.js';
import { formatAnchors, sourceAnchors, syncedBundle } from '../trust.js';

export interface BundleRequirement {
  /** Anchors the bundle sources (and so every bundle) must hold. */
  readonly require: ReadonlySet<Fingerprint>;
  /** An anchor that must be gone from them (the retired one). */
  readonly forbid?: Fingerprint;
}

/**
 * Every target ConfigMap holds exactly what the sources say, the sources contain `require` and
 * not `forbid`, and the injector stamps that bundle: only then may pods be restarted.
 */
export function bundlesAndInjector(context: DecideContext, requirement: BundleRequirement): Decision | undefined {
  const { snapshot } = context;
  const { require, forbid } = requirement;
  const sources = sourceAnchors(snapshot);
  const expected = formatAnchors(sources);
  const missingSource = [...require].filter((fp) => !sources.has(fp));
  const forbiddenPresent = forbid !== undefined && sources.has(forbid);
  if (missingSource.length > 0 || forbiddenPresent) {
    return gate(context, {
      name: 'bundles-synced',
      summary: `waiting for the anchor Secrets to hold ${formatAnchors(require)}${forbid ? ` and not ${shortFp(forbid)}` : ''}; they hold ${expected}`,
      missing: [...missingSource.map((fp) => `anchor ${shortFp(fp)} in the bundle sources`), ...(forbiddenPresent ? [`anchor ${shortFp(forbid)} removed from the sources`] : [])],
      watch: ['anchor-secrets', 'prepared-anchor'],
    });
  }
  // The webhook judges trust-manager's next bundle by the public PKI view: it must show the Secrets first.
  const view = publicViewSynced(context);
  if (view) return view;
  const behind = snapshot.bundles.filter((b) => !sameSet(new Set(b.anchors), sources));
  if (snapshot.bundles.length === 0 || behind.length > 0) {
    return gate(context, {
      name: 'bundles-synced',
      summary:
        snapshot.bundles.length === 0
          ? `waiting for trust-manager to write ${context.objects.trustRoots} (${expected}); none found in any target namespace`
          : `waiting for trust-manager: ${behind.length} of ${snapshot.bundles.length} trust-roots ConfigMaps do not hold ${expected} yet`,
      missing: behind.slice(0, MAX_LISTED).map((b) => `${b.namespace}: holds ${formatAnchors(b.anchors)}`),
      watch: ['bundles'],
    });
  }
  const synced = syncedBundle(snapshot);
  if (!synced) {
    return gate(context, {
      name: 'bundles-synced',
      summary: 'waiting for every trust-roots ConfigMap to hold the same bundle text',
      missing: snapshot.bundles.map((b) => `${b.namespace}: sha256 ${b.sha256.slice(0, 16)}`).slice(0, MAX_LISTED),
      watch: ['bundles'],
    });
  }
  if (snapshot.injector?.trustRootSha256 !== synced.sha256) {
    return gate(context, {
      name: 'injector-serves-bundle',
      summary: `waiting for the proxy-injector to inject bundle ${synced.sha256.slice(0, 16)} (${expected}); it injects ${snapshot.injector ? snapshot.injector.trustRootSha256.slice(0, 16) : 'nothing (dry-run failed)'}`,
      missing: [`trust-root-sha256 ${synced.sha256.slice(0, 16)} from a dry-run pod create`],
      watch: ['injector'],
    });
  }
  return undefined;
}

function sameSet<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}
