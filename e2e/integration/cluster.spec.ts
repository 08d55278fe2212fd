// The local cluster behaves like a real one where this product depends on it: workloads roll on
// kwok nodes, cert-manager issues and renews, trust-manager syncs bundles, helm installs charts.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { runBuildScript } from '../cluster/src/build.js';
import { ephemeralPortRange, isAlive, processState } from '../cluster/src/process.js';
import { freePorts, waitFor } from '../cluster/src/index.js';
import { run } from '../cluster/src/kubectl.js';
import { createNamespace, useCluster } from '../support/cluster.js';
import { cmctlRenew, waitForReissue } from '../support/common-recipe.js';

const testCluster = useCluster();

const kubectl = (args: string[], input?: string) => testCluster().kubectl(args, input === undefined ? {} : { input });

async function jsonpath(args: string[], expr: string): Promise<string> {
  return (await kubectl([...args, '-o', `jsonpath=${expr}`])).stdout.trim();
}

describe('local cluster', () => {
  it('runs a command that exits without reading its input (kubectl auth can-i): its exit code, not EPIPE', async () => {
    // Four MiB outgrow the pipe's buffer, so the write fails once `true` has exited; before the
    // fix that EPIPE escaped the run (chart.spec's can-i matrix failed on it once).
    await expect(run('true', [], { input: 'x'.repeat(4 << 20) })).resolves.toMatchObject({ code: 0 });
    await expect(run('false', [], { input: 'x'.repeat(4 << 20) })).rejects.toThrow(/`false` exited 1/);
  });

  it('takes a build script\'s result from its stdout even when its stderr speaks last', async () => {
    // The stand-ins' script prints `linkerd-standin: cached (...)` on stderr and the binary's path on
    // stdout; the pipes are read apart, and CI once got the stderr line as the path (the supervisor's
    // spawn failed ENOENT and no pod was meshed). The script makes stderr arrive last on purpose.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'build-script-'));
    const script = path.join(dir, 'build.sh');
    writeFileSync(script, 'echo progress >&2\necho /cache/bin/tool\nexec 1>&-\nsleep 0.3\necho "tool: cached (abc)" >&2\n');
    const lines: string[] = [];
    await expect(runBuildScript(script, (l) => lines.push(l))).resolves.toBe('/cache/bin/tool');
    expect([...lines].sort()).toEqual(['/cache/bin/tool', 'progress', 'tool: cached (abc)']);
  });

  it('reports the pinned Kubernetes version', async () => {
    const out = await kubectl(['version', '-o', 'json']);
    const version = JSON.parse(out.stdout) as { serverVersion: { gitVersion: string; minor: string } };
    expect(version.serverVersion.gitVersion).toMatch(/^v1\.3[3-9]\.\d+$/);
  });

  it('rolls out a 3-replica Deployment on kwok nodes and completes a rollout restart with new pods', async () => {
    const ns = await createNamespace('rollout');
    await kubectl(['-n', ns, 'create', 'deployment', 'web', '--image=example.invalid/web:1', '--replicas=3']);
    await kubectl(['-n', ns, 'rollout', 'status', 'deployment/web', '--timeout=120s']);
    const before = (await jsonpath(['-n', ns, 'get', 'pods', '-l', 'app=web'], '{.items[*].metadata.name}')).split(' ');
    expect(before).toHaveLength(3);
    const nodes = await jsonpath(['-n', ns, 'get', 'pods', '-l', 'app=web'], '{.items[*].spec.nodeName}');
    expect(nodes).toMatch(/kwok-node-/);

    await kubectl(['-n', ns, 'rollout', 'restart', 'deployment/web']);
    await kubectl(['-n', ns, 'rollout', 'status', 'deployment/web', '--timeout=120s']);
    const after = await waitFor(
      async () => {
        const names = (await jsonpath(['-n', ns, 'get', 'pods', '-l', 'app=web', '--field-selector=status.phase=Running'], '{.items[*].metadata.name}')).split(' ').filter(Boolean);
        return names.length === 3 && names.every((n) => !before.includes(n)) ? names : undefined;
      },
      { what: 'only new pods to remain after the restart', timeoutMs: 120_000 },
    );
    expect(after.filter((n) => before.includes(n))).toEqual([]);
  });

  it('issues a self-signed CA and a CA-signed certificate with cert-manager, and a renewal bumps status.revision', async () => {
    const ns = await createNamespace('certs');
    await kubectl(['apply', '-f', '-'], `
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: selfsigned, namespace: ${ns}}
spec: {selfSigned: {}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: root, namespace: ${ns}}
spec:
  isCA: true
  commonName: test-root
  secretName: root
  privateKey: {algorithm: ECDSA, size: 256}
  issuerRef: {name: selfsigned, kind: Issuer}
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: ca, namespace: ${ns}}
spec: {ca: {secretName: root}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: leaf, namespace: ${ns}}
spec:
  commonName: leaf.example
  dnsNames: [leaf.example]
  secretName: leaf
  privateKey: {algorithm: ECDSA, size: 256}
  issuerRef: {name: ca, kind: Issuer}
`);
    await kubectl(['-n', ns, 'wait', '--for=condition=Ready', 'certificate/root', 'certificate/leaf', '--timeout=120s']);
    const leafCa = await jsonpath(['-n', ns, 'get', 'secret', 'leaf'], '{.data.ca\\.crt}');
    const rootCrt = await jsonpath(['-n', ns, 'get', 'secret', 'root'], '{.data.tls\\.crt}');
    expect(leafCa).toBe(rootCrt);
    const rev = Number(await jsonpath(['-n', ns, 'get', 'certificate', 'root'], '{.status.revision}'));
    expect(rev).toBe(1);

    // What `cmctl renew` does: set the Issuing condition through the status subresource.
    expect(await cmctlRenew(testCluster(), ns, 'root')).toBe(rev);
    expect(await waitForReissue(testCluster(), ns, 'root', rev)).toBe(rev + 1);
    expect(await jsonpath(['-n', ns, 'get', 'secret', 'root'], '{.data.tls\\.crt}')).not.toBe(rootCrt);
  });

  it('syncs a trust-manager bundle into a ConfigMap in labelled namespaces only', async () => {
    const labelled = await createNamespace('bundle-target', { labels: { 'linkerd-rotator-test/bundle': 'yes' } });
    const other = await createNamespace('bundle-other');
    const caNs = await createNamespace('bundle-src');
    await kubectl(['apply', '-f', '-'], `
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: selfsigned, namespace: cert-manager}
spec: {selfSigned: {}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: bundle-src-${caNs}, namespace: cert-manager}
spec:
  isCA: true
  commonName: bundle-src
  secretName: bundle-src-${caNs}
  privateKey: {algorithm: ECDSA, size: 256}
  issuerRef: {name: selfsigned, kind: Issuer}
`);
    await kubectl(['-n', 'cert-manager', 'wait', '--for=condition=Ready', `certificate/bundle-src-${caNs}`, '--timeout=120s']);
    await kubectl(['apply', '-f', '-'], `
apiVersion: trust.cert-manager.io/v1alpha1
kind: Bundle
metadata: {name: test-bundle-${caNs}}
spec:
  sources:
  - secret: {name: bundle-src-${caNs}, key: tls.crt}
  target:
    configMap: {key: ca-bundle.crt}
    namespaceSelector:
      matchLabels: {linkerd-rotator-test/bundle: "yes"}
`);
    const synced = await waitFor(
      async () => (await kubectl(['-n', labelled, 'get', 'configmap', `test-bundle-${caNs}`, '-o', 'jsonpath={.data.ca-bundle\\.crt}'], undefined).catch(() => ({ stdout: '' }))).stdout,
      { what: 'the bundle ConfigMap in the labelled namespace', timeoutMs: 120_000 },
    );
    expect(synced).toContain('BEGIN CERTIFICATE');
    const absent = await kubectl(['-n', other, 'get', 'configmap', `test-bundle-${caNs}`]).then(() => 'present', () => 'absent');
    expect(absent).toBe('absent');
  });

  it('installs a chart with helm', async () => {
    const ns = await createNamespace('helm');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'chart-'));
    mkdirSync(path.join(dir, 'templates'));
    writeFileSync(path.join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: trivial\nversion: 0.1.0\nkubeVersion: ">=1.33.0-0"\n');
    writeFileSync(path.join(dir, 'templates', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\ndata:\n  hello: {{ .Values.hello | default "world" | quote }}\n');
    await testCluster().helm(['install', 'trivial', dir, '-n', ns, '--set', 'hello=there', '--wait', '--timeout', '60s']);
    expect(await jsonpath(['-n', ns, 'get', 'configmap', 'trivial-cm'], '{.data.hello}')).toBe('there');
  });
});

describe('component ports', () => {
  // A component stopped and started again (stopComponent, startComponent) binds its port a second
  // time; a port from the ephemeral range could meanwhile be any outgoing connection's source port.
  it('are free, distinct and below the kernel\'s ephemeral range, so no connection takes one while its component is down', async () => {
    const [low] = ephemeralPortRange();
    const ports = await freePorts(12);
    expect(new Set(ports).size).toBe(12);
    expect(ports.filter((p) => p >= low)).toEqual([]);
    for (const port of ports) {
      const server = net.createServer();
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
      await new Promise((r) => server.close(r));
    }
  });

  it('reads the ephemeral range from the kernel, and falls back to the IANA range', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ports-'));
    writeFileSync(path.join(dir, 'range'), '20000\t30000\n');
    expect(ephemeralPortRange(path.join(dir, 'range'))).toEqual([20000, 30000]);
    expect(ephemeralPortRange(path.join(dir, 'missing'))).toEqual([49152, 65535]);
  });
});

