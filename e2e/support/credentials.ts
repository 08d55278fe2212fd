// A certificate and key read from a cluster Secret, as libs/x509 fixture Credentials, so test
// fixtures can sign with a real cluster anchor (an impostor of it, a leaf or an issuer under it).
import { X509Certificate, createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';
import { parseCertificate } from '@linkerd-rotator/x509';
import type { Credentials } from '@linkerd-rotator/x509/testing';

/** An ECDSA P-256 certificate and its key (cert-manager writes SEC1 keys) as Credentials. */
export async function credentialsFromPem(certPem: string, keyPem: string): Promise<Credentials> {
  const key = createPrivateKey(keyPem);
  const alg = { name: 'ECDSA', namedCurve: 'P-256' };
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const keys = {
    privateKey: await webcrypto.subtle.importKey('pkcs8', pkcs8, alg, true, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', spki, alg, true, ['verify']),
  };
  const cert = parseCertificate(new Uint8Array(new X509Certificate(certPem).raw));
  return {
    cert,
    certPem,
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    keyPemTraditional: key.export({ type: 'sec1', format: 'pem' }).toString(),
    fingerprint: cert.fingerprint,
    keys,
    keySpec: 'ecdsa-p256',
  };
}
