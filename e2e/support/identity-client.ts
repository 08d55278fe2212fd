// A Linkerd proxy's side of identity: a fresh ECDSA key and CSR for the pod's identity name, sent
// with the pod's ServiceAccount token to identity's gRPC Certify API.
import 'reflect-metadata';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const protoFile = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../cluster/standins/proto/identity.proto');

export interface CertifyResult {
  leafDer: Buffer;
  intermediatesDer: Buffer[];
  validUntil: Date;
  keys: webcrypto.CryptoKeyPair;
  privateKeyPem: string;
}

type CertifyFn = (
  req: { identity: string; token: Buffer; certificate_signing_request: Buffer },
  opts: { deadline: Date },
  cb: (err: grpc.ServiceError | null, res?: { leaf_certificate: Buffer; intermediate_certificates: Buffer[]; valid_until?: { seconds: string; nanos: number } }) => void,
) => void;

let ctor: (new (addr: string, creds: grpc.ChannelCredentials) => grpc.Client & { Certify: CertifyFn }) | undefined;

function client(addr: string) {
  if (!ctor) {
    const def = protoLoader.loadSync(protoFile, { keepCase: true, longs: String, defaults: true, includeDirs: [] });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { io: { linkerd: { proxy: { identity: { Identity: typeof ctor } } } } };
    ctor = pkg.io.linkerd.proxy.identity.Identity;
  }
  return new ctor!(addr, grpc.credentials.createInsecure());
}

export function identityName(sa: string, ns: string, controlPlaneNs = 'linkerd', trustDomain = 'cluster.local'): string {
  return `${sa}.${ns}.serviceaccount.identity.${controlPlaneNs}.${trustDomain}`;
}

/** Generate a key and CSR and ask identity (at host:port) to certify it. */
export async function certify(addr: string, identity: string, token: string, timeoutMs = 10_000): Promise<CertifyResult> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${identity}`,
    keys: keys as unknown as Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[0]["keys"],
    signingAlgorithm: alg,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: identity }])],
  });
  const c = client(addr);
  try {
    const res = await new Promise<Parameters<Parameters<CertifyFn>[2]>[1]>((resolve, reject) =>
      c.Certify(
        { identity, token: Buffer.from(token), certificate_signing_request: Buffer.from(csr.rawData) },
        { deadline: new Date(Date.now() + timeoutMs) },
        (err, r) => (err ? reject(err) : resolve(r)),
      ),
    );
    const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
    return {
      leafDer: Buffer.from(res!.leaf_certificate),
      intermediatesDer: res!.intermediate_certificates.map((b) => Buffer.from(b)),
      validUntil: new Date(Number(res!.valid_until?.seconds ?? 0) * 1000),
      keys,
      privateKeyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'),
    };
  } finally {
    c.close();
  }
}
