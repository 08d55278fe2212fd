// AdmissionReview parsing and answers: a v1 review in, a response echoing its uid out, and a clear
// error for anything that is not an AdmissionReview v1.
import { admissionResponse, parseAdmissionReview } from './admission.js';

const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const request = {
  uid: 'u1',
  kind: { group: '', version: 'v1', kind: 'ConfigMap' },
  resource: { group: '', version: 'v1', resource: 'configmaps' },
  operation: 'CREATE',
  object: {},
};

describe('parseAdmissionReview', () => {
  it('accepts a v1 AdmissionReview', () => {
    const parsed = parseAdmissionReview(enc({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request }));
    expect(parsed.ok && parsed.request.uid).toBe('u1');
  });

  it.each([
    ['malformed JSON', enc('{"apiVersion":'), /not valid JSON/],
    ['non-UTF-8', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), /not valid UTF-8/],
    ['an array', enc([]), /not a JSON object/],
    ['v1beta1', enc({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request }), /expected apiVersion admission.k8s.io\/v1.*found "admission.k8s.io\/v1beta1"/],
    ['the wrong kind', enc({ apiVersion: 'admission.k8s.io/v1', kind: 'Pod', request }), /and "Pod"/],
    ['no request', enc({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), /no request.uid/],
    ['an empty uid', enc({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { ...request, uid: '' } }), /no request.uid/],
  ])('rejects %s with HTTP 400', (_what, body, message) => {
    const parsed = parseAdmissionReview(body);
    expect(parsed).toEqual({ ok: false, status: 400, error: expect.stringMatching(message) });
  });

  it('turns a malformed request with a uid into a denial', () => {
    const parsed = parseAdmissionReview(enc({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { ...request, operation: 'PATCH' } }));
    expect(parsed).toEqual({ ok: false, status: 200, uid: 'u1', error: expect.stringMatching(/malformed \(operation: /) });
  });
});

describe('admissionResponse', () => {
  it('carries status only on denial and caps warnings', () => {
    expect(admissionResponse('u', { allowed: true })).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u', allowed: true } });
    const denied = admissionResponse('u', { allowed: false, message: 'no', code: 403, warnings: Array.from({ length: 20 }, (_, i) => `w${i}`) });
    expect(denied.response.status).toEqual({ code: 403, message: 'no' });
    expect(denied.response.warnings).toHaveLength(10);
  });
});
