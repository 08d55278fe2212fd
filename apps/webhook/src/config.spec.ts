// The webhook's flags: environment fallback and defaults, object names from libs/names' table, and
// errors that name the flag.
import { ConfigError, parseConfig } from './config.js';

describe('parseConfig', () => {
  it('reads flags, falls back to the chart\'s env variables and defaults', () => {
    const c = parseConfig(['--tls-cert-file', '/c.pem', '--port', '9443', '--linkerd-namespace', 'mesh'], { TLS_KEY_FILE: '/k.pem', PORT: '1' });
    expect(c.tls).toEqual({ certFile: '/c.pem', keyFile: '/k.pem', reloadIntervalMs: 5000 });
    expect(c.listen).toEqual({ address: '0.0.0.0', port: 9443 });
    expect(c.names.linkerdNamespace).toBe('mesh');
    expect(c.names.trustRootsConfigMap).toBe('linkerd-identity-trust-roots');
    expect(c.limits.maxBytes).toBe(256 * 1024);
  });

  it('takes the object names of libs/names with their flags, and no exporter flags (the exporter is its own process)', () => {
    const c = parseConfig(['--tls-cert-file', 'a', '--tls-key-file', 'b', '--state-namespace', 'rotator', '--trust-roots-configmap', 'roots'], {});
    expect(c.names.releaseNamespace).toBe('rotator');
    expect(c.names.trustRootsConfigMap).toBe('roots');
    expect(() => parseConfig(['--tls-cert-file', 'a', '--tls-key-file', 'b', '--exporter-watch-pods', 'true'], {})).toThrow(/exporter-watch-pods/);
    expect(() => parseConfig(['--tls-cert-file', 'a', '--tls-key-file', 'b', '--lease', 'x'], {})).toThrow(ConfigError);
  });

  it("lets trust-manager's ServiceAccount in the trust namespace change the trust roots' ownerReferences by default, or the --allow-owner-references-by users", () => {
    const base = ['--tls-cert-file', 'a', '--tls-key-file', 'b'];
    expect(parseConfig(base, {}).allowOwnerReferencesBy).toEqual(['system:serviceaccount:cert-manager:trust-manager']);
    expect(parseConfig(base, { TRUST_NAMESPACE: 'trust' }).allowOwnerReferencesBy).toEqual(['system:serviceaccount:trust:trust-manager']);
    expect(parseConfig([...base, '--allow-owner-references-by', 'u1, u2'], {}).allowOwnerReferencesBy).toEqual(['u1', 'u2']);
    expect(parseConfig(base, { ALLOW_OWNER_REFERENCES_BY: 'system:serviceaccount:tm:trust-manager-x' }).allowOwnerReferencesBy).toEqual(['system:serviceaccount:tm:trust-manager-x']);
  });

  it('rejects unknown flags, missing files and bad numbers with the flag named', () => {
    expect(() => parseConfig(['--nope', 'x'], {})).toThrow(ConfigError);
    expect(() => parseConfig([], {})).toThrow(/--tls-cert-file/);
    expect(() => parseConfig(['--tls-cert-file', 'a', '--tls-key-file', 'b', '--port', 'http'], {})).toThrow(/--port/);
  });
});
