// The PKI of Linkerd's own cert-manager + trust-manager guide (the setup users start from and this
// product adopts): a self-signed trust anchor, a ClusterIssuer on it, the identity issuer in the
// Linkerd namespace, and a trust-manager Bundle publishing the anchor into that namespace.
import type { Cluster } from '../cluster/src/index.js';

export async function applyLinkerdDocsPki(cluster: Cluster, linkerdNs = 'linkerd'): Promise<void> {
  const existing = await cluster.kubectl(['get', 'namespace', linkerdNs], { allowFailure: true });
  if (existing.code !== 0) await cluster.kubectl(['create', 'namespace', linkerdNs]);
  await cluster.kubectl(['label', '--overwrite', 'namespace', linkerdNs, 'linkerd.io/is-control-plane=true']);
  await cluster.kubectl(['apply', '-f', '-'], {
    input: `
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: linkerd-trust-root-issuer, namespace: cert-manager}
spec: {selfSigned: {}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: linkerd-trust-anchor, namespace: cert-manager}
spec:
  isCA: true
  commonName: root.linkerd.cluster.local
  secretName: linkerd-trust-anchor
  duration: 8760h0m0s
  renewBefore: 7320h0m0s
  privateKey: {algorithm: ECDSA, size: 256, rotationPolicy: Always}
  issuerRef: {name: linkerd-trust-root-issuer, kind: Issuer, group: cert-manager.io}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: linkerd-identity-issuer}
spec: {ca: {secretName: linkerd-trust-anchor}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: linkerd-identity-issuer, namespace: ${linkerdNs}}
spec:
  isCA: true
  commonName: identity.linkerd.cluster.local
  secretName: linkerd-identity-issuer
  duration: 48h0m0s
  renewBefore: 25h0m0s
  privateKey: {algorithm: ECDSA, size: 256, rotationPolicy: Always}
  issuerRef: {name: linkerd-identity-issuer, kind: ClusterIssuer, group: cert-manager.io}
---
apiVersion: trust.cert-manager.io/v1alpha1
kind: Bundle
metadata: {name: linkerd-identity-trust-roots}
spec:
  sources:
  - secret: {name: linkerd-trust-anchor, key: tls.crt}
  target:
    configMap: {key: ca-bundle.crt}
    namespaceSelector:
      matchLabels: {linkerd.io/is-control-plane: "true"}
`,
  });
  await cluster.kubectl(['-n', 'cert-manager', 'wait', '--for=condition=Ready', 'certificate/linkerd-trust-anchor', '--timeout=120s']);
  await cluster.kubectl(['-n', linkerdNs, 'wait', '--for=condition=Ready', 'certificate/linkerd-identity-issuer', '--timeout=120s']);
  await cluster.kubectl(['wait', '--for=condition=Synced', 'bundle/linkerd-identity-trust-roots', '--timeout=120s']);
}
