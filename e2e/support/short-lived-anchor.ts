// A mesh on an anchor that ends in a few minutes, for the local-cluster specs of issue 15 (cert-manager
// issues nothing shorter than an hour): the anchor is made in the test, written into the anchor
// Secrets as the runner holds it, and cert-manager issues Linkerd's identity issuer under it.
import { createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import { waitFor } from '../cluster/src/index.js';
import { kubectlAs, waitForTrustRoots } from './chart.js';
import { cmctlRenew } from './common-recipe.js';
import type { LocalTestCluster } from './local-test-cluster.js';
import { secretData } from './objects.js';
import { patchSecret, signedBy } from './recover.js';

type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** The key pair of an ECDSA P-256 private key PEM (SEC1 or PKCS#8), as WebCrypto keys the fixtures sign with. */
export async function p256KeyPair(keyPem: string): Promise<CryptoKeyPair> {
  const privateKey = createPrivateKey(keyPem);
  const curve = privateKey.asymmetricKeyDetails?.namedCurve;
  if (privateKey.asymmetricKeyType !== 'ec' || curve !== 'prime256v1') {
    throw new Error(`expected an ECDSA P-256 key (the chart's pki.trustAnchor default), found ${privateKey.asymmetricKeyType ?? 'unknown'} ${curve ?? ''}; set the test's anchor key to match`);
  }
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256' };
  return {
    privateKey: await webcrypto.subtle.importKey('pkcs8', privateKey.export({ type: 'pkcs8', format: 'der' }), algorithm, true, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', createPublicKey(privateKey).export({ type: 'spki', format: 'der' }), algorithm, true, ['verify']),
  };
}

/** A self-signed anchor valid from `validBeforeMs` ago (a minute by default) for `lifetimeMs` from now, with `keys` when given. */
export function makeShortLivedAnchor(lifetimeMs: number, opts: { keys?: CryptoKeyPair; validBeforeMs?: number } = {}): Promise<Credentials> {
  const now = Date.now();
  return fixtures.makeAnchor({ notBefore: new Date(now - (opts.validBeforeMs ?? 60_000)), notAfter: new Date(now + lifetimeMs), ...(opts.keys ? { keys: opts.keys } : {}) });
}

/**
 * Makes `anchor` the active one as the runner writes it (the chart's guard lets only its
 * ServiceAccount), waits for trust-manager to publish it beside the bootstrapped anchor, and has
 * cert-manager issue Linkerd's identity issuer under it.
 */
export async function activateAnchor(testCluster: LocalTestCluster, anchor: Credentials): Promise<void> {
  const { cluster, rotator, names } = testCluster;
  const asRunner = kubectlAs(cluster, rotator.runnerKubeconfig);
  await patchSecret(asRunner, names.trustNamespace, names.activeAnchorSecret, { 'tls.crt': anchor.certPem, 'tls.key': anchor.keyPemTraditional, 'anchor.crt': anchor.certPem });
  await waitForTrustRoots(cluster, [rotator.anchorPem, anchor.certPem], 'trust-manager to publish the bootstrapped anchor and the short-lived one');
  await cmctlRenew(cluster, names.linkerdNamespace, names.issuerCertificate);
  await waitFor(async () => signedBy((await secretData(cluster, names.linkerdNamespace, names.issuerSecret))['tls.crt'] ?? '', anchor), {
    what: 'cert-manager to issue the identity issuer under the short-lived anchor',
    timeoutMs: 60_000,
  });
}

/** Writes `anchor` and its key into the prepared-anchor Secret as cert-manager writes it (an admin's write). */
export async function writePrepared(testCluster: LocalTestCluster, anchor: Credentials): Promise<void> {
  const { cluster, names } = testCluster;
  const asAdmin = (args: string[]) => cluster.kubectl(args, { allowFailure: true });
  await patchSecret(asAdmin, names.trustNamespace, names.preparedAnchorSecret, { 'tls.crt': anchor.certPem, 'tls.key': anchor.keyPemTraditional, 'ca.crt': anchor.certPem });
}

/** Writes `anchor` into the previous-anchor Secret (as the runner), so the bundle holds it alone, and waits for that bundle. */
export async function trustOnly(testCluster: LocalTestCluster, anchor: Credentials): Promise<void> {
  const { cluster, rotator, names } = testCluster;
  await patchSecret(kubectlAs(cluster, rotator.runnerKubeconfig), names.trustNamespace, names.previousAnchorSecret, { 'tls.crt': anchor.certPem });
  await waitForTrustRoots(cluster, [anchor.certPem], 'trust-manager to publish the short-lived anchor alone');
}
