// Where the API server calls each webhook of a configuration, as the exporter reads it: the URL's host
// and port, or the Service's `<name>.<namespace>.svc` name (k8s.io/apiserver's webhook client).
import { webhookTargetsOf } from './webhook-configuration.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const hook = (name: string, clientConfig: object) => ({ name, clientConfig, sideEffects: 'None', admissionReviewVersions: ['v1'] });

describe('webhookTargetsOf', () => {
  it('dials a Service by <name>.<namespace>.svc on its port (443 by default), and a URL by its host and port', () => {
    const targets = webhookTargetsOf({
      webhooks: [
        hook('a.io', { service: { name: 'rot-webhook', namespace: 'linkerd-rotator', port: 8443, path: '/validate' }, caBundle: b64('PEM-A') }),
        hook('b.io', { service: { name: 'rot-webhook', namespace: 'linkerd-rotator' } }),
        hook('c.io', { url: 'https://127.0.0.1:9443/validate', caBundle: b64('PEM-C') }),
        hook('d.io', { url: 'https://[::1]/v' }),
      ],
    });
    expect(targets).toEqual([
      { webhook: 'a.io', caBundlePem: 'PEM-A', endpoint: { host: 'rot-webhook.linkerd-rotator.svc', port: 8443, serverName: 'rot-webhook.linkerd-rotator.svc', path: '/validate' } },
      { webhook: 'b.io', caBundlePem: '', endpoint: { host: 'rot-webhook.linkerd-rotator.svc', port: 443, serverName: 'rot-webhook.linkerd-rotator.svc', path: '/' } },
      { webhook: 'c.io', caBundlePem: 'PEM-C', endpoint: { host: '127.0.0.1', port: 9443, serverName: '127.0.0.1', path: '/validate' } },
      { webhook: 'd.io', caBundlePem: '', endpoint: { host: '::1', port: 443, serverName: '::1', path: '/v' } },
    ]);
  });

  it('names what is wrong with a clientConfig it cannot dial', () => {
    expect(webhookTargetsOf({ webhooks: [hook('e.io', { url: 'http://example.com/' }), hook('f.io', {})] })).toEqual([
      { webhook: 'e.io', caBundlePem: '', problem: 'clientConfig.url "http://example.com/" is not https' },
      { webhook: 'f.io', caBundlePem: '', problem: 'clientConfig has neither a service nor a url' },
    ]);
    expect(webhookTargetsOf({})).toEqual([]);
  });
});
