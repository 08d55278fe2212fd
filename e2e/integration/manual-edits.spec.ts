// Scenario 5 of issue 6: manual edits of Linkerd's trust roots and identity issuer, made with kubectl
// against the real API server, are judged by the chart's webhook (run from apps/webhook as the
// chart's ServiceAccount): each bad edit is denied with a message that says what is wrong, correct
// edits pass, and a webhook outage blocks only the guarded objects.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import {
  b64,
  credentialsFromPem,
  installRotator,
  names,
  secretData,
  trustRootsPem,
  waitForTrustRoots,
  type RotatorRelease,
} from '../support/chart.js';
import { useCluster } from '../support/cluster.js';

const testCluster = useCluster({ nodes: 1 });
const kubectl = (args: string[], input?: string, env?: NodeJS.ProcessEnv) =>
  testCluster().kubectl(args, { allowFailure: true, ...(input === undefined ? {} : { input }), ...(env ? { env } : {}) });
const L = names.linkerdNs;
const trustRootsDenied = 'admission webhook "trust-roots.linkerd-rotator.io" denied the request';
const issuerDenied = 'admission webhook "identity-issuer.linkerd-rotator.io" denied the request';

let rotator: RotatorRelease;
let active: Credentials;
let published: string;
const work = mkdtempSync(path.join(os.tmpdir(), 'manual-edits-'));

beforeAll(async () => {
  rotator = await installRotator(testCluster());
  const secret = await secretData(testCluster(), names.trustNs, names.active);
  active = await credentialsFromPem(secret['tls.crt']!, secret['tls.key']!);
  published = await trustRootsPem(testCluster());
}, 300_000);

afterAll(async () => {
  await rotator?.webhook.stop();
});

/** PEM blocks pasted one after another, as a user would. */
const pems = (...blocks: string[]) => blocks.map((b) => b.trim()).join('\n') + '\n';
const trustRoots = (bundle: string) =>
  JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: names.trustRoots, namespace: L }, data: { 'ca-bundle.crt': bundle } });

/** `kubectl edit` with an editor that sets ca-bundle.crt to `bundle` (as a user would by hand). */
async function kubectlEdit(bundle: string) {
  const script = path.join(work, 'editor.mjs');
  writeFileSync(
    script,
    `import { readFileSync, writeFileSync } from 'node:fs';
const file = process.argv[2];
const obj = JSON.parse(readFileSync(file, 'utf8'));
obj.data['ca-bundle.crt'] = readFileSync(process.env.NEW_BUNDLE_FILE, 'utf8');
writeFileSync(file, JSON.stringify(obj, null, 2));
`,
  );
  const bundleFile = path.join(work, `bundle-${Date.now()}.pem`);
  writeFileSync(bundleFile, bundle);
  return kubectl(['-n', L, 'edit', 'configmap', names.trustRoots, '--output=json'], undefined, {
    KUBE_EDITOR: `${process.execPath} ${script}`,
    NEW_BUNDLE_FILE: bundleFile,
  });
}

/** A denied write leaves the published bundle as trust-manager wrote it. */
async function expectUnchanged() {
  expect(await trustRootsPem(testCluster())).toBe(published);
}

