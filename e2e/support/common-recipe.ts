// The common anchor-rotation recipe that linkerd-rotator replaces, scripted as users run it: renew
// the anchor, renew the issuer, restart the control plane, restart the data plane namespace by
// namespace, then overwrite the "previous" anchor -- with fixed sleeps between steps and no check
// that any step took effect. Used as the negative control (it must break mTLS) and as a baseline.
import { manuallyTriggered, type CertificateObject, type CertificateRequestObject } from '@linkerd-rotator/kube/rotation';
import { waitFor, type Cluster } from '../cluster/src/index.js';
import type { RunResult } from '../cluster/src/kubectl.js';

export interface RecipeOptions {
  /** The recipe's own fixed sleeps, in ms (the published recipe uses 120+120+20+60+60 s). */
  sleepsMs: { afterAnchor: number; afterIssuer: number; afterControlPlane: number; perNamespace: number; beforeRetire: number };
  linkerdNamespace?: string;
  dataPlaneNamespaces: string[];
  log?: (m: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Kubectl = (args: string[], input?: string) => Promise<RunResult>;

/**
 * What `cmctl renew` does (cmd/renew: SetCertificateCondition, then UpdateStatus): the condition
 * Issuing=True, reason ManuallyTriggered, written through the status subresource with the
 * Certificate's resourceVersion, so a status write cert-manager makes in between is a conflict
 * (read again and retried), never overwritten. The condition is the product's own
 * (`manuallyTriggered`). `kubectl` runs as someone else (e.g. the runner's ServiceAccount).
 * Returns the revision the Certificate had when the renewal was asked for.
 */
export async function cmctlRenew(cluster: Cluster, ns: string, name: string, kubectl?: Kubectl): Promise<number> {
  const run: Kubectl = kubectl ?? ((args, input) => cluster.kubectl(args, { allowFailure: true, ...(input === undefined ? {} : { input }) }));
  const must = async (args: string[], input?: string) => {
    const r = await run(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr.trim()}`);
    return r.stdout;
  };
  for (let attempt = 1; attempt <= 5; attempt++) {
    const cert = JSON.parse(await must(['-n', ns, 'get', 'certificate', name, '-o', 'json'])) as CertificateObject;
    const r = await run(['-n', ns, 'replace', '--subresource=status', '-f', '-'], JSON.stringify(manuallyTriggered(cert, Date.now())));
    if (r.code === 0) return cert.status?.revision ?? 0;
    if (!/Conflict|the object has been modified/i.test(r.stderr)) throw new Error(`expected to set Issuing=True on Certificate ${ns}/${name}, found kubectl replace failing: ${r.stderr.trim()}`);
  }
  throw new Error(`expected to set Issuing=True on Certificate ${ns}/${name}, found its status changing on each of 5 attempts`);
}

/**
 * Waits until Certificate ns/name is past `revision` and returns its new revision. On a timeout the
 * error shows the Certificate's conditions, its CertificateRequests and cert-manager's last log lines.
 */
export async function waitForReissue(cluster: Cluster, ns: string, name: string, revision: number, timeoutMs = 120_000): Promise<number> {
  const certificate = async () => JSON.parse((await cluster.kubectl(['-n', ns, 'get', 'certificate', name, '-o', 'json'])).stdout) as CertificateObject;
  let seen = '';
  return waitFor(
    async () => {
      const cert = await certificate();
      const now = cert.status?.revision ?? 0;
      if (now > revision) return now;
      const requests = JSON.parse((await cluster.kubectl(['-n', ns, 'get', 'certificaterequests', '-o', 'json'])).stdout) as { items: CertificateRequestObject[] };
      const mine = requests.items.filter((r) => r.metadata?.ownerReferences?.some((o) => o.kind === 'Certificate' && o.name === name));
      seen = [
        `Certificate ${ns}/${name}: revision ${now}, conditions ${JSON.stringify(cert.status?.conditions ?? [])}, failed issuance attempts ${cert.status?.failedIssuanceAttempts ?? 0} (last ${cert.status?.lastFailureTime ?? 'never'})`,
        `its CertificateRequests: ${mine.map((r) => `${r.metadata?.name} (revision ${r.metadata?.annotations?.['cert-manager.io/certificate-revision']}, ${JSON.stringify(r.status?.conditions ?? [])})`).join('; ') || '(none)'}`,
      ].join('\n');
      return undefined;
    },
    { what: `cert-manager to re-issue Certificate ${ns}/${name} past revision ${revision}`, timeoutMs, intervalMs: 250, diagnose: () => seen, process: cluster.process('cert-manager-controller') },
  );
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
