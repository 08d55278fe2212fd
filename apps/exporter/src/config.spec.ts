// The exporter's flags: environment fallback, defaults (the metrics port the chart exposes), object
// names from libs/names' table, and errors that name the flag.
import { DEFAULT_OBJECT_NAMES } from '@linkerd-rotator/names';
import { ConfigError, flagHelp, parseConfig } from './config.js';

describe('parseConfig', () => {
  it("reads flags, falls back to the chart's env variables, then to defaults", () => {
    const c = parseConfig(['--metrics-port', '9191', '--linkerd-namespace', 'mesh'], { LOG_LEVEL: 'debug', EXPORTER_WATCH_PODS: 'false', TRUST_ROOTS_CONFIGMAP: 'roots', KUBECONFIG: '/kc' });
    expect(c.metricsListen).toEqual({ address: '0.0.0.0', port: 9191 });
    expect(c.logLevel).toBe('debug');
    expect(c.kubeconfig).toBe('/kc');
    expect(c.pods).toEqual({ watch: false, selector: 'linkerd.io/control-plane-ns' });
    expect(c.names).toEqual({ ...DEFAULT_OBJECT_NAMES, linkerdNamespace: 'mesh', trustRootsConfigMap: 'roots' });
  });

  it('serves metrics on 9090 by default and takes the state namespace and an empty pod selector', () => {
    const c = parseConfig(['--state-namespace', 'rotator', '--meshed-pod-selector', ''], {});
    expect(c.metricsListen.port).toBe(9090);
    expect(c.names.releaseNamespace).toBe('rotator');
    expect(c.pods.selector).toBe('');
  });

  it('rejects unknown flags, the webhook\'s and runner-only ones, and bad values with the flag named', () => {
    expect(() => parseConfig(['--nope', 'x'], {})).toThrow(ConfigError);
    expect(() => parseConfig(['--tls-cert-file', 'x'], {})).toThrow(ConfigError);
    expect(() => parseConfig(['--lease', 'x'], {})).toThrow(/--help/);
    expect(() => parseConfig(['--metrics-port', 'http'], {})).toThrow(/--metrics-port/);
    expect(() => parseConfig(['--exporter-watch-pods', 'yes'], {})).toThrow(/--exporter-watch-pods/);
    expect(() => parseConfig(['--issuer-secret', ''], {})).toThrow(/--issuer-secret/);
  });

  it('checks the caBundles of the webhook configuration the chart names (WEBHOOK_CONFIGURATION), none by default', () => {
    expect(parseConfig([], { WEBHOOK_CONFIGURATION: 'rot-linkerd-rotator' }).webhookConfiguration).toBe('rot-linkerd-rotator');
    expect(parseConfig(['--webhook-configuration', 'other'], {}).webhookConfiguration).toBe('other');
    expect(parseConfig([], {}).webhookConfiguration).toBeUndefined();
    expect(parseConfig([], { WEBHOOK_CONFIGURATION: '' }).webhookConfiguration).toBeUndefined();
  });

  it('labels its series by the cluster the chart names (CLUSTER_NAME, fleet.clusterName), none by default, and refuses a name that is no label value of the fleet', () => {
    expect(parseConfig([], { CLUSTER_NAME: 'east-1' }).clusterName).toBe('east-1');
    expect(parseConfig(['--cluster-name', 'west.eu_2'], {}).clusterName).toBe('west.eu_2');
    expect(parseConfig([], {}).clusterName).toBeUndefined();
    expect(parseConfig([], { CLUSTER_NAME: '' }).clusterName).toBeUndefined();
    expect(() => parseConfig(['--cluster-name', 'east 1'], {})).toThrow(/--cluster-name/);
    expect(() => parseConfig(['--cluster-name', '-east'], {})).toThrow(/--cluster-name/);
    expect(() => parseConfig(['--cluster-name', 'e'.repeat(64)], {})).toThrow(/--cluster-name/);
  });

  it('lists every flag with its environment variable for --help', () => {
    expect(flagHelp()).toMatch(/--metrics-port {2}\(env METRICS_PORT\)/);
    expect(flagHelp()).toMatch(/--trust-roots-configmap {2}\(env TRUST_ROOTS_CONFIGMAP\)/);
    expect(flagHelp()).not.toMatch(/--lease/);
  });
});
