// The common anchor-rotation recipe that linkerd-rotator replaces, scripted as users run it: renew
// the anchor, renew the issuer, restart the control plane, restart the data plane namespace by
// namespace, then overwrite the "previous" anchor -- with fixed sleeps between steps and no check
// that any step took effect. Used as the negative control (it must break mTLS) and as a baseline.
import type { Cluster } from '../cluster/src/index.js';

export interface RecipeOptions {
  /** The recipe's own fixed sleeps, in ms (the published recipe uses 120+120+20+60+60 s). */
  sleepsMs: { afterAnchor: number; afterIssuer: number; afterControlPlane: number; perNamespace: number; beforeRetire: number };
  linkerdNamespace?: string;
  dataPlaneNamespaces: string[];
  log?: (m: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What `cmctl renew` does: mark the Certificate Issuing through its status subresource. */
export async function cmctlRenew(cluster: Cluster, ns: string, name: string): Promise<void> {
  const cert = JSON.parse((await cluster.kubectl(['-n', ns, 'get', 'certificate', name, '-o', 'json'])).stdout) as { status?: { conditions?: unknown[] } };
  const conditions = (cert.status?.conditions ?? []).filter((c) => (c as { type: string }).type !== 'Issuing');
  conditions.push({
    type: 'Issuing', status: 'True', reason: 'ManuallyTriggered', message: 'Certificate re-issuance manually triggered',
    lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  });
  await cluster.kubectl(['-n', ns, 'patch', 'certificate', name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { conditions } })]);
}

export async function runCommonRecipe(cluster: Cluster, opts: RecipeOptions): Promise<void> {
  const log = opts.log ?? (() => undefined);
  const l5d = opts.linkerdNamespace ?? 'linkerd';
  const s = opts.sleepsMs;
  log('recipe: keep the current anchor as "previous", renew the trust anchor');
  const anchor = JSON.parse((await cluster.kubectl(['-n', 'cert-manager', 'get', 'secret', 'linkerd-trust-anchor', '-o', 'json'])).stdout) as { data: Record<string, string> };
  await cluster.kubectl(['-n', 'cert-manager', 'create', 'secret', 'generic', 'linkerd-previous-anchor', `--from-literal=tls.crt=${Buffer.from(anchor.data['tls.crt']!, 'base64').toString()}`, '--dry-run=client', '-o', 'yaml'])
    .then((r) => cluster.kubectl(['apply', '-f', '-'], { input: r.stdout }));
  await cmctlRenew(cluster, 'cert-manager', 'linkerd-trust-anchor');
  await sleep(s.afterAnchor);
  log('recipe: renew the identity issuer');
  await cmctlRenew(cluster, l5d, 'linkerd-identity-issuer');
  await sleep(s.afterIssuer);
  log('recipe: restart the control plane');
  await cluster.kubectl(['-n', l5d, 'rollout', 'restart', 'deployment']);
  await cluster.kubectl(['-n', l5d, 'rollout', 'status', 'deployment', '--timeout=300s']);
  await sleep(s.afterControlPlane);
  for (const ns of opts.dataPlaneNamespaces) {
    log(`recipe: restart the data plane in ${ns}`);
    await cluster.kubectl(['-n', ns, 'rollout', 'restart', 'deployment']);
    await cluster.kubectl(['-n', ns, 'rollout', 'status', 'deployment', '--timeout=300s']);
    await sleep(s.perNamespace);
  }
  await sleep(s.beforeRetire);
  log('recipe: overwrite the previous anchor with the new one');
  const current = JSON.parse((await cluster.kubectl(['-n', 'cert-manager', 'get', 'secret', 'linkerd-trust-anchor', '-o', 'json'])).stdout) as { data: Record<string, string> };
  await cluster.kubectl(['-n', 'cert-manager', 'patch', 'secret', 'linkerd-previous-anchor', '--type=merge', '-p', JSON.stringify({ data: { 'tls.crt': current.data['tls.crt'] } })]);
}
