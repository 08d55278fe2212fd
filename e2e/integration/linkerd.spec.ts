// Linkerd's control plane on the local cluster: identity (a pod-backed process) certifies a real
// CSR with a real ServiceAccount token, follows rollouts of its Deployment, and the proxy-injector
// stamps meshed pods with the trust bundle they start with.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash } from 'node:crypto';
import { waitFor } from '../cluster/src/index.js';
import { installLinkerd, type LinkerdHandle } from '../cluster/src/linkerd/install.js';
import { createNamespace, useCluster } from '../support/cluster.js';

const testCluster = useCluster();
import { certify, identityName } from '../support/identity-client.js';
import { applyLinkerdDocsPki } from '../support/linkerd-docs-pki.js';

const kubectl = (args: string[], input?: string) => testCluster().kubectl(args, input === undefined ? {} : { input });
const b64 = (s: string) => Buffer.from(s, 'base64').toString();

let linkerd: LinkerdHandle;

beforeAll(async () => {
  await applyLinkerdDocsPki(testCluster());
  linkerd = await installLinkerd(testCluster(), { issuanceLifetime: '1h0m0s' });
}, 600_000);

// kwok marks pods Ready at once and the injector's webhook fails open, so a pod created before the
// injector process serves runs unmeshed (CI saw meshed-traffic specs wait for proxies that never
// came). installLinkerd returns only when identity and the injector answer /ready.
it('returns with identity and the injector serving: a pod created at once is meshed', async () => {
  const ready = linkerd.processes().filter((p) => p.ready).map((p) => p.component).sort();
  expect(ready).toEqual(expect.arrayContaining(['identity', 'proxy-injector']));
  const ns = await createNamespace('meshed-at-once', { annotations: { 'linkerd.io/inject': 'enabled' } });
  await kubectl(['-n', ns, 'run', 'web', '--image=example.invalid/web:1']);
  const pod = JSON.parse((await kubectl(['-n', ns, 'get', 'pod', 'web', '-o', 'json'])).stdout) as { spec: { containers: Array<{ name: string }> } };
  expect(pod.spec.containers.map((c) => c.name)).toContain('linkerd-proxy');
});

async function podToken(ns: string, sa: string, pod: string): Promise<string> {
  const out = await kubectl(['-n', ns, 'create', 'token', sa, '--audience=identity.l5d.io', `--bound-object-kind=Pod`, `--bound-object-name=${pod}`, '--duration=1h']);
  return out.stdout.trim();
}

describe('Linkerd identity as a pod-backed process', () => {
  it('certifies a CSR sent over gRPC with a real ServiceAccount token; the leaf chains to the trust anchor', async () => {
    const ns = await createNamespace('ident');
    await kubectl(['-n', ns, 'create', 'serviceaccount', 'web']);
    await kubectl(['-n', ns, 'run', 'web', '--image=example.invalid/web:1', '--overrides={"spec":{"serviceAccountName":"web"}}']);
    await kubectl(['-n', ns, 'wait', '--for=condition=Ready', 'pod/web', '--timeout=60s']);
    const name = identityName('web', ns);
    const leafResult = await certify(linkerd.identityAddr, name, await podToken(ns, 'web', 'web'));

    const leaf = new x509.X509Certificate(leafResult.leafDer);
    const issuerSecret = JSON.parse((await kubectl(['-n', 'linkerd', 'get', 'secret', 'linkerd-identity-issuer', '-o', 'json'])).stdout) as { data: Record<string, string> };
    const issuer = new x509.X509Certificate(b64(issuerSecret.data['tls.crt']!));
    const anchorSecret = JSON.parse((await kubectl(['-n', 'cert-manager', 'get', 'secret', 'linkerd-trust-anchor', '-o', 'json'])).stdout) as { data: Record<string, string> };
    const anchor = new x509.X509Certificate(b64(anchorSecret.data['tls.crt']!));

    const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
    expect(san?.names.items.map((n) => n.value)).toContain(name);
    expect(await leaf.verify({ publicKey: issuer.publicKey, signatureOnly: true })).toBe(true);
    expect(await issuer.verify({ publicKey: anchor.publicKey, signatureOnly: true })).toBe(true);
    expect(await leaf.verify({ publicKey: anchor.publicKey, signatureOnly: true })).toBe(false);
    expect(leafResult.validUntil.getTime()).toBeGreaterThan(Date.now());
  });

  it('refuses a token for another identity', async () => {
    const ns = await createNamespace('ident-bad');
    await kubectl(['-n', ns, 'create', 'serviceaccount', 'web']);
    await kubectl(['-n', ns, 'create', 'serviceaccount', 'other']);
    await kubectl(['-n', ns, 'run', 'web', '--image=example.invalid/web:1', '--overrides={"spec":{"serviceAccountName":"web"}}']);
    await kubectl(['-n', ns, 'wait', '--for=condition=Ready', 'pod/web', '--timeout=60s']);
    await expect(certify(linkerd.identityAddr, identityName('other', ns), await podToken(ns, 'web', 'web'))).rejects.toThrow();
  });

  it('restarts the identity process when its Deployment is rolled', async () => {
    const before = linkerd.processes().filter((p) => p.component === 'identity');
    expect(before).toHaveLength(1);
    await kubectl(['-n', 'linkerd', 'rollout', 'restart', 'deployment/linkerd-identity']);
    await kubectl(['-n', 'linkerd', 'rollout', 'status', 'deployment/linkerd-identity', '--timeout=120s']);
    const after = await waitFor(
      () => {
        const now = linkerd.processes().filter((p) => p.component === 'identity');
        return now.length === 1 && now[0]!.pod !== before[0]!.pod ? now : undefined;
      },
      { what: 'exactly one identity process, for the new pod', timeoutMs: 120_000 },
    );
    expect(after[0]!.pid).not.toBe(before[0]!.pid);
    expect(() => process.kill(before[0]!.pid, 0)).toThrow();
  });
});

describe('Linkerd proxy-injector', () => {
  it('injects the trust anchors env and trust-root-sha256 annotation into pods of an annotated namespace', async () => {
    const ns = await createNamespace('meshed', { annotations: { 'linkerd.io/inject': 'enabled' } });
    await kubectl(['-n', ns, 'run', 'app', '--image=example.invalid/app:1']);
    const pod = JSON.parse((await kubectl(['-n', ns, 'get', 'pod', 'app', '-o', 'json'])).stdout) as {
      metadata: { annotations: Record<string, string> };
      spec: { containers: { name: string; env?: { name: string; value?: string }[] }[] };
    };
    const cm = JSON.parse((await kubectl(['-n', 'linkerd', 'get', 'configmap', 'linkerd-identity-trust-roots', '-o', 'json'])).stdout) as { data: Record<string, string> };
    const bundle = cm.data['ca-bundle.crt']!;
    const proxy = pod.spec.containers.find((c) => c.name === 'linkerd-proxy');
    expect(proxy).toBeDefined();
    // Upstream renders the env from the trimmed PEM plus one newline; the hash is of the file as read.
    expect(proxy!.env?.find((e) => e.name === 'LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS')?.value?.trim()).toBe(bundle.trim());
    expect(pod.metadata.annotations['linkerd.io/trust-root-sha256']).toBe(createHash('sha256').update(bundle).digest('hex'));

    const plain = await createNamespace('plain');
    await kubectl(['-n', plain, 'run', 'app', '--image=example.invalid/app:1']);
    const names = (await kubectl(['-n', plain, 'get', 'pod', 'app', '-o', 'jsonpath={.spec.containers[*].name}'])).stdout;
    expect(names).toBe('app');
  });
});
