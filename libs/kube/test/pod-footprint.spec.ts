// Issue 16: the runner's memory at thousands of meshed pods is what its pod cache keeps per pod. This
// guards the bytes kept per cached pod (after `slimPod`) with no timing assertion: each pod is a
// distinct object parsed from the JSON a real API server sends for a Linkerd-injected pod (managed
// fields, the proxy's ~40 environment variables, its trust anchors, init container, volumes, status),
// and the retained heap is measured after a full garbage collection.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { V1Pod } from '@kubernetes/client-node';
import { fixtures } from '@linkerd-rotator/x509/testing';
import { slimPod } from '../src/rotation/pod-facts.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * What the runner may keep per cached meshed pod, slimmed. Measured 2026-12-06 (Node 24, this file's
 * pod, 12.5 KB of JSON): 1018 bytes slimmed (4075 before slimPod rebuilt objects and kept shared
 * strings once), 19.4 KB whole. The budget leaves 50% headroom.
 */
const BUDGET_BYTES_PER_POD = 1536;
const PODS = 2000;

/** A meshed pod as the API server returns it for a Deployment injected by Linkerd's proxy-injector. */
function injectedPodJson(trustAnchors: string, i: number): string {
  const name = `web-7c9f8d6b5-${String(i).padStart(5, '0')}`;
  const proxyEnv = [
    ['LINKERD2_PROXY_LOG', 'warn,linkerd=info,hickory=error,[{headers}]=off,[{request}]=off'],
    ['LINKERD2_PROXY_LOG_FORMAT', 'plain'],
    ['LINKERD2_PROXY_DESTINATION_SVC_ADDR', 'linkerd-dst-headless.linkerd.svc.cluster.local.:8086'],
    ['LINKERD2_PROXY_DESTINATION_PROFILE_NETWORKS', '10.0.0.0/8,100.64.0.0/10,172.16.0.0/12,192.168.0.0/16,fd00::/8'],
    ['LINKERD2_PROXY_POLICY_SVC_ADDR', 'linkerd-policy.linkerd.svc.cluster.local.:8090'],
    ['LINKERD2_PROXY_POLICY_WORKLOAD', `{"ns":"shop", "pod":"${name}"}`],
    ['LINKERD2_PROXY_INBOUND_DEFAULT_POLICY', 'all-unauthenticated'],
    ['LINKERD2_PROXY_POLICY_CLUSTER_NETWORKS', '10.0.0.0/8,100.64.0.0/10,172.16.0.0/12,192.168.0.0/16,fd00::/8'],
    ['LINKERD2_PROXY_CONTROL_STREAM_INITIAL_TIMEOUT', '3s'],
    ['LINKERD2_PROXY_CONTROL_STREAM_IDLE_TIMEOUT', '5m'],
    ['LINKERD2_PROXY_CONTROL_STREAM_LIFETIME', '1h'],
    ['LINKERD2_PROXY_INBOUND_CONNECT_TIMEOUT', '100ms'],
    ['LINKERD2_PROXY_OUTBOUND_CONNECT_TIMEOUT', '1000ms'],
    ['LINKERD2_PROXY_OUTBOUND_DISCOVERY_IDLE_TIMEOUT', '5s'],
    ['LINKERD2_PROXY_INBOUND_DISCOVERY_IDLE_TIMEOUT', '90s'],
    ['LINKERD2_PROXY_CONTROL_LISTEN_ADDR', '[::]:4190'],
    ['LINKERD2_PROXY_ADMIN_LISTEN_ADDR', '[::]:4191'],
    ['LINKERD2_PROXY_OUTBOUND_LISTEN_ADDR', '127.0.0.1:4140'],
    ['LINKERD2_PROXY_INBOUND_LISTEN_ADDR', '[::]:4143'],
    ['LINKERD2_PROXY_INBOUND_PORTS', '8080'],
    ['LINKERD2_PROXY_DESTINATION_PROFILE_SUFFIXES', 'svc.cluster.local.'],
    ['LINKERD2_PROXY_INBOUND_ACCEPT_KEEPALIVE', '10000ms'],
    ['LINKERD2_PROXY_OUTBOUND_CONNECT_KEEPALIVE', '10000ms'],
    ['LINKERD2_PROXY_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION', '25,587,3306,4444,5432,6379,9300,11211'],
    ['LINKERD2_PROXY_DESTINATION_CONTEXT', `{"ns":"shop", "nodeName":"node-${i % 50}", "pod":"${name}"}`],
    ['_pod_sa', 'web'],
    ['_l5d_ns', 'linkerd'],
    ['_l5d_trustdomain', 'cluster.local'],
    ['LINKERD2_PROXY_IDENTITY_DIR', '/var/run/linkerd/identity/end-entity'],
    ['LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS', trustAnchors],
    ['LINKERD2_PROXY_IDENTITY_TOKEN_FILE', '/var/run/secrets/tokens/linkerd-identity-token'],
    ['LINKERD2_PROXY_IDENTITY_SVC_ADDR', 'linkerd-identity-headless.linkerd.svc.cluster.local.:8080'],
    ['LINKERD2_PROXY_IDENTITY_LOCAL_NAME', '$(_pod_sa).$(_pod_ns).serviceaccount.identity.linkerd.cluster.local'],
    ['LINKERD2_PROXY_IDENTITY_SVC_NAME', 'linkerd-identity.linkerd.serviceaccount.identity.linkerd.cluster.local'],
    ['LINKERD2_PROXY_DESTINATION_SVC_NAME', 'linkerd-destination.linkerd.serviceaccount.identity.linkerd.cluster.local'],
    ['LINKERD2_PROXY_POLICY_SVC_NAME', 'linkerd-destination.linkerd.serviceaccount.identity.linkerd.cluster.local'],
  ].map(([n, value]) => ({ name: n, value }));
  const pod = {
    metadata: {
      name,
      generateName: 'web-7c9f8d6b5-',
      namespace: 'shop',
      uid: `0b6c7a4e-1f2d-4c3b-9a8e-${String(i).padStart(12, '0')}`,
      resourceVersion: String(100000 + i),
      creationTimestamp: '2026-12-06T01:00:00Z',
      labels: { app: 'web', 'pod-template-hash': '7c9f8d6b5', 'linkerd.io/control-plane-ns': 'linkerd', 'linkerd.io/proxy-deployment': 'web', 'linkerd.io/workload-ns': 'shop' },
      annotations: {
        'kubectl.kubernetes.io/restartedAt': '2026-12-06T00:59:00Z',
        'linkerd.io/created-by': 'linkerd/proxy-injector edge-25.11.1',
        'linkerd.io/proxy-version': 'edge-25.11.1',
        'linkerd.io/trust-root-sha256': 'd1c2b3a4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00',
        'linkerd.io/inject': 'enabled',
        'viz.linkerd.io/tap-enabled': 'true',
      },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7c9f8d6b5', uid: '5e1f0c9a-7b6d-4e2f-8a1c-3d4b5a6c7e8f', controller: true, blockOwnerDeletion: true }],
      managedFields: [
        { manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time: '2026-12-06T01:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:generateName': {}, 'f:labels': { '.': {}, 'f:app': {}, 'f:pod-template-hash': {} }, 'f:ownerReferences': { '.': {}, 'k:{"uid":"5e1f0c9a-7b6d-4e2f-8a1c-3d4b5a6c7e8f"}': {} } }, 'f:spec': { 'f:containers': { 'k:{"name":"web"}': { '.': {}, 'f:image': {}, 'f:imagePullPolicy': {}, 'f:name': {}, 'f:ports': {}, 'f:resources': {} } }, 'f:dnsPolicy': {}, 'f:enableServiceLinks': {}, 'f:restartPolicy': {}, 'f:schedulerName': {}, 'f:securityContext': {}, 'f:terminationGracePeriodSeconds': {} } } },
        { manager: 'kubelet', operation: 'Update', apiVersion: 'v1', time: '2026-12-06T01:00:05Z', fieldsType: 'FieldsV1', subresource: 'status', fieldsV1: { 'f:status': { 'f:conditions': { 'k:{"type":"ContainersReady"}': { '.': {}, 'f:lastProbeTime': {}, 'f:lastTransitionTime': {}, 'f:status': {}, 'f:type': {} }, 'k:{"type":"Initialized"}': { '.': {}, 'f:lastProbeTime': {}, 'f:lastTransitionTime': {}, 'f:status': {}, 'f:type': {} }, 'k:{"type":"Ready"}': { '.': {}, 'f:lastProbeTime': {}, 'f:lastTransitionTime': {}, 'f:status': {}, 'f:type': {} } }, 'f:containerStatuses': {}, 'f:hostIP': {}, 'f:initContainerStatuses': {}, 'f:phase': {}, 'f:podIP': {}, 'f:podIPs': { '.': {}, 'k:{"ip":"10.244.1.17"}': { '.': {}, 'f:ip': {} } }, 'f:startTime': {} } } },
      ],
    },
    spec: {
      volumes: [
        { name: 'kube-api-access-x7k2p', projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }, { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }, { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } }], defaultMode: 420 } },
        { name: 'linkerd-proxy-init-xtables-lock', emptyDir: {} },
        { name: 'linkerd-identity-end-entity', emptyDir: { medium: 'Memory' } },
        { name: 'linkerd-identity-token', projected: { sources: [{ serviceAccountToken: { audience: 'identity.l5d.io', expirationSeconds: 86400, path: 'linkerd-identity-token' } }], defaultMode: 420 } },
      ],
      initContainers: [
        { name: 'linkerd-init', image: 'cr.l5d.io/linkerd/proxy-init:v2.4.3', args: ['--incoming-proxy-port', '4143', '--outgoing-proxy-port', '4140', '--proxy-uid', '2102', '--inbound-ports-to-ignore', '4190,4191,4567,4568', '--outbound-ports-to-ignore', '4567,4568'], resources: { limits: { cpu: '100m', memory: '20Mi' }, requests: { cpu: '100m', memory: '20Mi' } }, securityContext: { allowPrivilegeEscalation: false, capabilities: { add: ['NET_ADMIN', 'NET_RAW'] }, privileged: false, readOnlyRootFilesystem: true, runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: 'RuntimeDefault' } }, terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'FallbackToLogsOnError', imagePullPolicy: 'IfNotPresent', volumeMounts: [{ name: 'linkerd-proxy-init-xtables-lock', mountPath: '/run' }, { name: 'kube-api-access-x7k2p', readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }] },
      ],
      containers: [
        { name: 'linkerd-proxy', image: 'cr.l5d.io/linkerd/proxy:edge-25.11.1', ports: [{ name: 'linkerd-proxy', containerPort: 4143, protocol: 'TCP' }, { name: 'linkerd-admin', containerPort: 4191, protocol: 'TCP' }], env: [...proxyEnv, { name: '_pod_ns', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } }, { name: '_pod_nodeName', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.nodeName' } } }], resources: {}, volumeMounts: [{ name: 'linkerd-identity-end-entity', mountPath: '/var/run/linkerd/identity/end-entity' }, { name: 'linkerd-identity-token', mountPath: '/var/run/secrets/tokens' }, { name: 'kube-api-access-x7k2p', readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }], livenessProbe: { httpGet: { path: '/live', port: 4191, scheme: 'HTTP' }, initialDelaySeconds: 10, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 }, readinessProbe: { httpGet: { path: '/ready', port: 4191, scheme: 'HTTP' }, initialDelaySeconds: 2, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 }, lifecycle: { postStart: { exec: { command: ['/usr/lib/linkerd/linkerd-await', '--timeout=2m', '--port=4191'] } } }, terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'FallbackToLogsOnError', imagePullPolicy: 'IfNotPresent', securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, runAsUser: 2102, seccompProfile: { type: 'RuntimeDefault' } } },
        { name: 'web', image: 'registry.example.com/shop/web:1.42.0', ports: [{ containerPort: 8080, protocol: 'TCP' }], resources: { requests: { cpu: '50m', memory: '64Mi' } }, volumeMounts: [{ name: 'kube-api-access-x7k2p', readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }], terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent' },
      ],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'web',
      serviceAccount: 'web',
      nodeName: `node-${i % 50}`,
      securityContext: {},
      schedulerName: 'default-scheduler',
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }, { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
    },
    status: {
      phase: 'Running',
      conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: '2026-12-06T01:00:05Z' })),
      hostIP: '172.18.0.3',
      hostIPs: [{ ip: '172.18.0.3' }],
      podIP: `10.244.${i % 250}.${i % 200}`,
      podIPs: [{ ip: `10.244.${i % 250}.${i % 200}` }],
      startTime: '2026-12-06T01:00:00Z',
      initContainerStatuses: [{ name: 'linkerd-init', state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: '2026-12-06T01:00:01Z', finishedAt: '2026-12-06T01:00:01Z', containerID: `containerd://${'a'.repeat(64)}` } }, lastState: {}, ready: true, restartCount: 0, image: 'cr.l5d.io/linkerd/proxy-init:v2.4.3', imageID: `cr.l5d.io/linkerd/proxy-init@sha256:${'b'.repeat(64)}`, containerID: `containerd://${'a'.repeat(64)}`, started: false }],
      containerStatuses: ['linkerd-proxy', 'web'].map((n) => ({ name: n, state: { running: { startedAt: '2026-12-06T01:00:02Z' } }, lastState: {}, ready: true, restartCount: 0, image: n, imageID: `${n}@sha256:${'c'.repeat(64)}`, containerID: `containerd://${'d'.repeat(64)}`, started: true })),
      qosClass: 'Burstable',
    },
  };
  return JSON.stringify(pod);
}

