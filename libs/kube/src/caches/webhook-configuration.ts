// The exporter's view of the chart's ValidatingWebhookConfiguration: one watched object (by name, so
// the ClusterRole can name it), projected to where the API server calls each webhook and with what CA.
import { AdmissionregistrationV1Api, type AdmissionregistrationV1WebhookClientConfig, type KubeConfig, type V1ValidatingWebhookConfiguration } from '@kubernetes/client-node';
import type { Feed } from '../collection.js';
import { reuseConnections } from '../connections.js';
import { byName } from '../feeds.js';
import { Projected } from './projection.js';
import type { CacheOptions } from './trust-cache.js';

/** Where the API server sends one webhook's requests, and the name it verifies the serving certificate for. */
export interface WebhookEndpoint {
  host: string;
  port: number;
  /** The URL's host, or `<service>.<namespace>.svc` (k8s.io/apiserver's webhook client): SNI and the name checked. */
  serverName: string;
  path: string;
}

export interface WebhookTarget {
  /** The webhook's name, e.g. `trust-roots.linkerd-rotator.io`. */
  webhook: string;
  /** clientConfig.caBundle decoded; "" when unset. */
  caBundlePem: string;
  /** undefined when the clientConfig names no usable endpoint (`problem` says why). */
  endpoint?: WebhookEndpoint;
  problem?: string;
}

export interface WebhookTargetSource {
  /** The configuration has been listed (present or not). */
  isSynced(): boolean;
  /** Its webhooks; undefined while it does not exist. */
  targets(): WebhookTarget[] | undefined;
}

/** The webhooks of a configuration, each with its endpoint and decoded caBundle. */
export function webhookTargetsOf(config: Pick<V1ValidatingWebhookConfiguration, 'webhooks'>): WebhookTarget[] {
  return (config.webhooks ?? []).map((hook) => {
    const client = hook.clientConfig;
    const caBundlePem = client.caBundle ? Buffer.from(client.caBundle, 'base64').toString('utf8') : '';
    const endpoint = endpointOf(client);
    return { webhook: hook.name, caBundlePem, ...(typeof endpoint === 'string' ? { problem: endpoint } : { endpoint }) };
  });
}

function endpointOf(client: AdmissionregistrationV1WebhookClientConfig): WebhookEndpoint | string {
  if (client.service) {
    const { name, namespace, port, path } = client.service;
    const host = `${name}.${namespace}.svc`;
    return { host, port: port ?? 443, serverName: host, path: path ?? '/' };
  }
  if (client.url) {
    let url: URL;
    try {
      url = new URL(client.url);
    } catch {
      return `clientConfig.url "${client.url}" is not a URL`;
    }
    if (url.protocol !== 'https:') return `clientConfig.url "${client.url}" is not https`;
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    return { host, port: url.port === '' ? 443 : Number(url.port), serverName: host, path: url.pathname };
  }
  return 'clientConfig has neither a service nor a url';
}

/** One ValidatingWebhookConfiguration by name (cluster-scoped). */
export function webhookConfigurationFeed(admission: AdmissionregistrationV1Api, name: string): Feed<V1ValidatingWebhookConfiguration> {
  return {
    name: `ValidatingWebhookConfiguration ${name}`,
    path: '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
    fieldSelector: byName(name),
    operation: { verb: 'list', resource: 'validatingwebhookconfigurations', name },
    list: () => admission.listValidatingWebhookConfiguration({ fieldSelector: byName(name) }),
  };
}

/** Watches the named configuration and holds its webhook targets. */
export class WebhookConfigurationCache implements WebhookTargetSource {
  private readonly projected: Projected<V1ValidatingWebhookConfiguration, WebhookTarget[]>;

  constructor(kubeConfig: KubeConfig, options: CacheOptions & { readonly name: string }) {
    const { name, ...runtime } = options;
    const admission = reuseConnections(kubeConfig).makeApiClient(AdmissionregistrationV1Api);
    this.projected = new Projected(kubeConfig, { ...webhookConfigurationFeed(admission, name), ...runtime, project: (c) => (c.metadata?.name === name ? webhookTargetsOf(c) : undefined) });
  }

  start(): void {
    this.projected.collection.start();
  }

  stop(): Promise<void> {
    return this.projected.collection.stop();
  }

  isSynced(): boolean {
    return this.projected.collection.synced;
  }

  targets(): WebhookTarget[] | undefined {
    // Field-selected by name: the collection holds this one configuration or nothing.
    return this.projected.list()[0];
  }
}
