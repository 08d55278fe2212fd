// @peculiar/x509 wired to Node's WebCrypto; every module in this lib takes the library from here.
// It is loaded by dynamic import after reflect-metadata, so the order holds under every loader.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import type * as Peculiar from '@peculiar/x509';

// A static import could be evaluated before reflect-metadata: jest's ESM graph builder evaluates
// CommonJS dependencies (both of these are CJS) in its own order, and @peculiar/x509 throws at
// load time without the Reflect polyfill.
const lib: typeof Peculiar = await import('@peculiar/x509');

/** Node's WebCrypto, typed as the DOM `Crypto` that @peculiar/x509 expects. */
export const nodeCrypto = webcrypto as unknown as ReturnType<typeof lib.cryptoProvider.get>;
lib.cryptoProvider.set(nodeCrypto);

export type CryptoKeyPair = webcrypto.CryptoKeyPair;

export const {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  PemConverter,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509CertificateGenerator,
} = lib;
export type X509Certificate = Peculiar.X509Certificate;
export type KeyUsageFlags = Peculiar.KeyUsageFlags;
export type Extension = Peculiar.Extension;