/** Heap bytes retained per pod when `count` distinct pods parsed from the JSON are kept, each passed through `keep`. */
function retainedBytesPerPod(texts: readonly string[], keep: (pod: V1Pod) => void): number {
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept = texts.map((text) => {
    const pod = JSON.parse(text) as V1Pod;
    keep(pod);
    return pod;
  });
  gc();
  const after = process.memoryUsage().heapUsed;
  expect(kept).toHaveLength(texts.length);
  return (after - before) / texts.length;
}

describe('bytes the runner keeps per cached meshed pod (issue 16)', () => {
  let texts: string[];
  beforeAll(async () => {
    const [a, b] = await Promise.all([fixtures.makeAnchor(), fixtures.makeAnchor()]);
    const anchors = fixtures.bundleOf(a, b);
    texts = Array.from({ length: PODS }, (_, i) => injectedPodJson(anchors, i));
  });

  it(`stays within ${BUDGET_BYTES_PER_POD} bytes per pod after slimPod`, () => {
    const slimmed = retainedBytesPerPod(texts, slimPod);
    const full = retainedBytesPerPod(texts, () => undefined);
    // The figure the README's scale section quotes; the budget is what a regression must not cross.
    process.stdout.write(`pod cache: ${Math.round(slimmed)} bytes per slimmed pod, ${Math.round(full)} per full pod (${texts[0]!.length} bytes of JSON each), ${PODS} pods\n`);
    expect(slimmed).toBeLessThan(BUDGET_BYTES_PER_POD);
    // Control: the same measurement sees a pod kept whole; it is far above the budget.
    expect(full).toBeGreaterThan(4 * BUDGET_BYTES_PER_POD);
  });
});
