// Scenario 5 of issue 6, written once and run by both tiers: manual edits of Linkerd's trust roots
// and identity issuer with kubectl, through the real API server, judged by the chart's webhook.
//
// Each bad edit is denied with a message that says what is wrong, a private key pasted in is never
// repeated (not in the message, not in the webhook's log), correct edits pass, and with the webhook
// down only the guarded objects are blocked (fail closed).
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import { waitFor } from '../cluster/src/process.js';
import { pastedPem } from '../support/certs.js';
import { credentialsFromPem } from '../support/credentials.js';
import { kubectlEditConfigMap } from '../support/kubectl-edit.js';
import { secretData, trustRootsPem } from '../support/objects.js';
import type { RunResult, TestCluster } from '../support/test-cluster.js';

const MIN = 60_000;
const trustRootsDenied = 'admission webhook "trust-roots.linkerd-rotator.io" denied the request';
const issuerDenied = 'admission webhook "identity-issuer.linkerd-rotator.io" denied the request';
const bundleDenied = 'admission webhook "trust-bundle.linkerd-rotator.io" denied the request';
const namespaceDenied = 'admission webhook "target-namespace.linkerd-rotator.io" denied the request';

export interface ScenarioOptions {
  /** Wraps each hook and test body (the kind tier marks its run failed there, for its diagnostics). */
  wrap?: (body: () => Promise<void>) => () => Promise<void>;
}

/**
 * Registers scenario 5's tests. `testCluster` is called inside the hooks and tests, once the tier's
 * own set-up (cluster, cert-manager, trust-manager, this chart bootstrapped) has run.
 */
