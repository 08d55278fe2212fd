// linkerd_rotator_ca_bundle_valid against real TLS servers on loopback serving real certificates:
// each webhook's caBundle is checked against the chain its endpoint serves, at scrape time.
import { createServer, type Server } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import type { WebhookTarget, WebhookTargetSource } from '@linkerd-rotator/kube/caches';
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import { registerCaBundleMetric } from '../src/ca-bundle.js';
import { EXPORTER_METRICS } from '../src/metrics.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

class Targets implements WebhookTargetSource {
  constructor(
    public value: WebhookTarget[] | undefined,
    public synced = true,
  ) {}
  isSynced() {
    return this.synced;
  }
  targets() {
    return this.value;
  }
}

function serve(leaf: Credentials): Promise<Server> {
  const server = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (socket) => socket.end());
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const port = (server: Server) => (server.address() as AddressInfo).port;
const target = (webhook: string, caBundlePem: string, p: number, serverName = '127.0.0.1'): WebhookTarget => ({
  webhook,
  caBundlePem,
  endpoint: { host: '127.0.0.1', port: p, serverName, path: '/validate' },
});

describe('linkerd_rotator_ca_bundle_valid', () => {
  let ca: Credentials;
  let other: Credentials;
  let server: Server;
  const logged: Array<{ fields: Record<string, unknown>; message: string }> = [];
  const logger = { warn: (fields: object, message: string) => logged.push({ fields: fields as Record<string, unknown>, message }), info: (fields: object, message: string) => logged.push({ fields: fields as Record<string, unknown>, message }) };

  beforeAll(async () => {
    ca = await fixtures.makeAnchor({ cn: 'webhook CA' });
    other = await fixtures.makeAnchor({ cn: 'some-other-ca' });
    server = await serve(await fixtures.makeLeaf(ca, { cn: 'webhook', dnsNames: ['webhook.ns.svc'], ipAddresses: ['127.0.0.1'], extendedKeyUsages: [SERVER_AUTH] }));
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  async function scrape(source: WebhookTargetSource): Promise<string[]> {
    const registry = new Registry();
    registerCaBundleMetric(registry, { source, logger });
    const text = await registry.metrics();
    return text.split('\n').filter((line) => line.startsWith(`${EXPORTER_METRICS.caBundleValid}{`));
  }

  it('is 1 for a webhook whose caBundle verifies what its endpoint serves, 0 with the reason when it holds another CA', async () => {
    const closed = await serve(await fixtures.makeLeaf(ca, { ipAddresses: ['127.0.0.1'] }));
    const closedPort = port(closed);
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const source = new Targets([
      target('good.io', ca.certPem, port(server)),
      target('wrong-ca.io', other.certPem, port(server)),
      target('by-service-name.io', ca.certPem, port(server), 'webhook.ns.svc'),
      target('wrong-name.io', ca.certPem, port(server), 'other.ns.svc'),
      target('empty.io', '', port(server)),
      target('down.io', ca.certPem, closedPort),
      { webhook: 'no-endpoint.io', caBundlePem: ca.certPem, problem: 'clientConfig has neither a service nor a url' },
    ]);
    expect(await scrape(source)).toEqual([
      `${EXPORTER_METRICS.caBundleValid}{webhook="good.io",reason="verified"} 1`,
      `${EXPORTER_METRICS.caBundleValid}{webhook="wrong-ca.io",reason="untrusted"} 0`,
      `${EXPORTER_METRICS.caBundleValid}{webhook="by-service-name.io",reason="verified"} 1`,
      `${EXPORTER_METRICS.caBundleValid}{webhook="wrong-name.io",reason="name-mismatch"} 0`,
      `${EXPORTER_METRICS.caBundleValid}{webhook="empty.io",reason="no-ca-bundle"} 0`,
      `${EXPORTER_METRICS.caBundleValid}{webhook="down.io",reason="unreachable"} 0`,
      `${EXPORTER_METRICS.caBundleValid}{webhook="no-endpoint.io",reason="unreachable"} 0`,
    ]);
    // Each failure is logged once with what was found (fingerprints and names, never a PEM).
    const wrong = logged.find((l) => l.fields['webhook'] === 'wrong-ca.io');
    expect(wrong?.message).toBe("the webhook's caBundle does not verify the certificate it serves");
    expect(String(wrong?.fields['problem'])).toMatch(/does not verify against the caBundle \(1 certificate: "CN=some-other-ca" \(sha256:[0-9a-f]{16}\)\)/);
    expect(String(logged.find((l) => l.fields['webhook'] === 'down.io')?.fields['problem'])).toMatch(/^cannot complete a TLS handshake with 127\.0\.0\.1:\d+: /);
    expect(JSON.stringify(logged)).not.toContain('BEGIN');
  });

  it('logs a verdict only when it changes', async () => {
    logged.length = 0;
    const source = new Targets([target('flip.io', other.certPem, port(server))]);
    const registry = new Registry();
    registerCaBundleMetric(registry, { source, logger });
    await registry.metrics();
    await registry.metrics();
    source.value = [target('flip.io', ca.certPem, port(server))];
    expect(await registry.metrics()).toContain(`${EXPORTER_METRICS.caBundleValid}{webhook="flip.io",reason="verified"} 1`);
    expect(logged.map((l) => `${String(l.fields['reason'])}: ${l.message}`)).toEqual([
      "untrusted: the webhook's caBundle does not verify the certificate it serves",
      "verified: the webhook's caBundle verifies the certificate it serves",
    ]);
  });

  it('exports nothing before the configuration is listed or while it does not exist', async () => {
    expect(await scrape(new Targets([target('good.io', ca.certPem, port(server))], false))).toEqual([]);
    expect(await scrape(new Targets(undefined))).toEqual([]);
  });
});
