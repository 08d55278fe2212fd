// The webhook over real HTTPS and plain HTTP: admission answers, malformed and oversized bodies,
// fail-closed internal errors, health and metrics, and the serving certificate reloaded from disk.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { pino } from 'pino';
import type { TrustSnapshot } from '@linkerd-rotator/kube/caches';
import { StaticSnapshotSource } from '@linkerd-rotator/kube/testing';
import { DEFAULT_OBJECT_NAMES as names } from '@linkerd-rotator/names';
import { DEFAULT_BUNDLE_LIMITS, shortFingerprint } from '@linkerd-rotator/x509';
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import type { WebhookConfig } from '../src/config.js';
import { startWebhook, type RunningWebhook } from '../src/server.js';

interface Reply {
  status: number;
  body: string;
  json: () => any; // eslint-disable-line @typescript-eslint/no-explicit-any
  peerFingerprint: string;
}

function send(port: number, ca: string, body: Uint8Array | string, pathName = '/validate', method = 'POST'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path: pathName, method, ca, agent: false, checkServerIdentity: () => undefined, headers: { 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        const peer = (res.socket as TLSSocket).getPeerCertificate();
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, body: text, json: () => JSON.parse(text), peerFingerprint: peer.fingerprint256.replace(/:/g, '').toLowerCase() });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function get(port: number, pathName: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${pathName}`);
  return { status: res.status, body: await res.text() };
}

const review = (request: object) => JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });
let seq = 0;
const trustRootsRequest = (bundle: string, operation = 'UPDATE') => ({
  uid: `req-${++seq}`,
  kind: { group: '', version: 'v1', kind: 'ConfigMap' },
  resource: { group: '', version: 'v1', resource: 'configmaps' },
  name: names.trustRootsConfigMap,
  namespace: 'linkerd',
  operation,
  userInfo: { username: 'tester' },
  object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: names.trustRootsConfigMap, namespace: 'linkerd' }, data: { 'ca-bundle.crt': bundle } },
});

describe('webhook over real HTTPS', () => {
  let servingCa: Credentials;
  let serving: Credentials;
  let a: Credentials;
  let b: Credentials;
  let issuer: Credentials;
  let dir: string;
  let webhook: RunningWebhook;
  let source: StaticSnapshotSource;
  let logLines: string[];
  let snapshot: TrustSnapshot;

  beforeAll(async () => {
    servingCa = await fixtures.makeAnchor({ cn: 'webhook-ca' });
    serving = await fixtures.makeLeaf(servingCa, { cn: 'linkerd-rotator-webhook.linkerd-rotator.svc' });
    a = await fixtures.makeAnchor();
    b = await fixtures.makeAnchor();
    issuer = await fixtures.makeIssuer(a);
    snapshot = {
      activeAnchor: { source: 'Secret cert-manager/linkerd-active-anchor', certPem: a.certPem },
      preparedAnchor: { source: 'Secret cert-manager/linkerd-trust-anchor', certPem: b.certPem },
      issuer: { source: 'Secret linkerd/linkerd-identity-issuer', certPem: issuer.certPem },
      trustRoots: { source: 'ConfigMap linkerd/linkerd-identity-trust-roots', pem: a.certPem },
    };
  });

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'webhook-test-'));
    writeFileSync(path.join(dir, 'tls.crt'), serving.certPem);
    writeFileSync(path.join(dir, 'tls.key'), serving.keyPemTraditional);
    logLines = [];
    const logger = pino({ level: 'debug' }, new Writable({ write: (chunk, _enc, done) => (logLines.push(chunk.toString()), done()) }));
    source = new StaticSnapshotSource(snapshot, true);
    const config: WebhookConfig = {
      tls: { certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key'), reloadIntervalMs: 60_000 },
      listen: { address: '127.0.0.1', port: 0 },
      metricsListen: { address: '127.0.0.1', port: 0 },
      maxRequestBytes: 64 * 1024,
      limits: DEFAULT_BUNDLE_LIMITS,
      allowDeleteBy: [],
      allowOwnerReferencesBy: ['system:serviceaccount:cert-manager:trust-manager'],
      logLevel: 'debug',
      names,
    };
    webhook = await startWebhook({ config, source, logger });
  });

  afterEach(async () => {
    await webhook.close();
  });

  const post = (body: Uint8Array | string) => send(webhook.admissionPort, servingCa.certPem, body);

  it('allows a good bundle, echoing the uid', async () => {
    const req = trustRootsRequest(fixtures.bundleOf(a, b));
    const res = await post(review(req));
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: req.uid, allowed: true } });
    expect(res.peerFingerprint).toBe(serving.fingerprint);
  });

  it('denies a bundle without the active anchor, with status code and message', async () => {
    const res = (await post(review(trustRootsRequest(b.certPem)))).json();
    expect(res.response.allowed).toBe(false);
    expect(res.response.status.code).toBe(403);
    expect(res.response.status.message).toMatch(/must contain the active trust anchor/);
  });

  it('returns warnings (a duplicated anchor)', async () => {
    const res = (await post(review(trustRootsRequest(fixtures.bundleOf(a, b, a))))).json();
    expect(res.response.allowed).toBe(true);
    expect(res.response.warnings).toEqual([expect.stringMatching(/appears more than once/)]);
  });

  it('denies a certificate that is no anchor of this install (an expired CA), and a blank line after the last END line', async () => {
    const expired = await fixtures.makeExpiredAnchor();
    const extra = (await post(review(trustRootsRequest(fixtures.bundleOf(a, expired))))).json();
    expect(extra.response.allowed).toBe(false);
    expect(extra.response.status.message).toMatch(/certificate 2 .* is not an anchor of this install/);
    const blank = (await post(review(trustRootsRequest(`${fixtures.bundleOf(a)}\n`)))).json();
    expect(blank.response.allowed).toBe(false);
    expect(blank.response.status.message).toMatch(/line \d+ starts an extra blank or whitespace-only line .* refuses to start/);
  });

  it('denies DELETE of the trust roots', async () => {
    const res = (await post(review({ ...trustRootsRequest(a.certPem, 'DELETE'), object: null, oldObject: {} }))).json();
    expect(res.response.allowed).toBe(false);
    expect(res.response.status.message).toMatch(/deleting .* is refused/);
  });

  it('denies a pasted private key and never logs or echoes it', async () => {
    const res = await post(review(trustRootsRequest(a.certPem + a.keyPem)));
    expect(res.json().response.status.message).toMatch(/contains a private key/);
    const keyLine = a.keyPem.split('\n')[1] as string;
    expect(res.body).not.toContain(keyLine);
    expect(logLines.join('')).not.toContain(keyLine);
    expect(logLines.join('')).not.toContain('BEGIN');
    expect(logLines.some((l) => l.includes('admission denied'))).toBe(true);
  });

  it('denies garbage PEM', async () => {
    const res = (await post(review(trustRootsRequest('-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n')))).json();
    expect(res.response.status.message).toMatch(/not valid base64/);
  });

  it.each([
    ['malformed JSON', '{"apiVersion": "admission.k8s.io/v1", ', /not valid JSON/],
    ['non-UTF-8 bytes', new Uint8Array([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]), /not valid UTF-8/],
    ['a wrong kind', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'Pod' }), /expected apiVersion admission.k8s.io\/v1 and kind AdmissionReview/],
    ['a missing request', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), /no request.uid/],
    ['an empty body', '', /not valid JSON/],
  ])('answers %s with 400 and a JSON error', async (_what, body, message) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(res.json().error).toMatch(message);
  });

  it('denies a request with a uid but missing fields', async () => {
    const res = await post(review({ uid: 'x1', operation: 'UPDATE' }));
    expect(res.status).toBe(200);
    expect(res.json().response).toEqual({ uid: 'x1', allowed: false, status: { code: 400, message: expect.stringMatching(/malformed/) } });
  });

  it('answers a body over the limit with 413 and stays up', async () => {
    const res = await post(review(trustRootsRequest('#'.repeat(100 * 1024))));
    expect(res.status).toBe(413);
    expect(res.json().error).toMatch(/over the limit of 65536/);
    expect((await post(review(trustRootsRequest(a.certPem)))).json().response.allowed).toBe(true);
  });

  it('denies with a message, logs and counts an internal error', async () => {
    source.current = () => {
      throw new Error('snapshot exploded');
    };
    const req = trustRootsRequest(a.certPem);
    const res = (await post(review(req))).json();
    expect(res.response.allowed).toBe(false);
    expect(res.response.status.code).toBe(500);
    expect(res.response.status.message).toMatch(/internal error .* so the write was refused/);
    expect(logLines.some((l) => l.includes('snapshot exploded'))).toBe(true);
    const metrics = await get(webhook.metricsPort, '/metrics');
    expect(metrics.body).toMatch(/linkerd_rotator_admission_requests_total\{resource="configmaps",operation="UPDATE",verdict="error"\} 1/);
  });

  it('serves /healthz, /readyz (only once synced) and /metrics on the plain port', async () => {
    expect(await get(webhook.metricsPort, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
    source.set(snapshot, false);
    expect((await get(webhook.metricsPort, '/readyz')).status).toBe(503);
    source.set(snapshot, true);
    expect((await get(webhook.metricsPort, '/readyz')).status).toBe(200);
    await post(review(trustRootsRequest(a.certPem)));
    await post(review(trustRootsRequest(b.certPem)));
    await post('nope');
    const metrics = (await get(webhook.metricsPort, '/metrics')).body;
    expect(metrics).toMatch(/linkerd_rotator_admission_requests_total\{resource="configmaps",operation="UPDATE",verdict="allowed"\} 1/);
    expect(metrics).toMatch(/linkerd_rotator_admission_requests_total\{resource="configmaps",operation="UPDATE",verdict="denied"\} 1/);
    expect(metrics).toMatch(/linkerd_rotator_admission_requests_total\{resource="unknown",operation="unknown",verdict="invalid"\} 1/);
    expect(metrics).toMatch(/linkerd_rotator_admission_duration_seconds_count\{resource="configmaps",operation="UPDATE"\} 2/);
    expect(metrics).toContain(servingSeries('linkerd_rotator_certificate_not_after_timestamp_seconds', serving, serving.cert.notAfter));
    expect(metrics).toContain(servingSeries('linkerd_rotator_certificate_not_before_timestamp_seconds', serving, serving.cert.notBefore));
    expect((await get(webhook.metricsPort, '/nope')).status).toBe(404);
  });

  it('answers unknown paths with 404', async () => {
    expect((await send(webhook.admissionPort, servingCa.certPem, '', '/other', 'GET')).status).toBe(404);
  });

  it('reloads the serving certificate when the files change, and keeps it when they are bad', async () => {
    const renewed = await fixtures.makeLeaf(servingCa, { cn: 'renewed' });
    writeFileSync(path.join(dir, 'tls.crt'), renewed.certPem);
    // Half-written pair (new cert, old key): rejected, old context kept.
    webhook.tls.check(serverOf(webhook));
    expect((await post(review(trustRootsRequest(a.certPem)))).peerFingerprint).toBe(serving.fingerprint);
    writeFileSync(path.join(dir, 'tls.key'), renewed.keyPem);
    webhook.tls.check(serverOf(webhook));
    expect((await post(review(trustRootsRequest(a.certPem)))).peerFingerprint).toBe(renewed.fingerprint);
    const metrics = (await get(webhook.metricsPort, '/metrics')).body;
    expect(metrics).toMatch(/linkerd_rotator_webhook_tls_reloads_total\{result="rejected"\} 1/);
    expect(metrics).toMatch(/linkerd_rotator_webhook_tls_reloads_total\{result="loaded"\} 1/);
    // The served certificate's series follow the reload: the old one leaves the output.
    expect(metrics).toContain(servingSeries('linkerd_rotator_certificate_not_after_timestamp_seconds', renewed, renewed.cert.notAfter));
    expect(metrics).not.toContain(`fingerprint="${shortFingerprint(serving.fingerprint)}"`);
  });
});

/** One series of the served certificate, as the exporter's certificate gauges label it. */
function servingSeries(metric: string, cert: Credentials, at: Date): string {
  return `${metric}{role="webhook-serving",namespace="${names.releaseNamespace}",fingerprint="${shortFingerprint(cert.fingerprint)}",subject="${cert.cert.subject}"} ${Math.floor(at.getTime() / 1000)}`;
}

/** The HTTPS server behind a running webhook (the reloader is exercised directly, without waiting for its timer). */
function serverOf(webhook: RunningWebhook) {
  return webhook.server;
}