describe('scenario 5: manual edits of the trust-roots ConfigMap', () => {
  it('kubectl apply without the active anchor is denied: the message names the missing anchor and where it comes from', async () => {
    const other = await fixtures.makeAnchor({ cn: 'someone-elses-root' });
    const r = await kubectl(['apply', '-f', '-'], trustRoots(other.certPem));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(trustRootsDenied);
    expect(r.stderr).toContain(`must contain the active trust anchor "CN=root.linkerd.cluster.local" (sha256:${active.fingerprint.slice(0, 16)}) from Secret cert-manager/${names.active}`);
    expect(r.stderr).toContain('"CN=someone-elses-root"');
    await expectUnchanged();
  });

  it('kubectl edit swapping the active anchor for an impostor (same subject, other key) is denied and the impostor is called out', async () => {
    const impostor = await fixtures.makeImpostor(active);
    expect(impostor.cert.subject).toBe(active.cert.subject);
    const r = await kubectlEdit(impostor.certPem);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(trustRootsDenied);
    expect(r.stderr).toContain(`(sha256:${impostor.fingerprint.slice(0, 16)}) has the same name but is a different certificate; anchors are matched by their DER bytes, never by name`);
    await expectUnchanged();
  });

  it('kubectl replace with a private key pasted into the bundle is denied; neither the message nor the webhook log repeats the key', async () => {
    const keyBody = active.keyPem.split('\n').filter((l) => l && !l.startsWith('-----'));
    for (const key of [active.keyPem, active.keyPemTraditional]) {
      const r = await kubectl(['replace', '-f', '-'], trustRoots(pems(published, key)));
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(trustRootsDenied);
      expect(r.stderr).toMatch(/contains a private key.*but it must hold only CERTIFICATE blocks; remove the key and treat it as exposed/);
      for (const line of [...keyBody, ...active.keyPemTraditional.split('\n').filter((l) => l && !l.startsWith('-----'))]) {
        expect(r.stderr).not.toContain(line);
      }
    }
    const log = rotator.webhook.log();
    for (const line of keyBody) expect(log).not.toContain(line);
    await expectUnchanged();
  });

  it('kubectl patch dropping the active anchor, or adding a certificate that is not a CA, is denied with the reason', async () => {
    const other = await fixtures.makeAnchor({ cn: 'patched-in-root' });
    const dropped = await kubectl(['-n', L, 'patch', 'configmap', names.trustRoots, '--type=merge', '-p', JSON.stringify({ data: { 'ca-bundle.crt': other.certPem } })]);
    expect(dropped.stderr).toContain(trustRootsDenied);
    expect(dropped.stderr).toContain('must contain the active trust anchor');

    const leaf = await fixtures.makeLeaf(active, { cn: 'web.default.serviceaccount.identity.linkerd.cluster.local' });
    const notCa = await kubectl(['-n', L, 'patch', 'configmap', names.trustRoots, '--type=merge', '-p', JSON.stringify({ data: { 'ca-bundle.crt': pems(published, leaf.certPem) } })]);
    expect(notCa.stderr).toContain(trustRootsDenied);
    expect(notCa.stderr).toContain('"CN=web.default.serviceaccount.identity.linkerd.cluster.local"');
    expect(notCa.stderr).toContain('is not a CA (basicConstraints cA is not TRUE), but every certificate in');
    await expectUnchanged();
  });

  it('kubectl delete is denied, saying why and how to uninstall', async () => {
    const r = await kubectl(['-n', L, 'delete', 'configmap', names.trustRoots]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${trustRootsDenied}: deleting ConfigMap ${L}/${names.trustRoots} is refused`);
    expect(r.stderr).toContain('to uninstall, delete the linkerd-rotator ValidatingWebhookConfiguration first');
    await expectUnchanged();
  });

  it('correct edits are allowed: kubectl edit adding a next anchor next to the active one, and kubectl label', async () => {
    const next = await fixtures.makeAnchor({ cn: 'root.linkerd.cluster.local' });
    const edited = await kubectlEdit(pems(published, next.certPem));
    expect(edited.stderr).not.toContain('denied');
    expect(edited.code).toBe(0);
    // With --output=json kubectl edit prints the saved object.
    expect(edited.stdout).toContain(next.certPem.split('\n')[1]);
    const labelled = await kubectl(['-n', L, 'label', 'configmap', names.trustRoots, 'example.com/reviewed=yes']);
    expect(labelled.stderr).toBe('');
    expect(labelled.code).toBe(0);
    // trust-manager owns the content and writes its bundle back; the webhook lets that through too.
    await waitForTrustRoots(testCluster(), [published], 'trust-manager to restore its bundle after the manual edit');
  });
});

describe('scenario 5: manual edits of the identity issuer Secret', () => {
  const issuerSecret = (issuer: Credentials, ca: string) =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: names.issuer, namespace: L },
      data: { 'tls.crt': b64(issuer.certPem), 'tls.key': b64(issuer.keyPem), 'ca.crt': b64(ca) },
    });

  it('a non-CA issuer and an issuer chained to a foreign anchor are denied; an issuer signed by the active anchor is allowed', async () => {
    const before = await secretData(testCluster(), L, names.issuer);
    const nonCa = await fixtures.makeLeaf(active, { cn: 'identity.linkerd.cluster.local' });
    const r1 = await kubectl(['replace', '-f', '-'], issuerSecret(nonCa, active.certPem));
    expect(r1.stderr).toContain(issuerDenied);
    expect(r1.stderr).toContain("is not a CA (basicConstraints cA is not TRUE), but Linkerd's identity controller signs proxy certificates with it");

    const foreignRoot = await fixtures.makeImpostor(active);
    const foreign = await fixtures.makeIssuer(foreignRoot, { cn: 'identity.linkerd.cluster.local' });
    const r2 = await kubectl(['replace', '-f', '-'], issuerSecret(foreign, foreignRoot.certPem));
    expect(r2.stderr).toContain(issuerDenied);
    expect(r2.stderr).toContain(`must chain to an anchor in the current trust bundle (ConfigMap ${L}/${names.trustRoots}`);
    expect(await secretData(testCluster(), L, names.issuer)).toEqual(before);

    const good = await fixtures.makeIssuer(active, { cn: 'identity.linkerd.cluster.local' });
    const r3 = await kubectl(['replace', '-f', '-'], issuerSecret(good, active.certPem));
    expect(r3.stderr).not.toContain('denied');
    expect(r3.code).toBe(0);
  });
});

describe('scenario 5: webhook outage', () => {
  it('with the webhook down, unrelated objects in Linkerd namespace and same-named objects elsewhere are written; the guarded objects fail closed', async () => {
    await rotator.webhook.stop();
    const unrelated = [
      await kubectl(['-n', L, 'create', 'configmap', 'unrelated-config', '--from-literal=a=b']),
      await kubectl(['-n', L, 'create', 'secret', 'generic', 'unrelated-secret', '--from-literal=a=b']),
      await kubectl(['-n', 'default', 'create', 'configmap', names.trustRoots, '--from-literal=ca-bundle.crt=not-linkerds']),
      await kubectl(['-n', 'default', 'create', 'secret', 'generic', names.issuer, '--from-literal=a=b']),
    ];
    expect(unrelated.map((r) => [r.code, r.stderr])).toEqual(unrelated.map(() => [0, '']));

    const roots = await kubectl(['-n', L, 'label', 'configmap', names.trustRoots, 'example.com/outage=yes']);
    expect(roots.code).not.toBe(0);
    expect(roots.stderr).toContain('failed calling webhook "trust-roots.linkerd-rotator.io"');
    const issuer = await kubectl(['-n', L, 'label', 'secret', names.issuer, 'example.com/outage=yes']);
    expect(issuer.code).not.toBe(0);
    expect(issuer.stderr).toContain('failed calling webhook "identity-issuer.linkerd-rotator.io"');
    const deleted = await kubectl(['-n', L, 'delete', 'configmap', names.trustRoots]);
    expect(deleted.code).not.toBe(0);
    expect(await trustRootsPem(testCluster())).toContain('BEGIN CERTIFICATE');
  });
});