export function manualEditsScenario(testCluster: () => TestCluster, opts: ScenarioOptions = {}): void {
  const wrap = opts.wrap ?? ((body) => body);
  let active: Credentials;
  let published: string;

  const names = () => testCluster().names;
  /** kubectl that resolves with refusals too: a denied write is what most of these tests expect. */
  const kubectl = (args: string[], input?: string): Promise<RunResult> =>
    testCluster().kubectl(args, { allowFailure: true, ...(input === undefined ? {} : { input }) });
  const trustRoots = (bundle: string) =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: names().trustRootsConfigMap, namespace: names().linkerdNamespace },
      data: { [names().trustRootsKey]: bundle },
    });
  /** `kubectl edit` setting the trust roots' bundle, as a user would by hand. */
  const editTrustRoots = (bundle: string) =>
    kubectlEditConfigMap(testCluster(), { namespace: names().linkerdNamespace, name: names().trustRootsConfigMap, key: names().trustRootsKey, value: bundle });
  /** A denied write leaves the published bundle as trust-manager wrote it. */
  const expectUnchanged = async () => expect(await trustRootsPem(testCluster())).toBe(published);

  beforeAll(
    wrap(async () => {
      const secret = await secretData(testCluster(), names().trustNamespace, names().activeAnchorSecret);
      active = await credentialsFromPem(secret['tls.crt']!, secret['tls.key']!);
      published = await trustRootsPem(testCluster());
      expect(published).toContain('BEGIN CERTIFICATE');
    }),
    5 * MIN,
  );

  describe('scenario 5: manual edits of the trust-roots ConfigMap', () => {
    it(
      'kubectl apply without the active anchor is denied: the message names the missing anchor and where it comes from',
      wrap(async () => {
        const other = await fixtures.makeAnchor({ cn: 'someone-elses-root' });
        const r = await kubectl(['apply', '-f', '-'], trustRoots(other.certPem));
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain(trustRootsDenied);
        expect(r.stderr).toContain(
          `must contain the active trust anchor "CN=root.linkerd.cluster.local" (sha256:${active.fingerprint.slice(0, 16)}) from Secret ${names().trustNamespace}/${names().activeAnchorSecret}`,
        );
        expect(r.stderr).toContain('"CN=someone-elses-root"');
        await expectUnchanged();
      }),
    );

    it(
      'kubectl edit swapping the active anchor for an impostor (same subject, other key) is denied and the impostor is called out',
      wrap(async () => {
        const impostor = await fixtures.makeImpostor(active);
        expect(impostor.cert.subject).toBe(active.cert.subject);
        const r = await editTrustRoots(impostor.certPem);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain(trustRootsDenied);
        expect(r.stderr).toContain(
          `(sha256:${impostor.fingerprint.slice(0, 16)}) has the same name but is a different certificate; anchors are matched by their DER bytes, never by name`,
        );
        await expectUnchanged();
      }),
    );

    it(
      'kubectl replace with a private key pasted into the bundle is denied; neither the message nor the webhook log repeats the key',
      wrap(async () => {
        const keyLines = [active.keyPem, active.keyPemTraditional].flatMap((key) => key.split('\n').filter((l) => l && !l.startsWith('-----')));
        for (const key of [active.keyPem, active.keyPemTraditional]) {
          const r = await kubectl(['replace', '-f', '-'], trustRoots(pastedPem(published, key)));
          expect(r.code).not.toBe(0);
          expect(r.stderr).toContain(trustRootsDenied);
          expect(r.stderr).toMatch(/contains a private key.*but it must hold only CERTIFICATE blocks; remove the key and treat it as exposed/);
          for (const line of keyLines) expect(r.stderr).not.toContain(line);
        }
        const webhookLog = await testCluster().webhook.logs();
        expect(webhookLog.length).toBeGreaterThan(0);
        for (const line of keyLines) expect(webhookLog).not.toContain(line);
        await expectUnchanged();
      }),
    );

    it(
      'kubectl patch dropping the active anchor, or adding a certificate that is not a CA, is denied with the reason',
      wrap(async () => {
        const { linkerdNamespace, trustRootsConfigMap, trustRootsKey } = names();
        const other = await fixtures.makeAnchor({ cn: 'patched-in-root' });
        const dropped = await kubectl(['-n', linkerdNamespace, 'patch', 'configmap', trustRootsConfigMap, '--type=merge', '-p', JSON.stringify({ data: { [trustRootsKey]: other.certPem } })]);
        expect(dropped.stderr).toContain(trustRootsDenied);
        expect(dropped.stderr).toContain('must contain the active trust anchor');

        const leaf = await fixtures.makeLeaf(active, { cn: 'web.default.serviceaccount.identity.linkerd.cluster.local' });
        const notCa = await kubectl([
          '-n', linkerdNamespace, 'patch', 'configmap', trustRootsConfigMap, '--type=merge', '-p', JSON.stringify({ data: { [trustRootsKey]: pastedPem(published, leaf.certPem) } }),
        ]);
        expect(notCa.stderr).toContain(trustRootsDenied);
        expect(notCa.stderr).toContain('"CN=web.default.serviceaccount.identity.linkerd.cluster.local"');
        expect(notCa.stderr).toContain('is not a CA (basicConstraints cA is not TRUE), but every certificate in');
        await expectUnchanged();
      }),
    );

    it(
      'kubectl delete is denied, saying why and how to uninstall',
      wrap(async () => {
        const { linkerdNamespace, trustRootsConfigMap } = names();
        const r = await kubectl(['-n', linkerdNamespace, 'delete', 'configmap', trustRootsConfigMap]);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain(`${trustRootsDenied}: deleting ConfigMap ${linkerdNamespace}/${trustRootsConfigMap} is refused`);
        expect(r.stderr).toContain('to uninstall, delete the linkerd-rotator ValidatingWebhookConfiguration first');
        await expectUnchanged();
      }),
    );

    it(
      'correct edits are allowed: kubectl edit adding a comment above the anchors (text before a block, which Linkerd skips), and kubectl label; trust-manager then restores its bundle',
      wrap(async () => {
        // Only this install's anchors may be in the bundle (an extra CA is denied, issue 14), so the
        // allowed edit keeps them and adds text Linkerd's identity controller skips.
        const edited = await editTrustRoots(pastedPem('# reviewed by hand', published));
        expect(edited.stderr).not.toContain('denied');
        expect(edited.code).toBe(0);
        // With --output=json kubectl edit prints the saved object.
        expect(edited.stdout).toContain('# reviewed by hand');
        const labelled = await kubectl(['-n', names().linkerdNamespace, 'label', 'configmap', names().trustRootsConfigMap, 'example.com/reviewed=yes']);
        expect(labelled.stderr).toBe('');
        expect(labelled.code).toBe(0);
        // trust-manager owns the content and writes its bundle back; the webhook lets that through too.
        await waitFor(async () => (await trustRootsPem(testCluster())) === published, {
          what: 'trust-manager to restore its bundle after the manual edit',
          timeoutMs: 3 * MIN,
          intervalMs: 2_000,
        });
      }),
      5 * MIN,
    );
  });

  // Issue 14 item 2: ways to delete the trust roots without a DELETE of the ConfigMap reaching the
  // webhook by name. Each one would leave the namespace without its trust roots if it got through.
  describe('scenario 5: bypasses of the DELETE guard', () => {
    const ownerReferences = async (): Promise<string> =>
      (await testCluster().kubectl(['-n', names().linkerdNamespace, 'get', 'configmap', names().trustRootsConfigMap, '-o', 'jsonpath={.metadata.ownerReferences}'])).stdout;

    it(
      'a collection delete (deletecollection: the API server sends each object with an empty name) is denied with the webhook message',
      wrap(async () => {
        const { linkerdNamespace, trustRootsConfigMap } = names();
        // kubectl delete --all and -l delete object by object; the collection call is what a client library's deleteCollection makes.
        const r = await kubectl(['delete', '--raw', `/api/v1/namespaces/${linkerdNamespace}/configmaps?fieldSelector=metadata.name%3D${trustRootsConfigMap}`]);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain(`${trustRootsDenied}: deleting ConfigMap ${linkerdNamespace}/${trustRootsConfigMap} is refused`);
        await expectUnchanged();
      }),
    );

    it(
      'kubectl patch adding a dangling ownerReference (the garbage collector would then delete the ConfigMap) is denied; a label still passes',
      wrap(async () => {
        const { linkerdNamespace, trustRootsConfigMap } = names();
        const owners = await ownerReferences();
        const dangling = { apiVersion: 'v1', kind: 'Pod', name: 'gone', uid: '00000000-0000-4000-8000-000000000000' };
        const r = await kubectl(['-n', linkerdNamespace, 'patch', 'configmap', trustRootsConfigMap, '--type=strategic', '-p', JSON.stringify({ metadata: { ownerReferences: [dangling] } })]);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain(`${trustRootsDenied}: changing the ownerReferences of ConfigMap ${linkerdNamespace}/${trustRootsConfigMap} is refused (Pod gone, uid ${dangling.uid} added)`);
        expect(r.stderr).toContain('(trust-manager) may change them');
        expect(await ownerReferences()).toBe(owners);
        const labelled = await kubectl(['-n', linkerdNamespace, 'label', '--overwrite', 'configmap', trustRootsConfigMap, 'example.com/owners-checked=yes']);
        expect([labelled.code, labelled.stderr]).toEqual([0, '']);
        await expectUnchanged();
      }),
    );

    it(
      "kubectl delete bundle, a collection delete of it, and a patch of its target are denied; the Bundle's labels may change",
      wrap(async () => {
        const { trustRootsConfigMap } = names();
        const bundle = `bundles.trust.cert-manager.io/${trustRootsConfigMap}`;
        const deleted = await kubectl(['delete', bundle]);
        expect(deleted.code).not.toBe(0);
        expect(deleted.stderr).toContain(`${bundleDenied}: deleting Bundle ${trustRootsConfigMap} is refused: trust-manager owns every trust-roots ConfigMap`);
        expect(deleted.stderr).toContain('to uninstall, delete the linkerd-rotator ValidatingWebhookConfiguration first');

        const collection = await kubectl(['delete', '--raw', `/apis/trust.cert-manager.io/v1alpha1/bundles?fieldSelector=metadata.name%3D${trustRootsConfigMap}`]);
        expect(collection.code).not.toBe(0);
        expect(collection.stderr).toContain(`${bundleDenied}: deleting Bundle ${trustRootsConfigMap} is refused`);

        const retargeted = await kubectl(['patch', bundle, '--type=merge', '-p', JSON.stringify({ spec: { target: { namespaceSelector: { matchLabels: { 'example.com/nowhere': 'true' } } } } })]);
        expect(retargeted.code).not.toBe(0);
        expect(retargeted.stderr).toContain(`${bundleDenied}: changing spec.target of Bundle ${trustRootsConfigMap} is refused`);

        const labelled = await kubectl(['label', '--overwrite', bundle, 'example.com/reviewed=yes']);
        expect([labelled.code, labelled.stderr]).toEqual([0, '']);
        expect((await testCluster().kubectl(['get', bundle, '-o', 'name'])).stdout.trim()).toBe(`bundle.trust.cert-manager.io/${trustRootsConfigMap}`);
        await expectUnchanged();
      }),
    );

    it(
      "kubectl label removing the Bundle's selector label from Linkerd's namespace is denied (trust-manager would delete the ConfigMap there); other labels pass",
      wrap(async () => {
        const { linkerdNamespace } = names();
        const selectorLabel = 'linkerd.io/is-control-plane';
        const removed = await kubectl(['label', 'namespace', linkerdNamespace, `${selectorLabel}-`]);
        expect(removed.code).not.toBe(0);
        expect(removed.stderr).toContain(`${namespaceDenied}: taking Namespace ${linkerdNamespace} out of the target of the trust-roots Bundle`);
        expect(removed.stderr).toContain(`(label ${selectorLabel}=true removed)`);
        const label = await testCluster().kubectl(['get', 'namespace', linkerdNamespace, '-o', `jsonpath={.metadata.labels.${selectorLabel.replace(/\./g, '\\.')}}`]);
        expect(label.stdout).toBe('true');
        const other = await kubectl(['label', '--overwrite', 'namespace', linkerdNamespace, 'example.com/reviewed=yes']);
        expect([other.code, other.stderr]).toEqual([0, '']);
        await expectUnchanged();
      }),
    );
  });

  describe('scenario 5: manual edits of the identity issuer Secret', () => {
    const issuerSecret = (issuer: Credentials, ca: string) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/tls',
        metadata: { name: names().issuerSecret, namespace: names().linkerdNamespace },
        data: { 'tls.crt': base64(issuer.certPem), 'tls.key': base64(issuer.keyPem), 'ca.crt': base64(ca) },
      });

    it(
      'a non-CA issuer and an issuer chained to a foreign anchor are denied, the Secret unchanged; an issuer signed by the active anchor is allowed',
      wrap(async () => {
        const { linkerdNamespace, issuerSecret: issuerName } = names();
        const before = await secretData(testCluster(), linkerdNamespace, issuerName);
        const nonCa = await fixtures.makeLeaf(active, { cn: 'identity.linkerd.cluster.local' });
        const r1 = await kubectl(['replace', '-f', '-'], issuerSecret(nonCa, active.certPem));
        expect(r1.stderr).toContain(issuerDenied);
        expect(r1.stderr).toContain("is not a CA (basicConstraints cA is not TRUE), but Linkerd's identity controller signs proxy certificates with it");

        const foreignRoot = await fixtures.makeImpostor(active);
        const foreign = await fixtures.makeIssuer(foreignRoot, { cn: 'identity.linkerd.cluster.local' });
        const r2 = await kubectl(['replace', '-f', '-'], issuerSecret(foreign, foreignRoot.certPem));
        expect(r2.stderr).toContain(issuerDenied);
        expect(r2.stderr).toContain("must chain to the active anchor");
        expect(r2.stderr).toContain(`(Secret ${names().trustNamespace}/${names().activeAnchorSecret})`);
        expect(await secretData(testCluster(), linkerdNamespace, issuerName)).toEqual(before);

        const good = await fixtures.makeIssuer(active, { cn: 'identity.linkerd.cluster.local' });
        const r3 = await kubectl(['replace', '-f', '-'], issuerSecret(good, active.certPem));
        expect(r3.stderr).not.toContain('denied');
        expect(r3.code).toBe(0);
      }),
    );
  });

  describe('scenario 5: webhook outage', () => {
    it(
      'with the webhook down, unrelated objects in Linkerd namespace and same-named objects elsewhere are written; the guarded objects fail closed',
      wrap(async () => {
        const { linkerdNamespace, trustRootsConfigMap, issuerSecret } = names();
        const replicas = await testCluster().webhook.scale(0);
        try {
          const unrelated = [
            await kubectl(['-n', linkerdNamespace, 'create', 'configmap', 'unrelated-config', '--from-literal=a=b']),
            await kubectl(['-n', linkerdNamespace, 'create', 'secret', 'generic', 'unrelated-secret', '--from-literal=a=b']),
            await kubectl(['-n', 'default', 'create', 'configmap', trustRootsConfigMap, '--from-literal=ca-bundle.crt=not-linkerds']),
            await kubectl(['-n', 'default', 'create', 'secret', 'generic', issuerSecret, '--from-literal=a=b']),
          ];
          expect(unrelated.map((r) => [r.code, r.stderr])).toEqual(unrelated.map(() => [0, '']));

          const roots = await kubectl(['-n', linkerdNamespace, 'label', 'configmap', trustRootsConfigMap, 'example.com/outage=yes']);
          expect(roots.code).not.toBe(0);
          expect(roots.stderr).toContain('failed calling webhook "trust-roots.linkerd-rotator.io"');
          const issuer = await kubectl(['-n', linkerdNamespace, 'label', 'secret', issuerSecret, 'example.com/outage=yes']);
          expect(issuer.code).not.toBe(0);
          expect(issuer.stderr).toContain('failed calling webhook "identity-issuer.linkerd-rotator.io"');
          const deleted = await kubectl(['-n', linkerdNamespace, 'delete', 'configmap', trustRootsConfigMap]);
          expect(deleted.code).not.toBe(0);
          expect(await trustRootsPem(testCluster())).toBe(published);
        } finally {
          await testCluster().webhook.scale(replicas);
        }
      }),
      10 * MIN,
    );
  });
}

const base64 = (text: string) => Buffer.from(text).toString('base64');