describe('process liveness', () => {
  it('counts a zombie (exited, never reaped by its parent) as gone, and a running process as alive', async () => {
    // sh starts `sleep 0` in the background, prints its pid and execs `sleep 30`, which never
    // reaps it: the child stays a zombie, which kill(pid, 0) still finds, so stopProcess would
    // wait on it in vain. (CI on cd2b5dd timed out "waiting for kube-apiserver to die after
    // SIGKILL"; whether it was a zombie or a slow exit, the log does not say.)
    const child = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = Number(await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()))));
      expect(Number.isInteger(pid) && pid > 0).toBe(true);
      await waitFor(() => processState(pid) === 'Z', { what: `pid ${pid} to become a zombie`, timeoutMs: 10_000, intervalMs: 20 });
      expect(() => process.kill(pid, 0)).not.toThrow();
      expect(isAlive(pid)).toBe(false);
      expect(isAlive(child.pid!)).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('cluster CLI', () => {
  it('`cluster up` then `cluster down` leaves no process of ours running (checked by pid)', async () => {
    const { run } = await import('../cluster/src/kubectl.js');
    const { loadClusterState, isAlive, repoRoot } = await import('../cluster/src/index.js');
    const name = `cli-${process.pid}`;
    const tsx = path.join(repoRoot, 'node_modules/.bin/tsx');
    const cli = path.join(repoRoot, 'e2e/cluster/src/cli.ts');
    const up = await run(tsx, [cli, 'up', '--no-build', '--name', name, '--nodes', '1'], { timeoutMs: 240_000 });
    expect(up.stdout).toMatch(/export KUBECONFIG=\S+kubeconfig/);
    const state = loadClusterState(name)!;
    const pids = state.processes.map((p) => p.pid);
    expect(pids.length).toBeGreaterThanOrEqual(8);
    expect(pids.every(isAlive)).toBe(true);

    const status = await run(tsx, [cli, 'status', '--name', name]);
    expect(status.stdout).toContain('kube-apiserver');

    await run(tsx, [cli, 'down', '--name', name], { timeoutMs: 120_000 });
    expect(pids.filter(isAlive)).toEqual([]);
    expect(loadClusterState(name)).toBeUndefined();
  });
});
