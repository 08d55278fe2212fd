// issue 14 item 11: what the API server echoes back never carries key material on. A Secret's `data`
// values are base64 (of PEM, or of DER), so an error body that echoes the Secret holds the key with
// no PEM header to find: those runs are redacted as well. A real key, made here.
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import { classify, redact } from '../src/errors.js';

let anchor: Credentials;
/** The Secret's data as the API server holds and echoes it: base64 of each PEM. */
let data: Record<'tls.crt' | 'tls.key' | 'ca.crt', string>;

beforeAll(async () => {
  anchor = await fixtures.makeAnchor({ cn: 'root.linkerd.cluster.local' });
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  data = { 'tls.crt': b64(anchor.certPem), 'tls.key': b64(anchor.keyPemTraditional), 'ca.crt': b64(anchor.certPem) };
});

const op = { verb: 'update', resource: 'secrets', namespace: 'cert-manager', name: 'linkerd-trust-anchor' };
const apiError = (code: number, body: string) => Object.assign(new Error(`HTTP-Code: ${code}`), { code, body });

/** Every 12-character piece of the value: none may survive, not even a part of it. */
function pieces(value: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 12 <= value.length; i += 12) out.push(value.slice(i, i + 12));
  return out;
}

function expectNoneOf(text: string, ...values: string[]): void {
  for (const value of values) for (const piece of pieces(value)) expect(text).not.toContain(piece);
}

describe('redaction of base64 Secret data', () => {
  it('redacts the base64 key of a Secret echoed in a 422 message, and keeps what names the object', () => {
    const message = `Secret "linkerd-trust-anchor" is invalid: data[tls.key]: Invalid value: "${data['tls.key']}": must be PEM`;
    const e = classify(apiError(422, JSON.stringify({ kind: 'Status', code: 422, message })), op);
    expectNoneOf(e.message, data['tls.key']);
    expect(e.message).toContain('Secret "linkerd-trust-anchor" is invalid: data[tls.key]: Invalid value: "[base64 redacted]": must be PEM');
    expect(e.message).toMatch(/^expected the API server to accept update secrets cert-manager\/linkerd-trust-anchor/);
  });

  it('redacts every data value of a whole Secret echoed in a body that is not a Status', () => {
    const secret = JSON.stringify({ kind: 'Secret', metadata: { namespace: 'cert-manager', name: 'linkerd-trust-anchor' }, type: 'kubernetes.io/tls', data });
    const e = classify(apiError(500, `internal error: ${secret}`), op);
    expectNoneOf(e.message, data['tls.key'], data['tls.crt']);
    expect(redact(secret)).toContain('"name":"linkerd-trust-anchor"');
    expectNoneOf(redact(secret), ...Object.values(data));
  });

  it('redacts base64 DER (the key without PEM armour) and a base64 body cut by the 600-character limit', () => {
    const der = anchor.keyPemTraditional.replace(/-----[^-]+-----|\s/g, '');
    expectNoneOf(redact(`bad value ${der}`), der);
    expectNoneOf(redact(`${'x '.repeat(280)}${data['tls.key']}`), data['tls.key'].slice(0, 600 - 560));
  });

  it('keeps fingerprints, UIDs, resource paths and words', () => {
    const text = `anchor ${anchor.fingerprint} uid 0b6f8a52-5a1e-4f4b-9d0e-3c2c2f1e9a77 at /api/v1/namespaces/cert-manager/secrets/linkerd-trust-anchor: IssuerValidationFailed`;
    expect(redact(text)).toBe(text);
  });
});
