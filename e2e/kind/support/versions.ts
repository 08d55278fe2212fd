// Everything the kind tier pulls from outside the repository, pinned in one place. Versions of
// cert-manager and trust-manager match the local cluster's (e2e/cluster/build/build.sh); helm is
// the chart tests' build (charts/linkerd-rotator/tools/build.sh, v3.22.0, as the release workflow).
// A few can be overridden from the environment to try a newer upstream without editing code.

const env = (name: string, fallback: string) => process.env[name]?.trim() || fallback;

export const versions = {
  /** kind CLI, installed with `go install sigs.k8s.io/kind@<version>` from the Go module proxy. */
  kind: 'v0.33.0',
  /** kind v0.33.0's default node image (pkg/apis/config/defaults/image.go), pinned by digest. */
  nodeImage: env(
    'KIND_NODE_IMAGE',
    'kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5',
  ),
  /** jetstack charts (https://charts.jetstack.io); chart versions carry the leading v. */
  certManager: 'v1.21.2',
  trustManager: 'v0.25.0',
  /**
   * Gateway API CRDs (standard channel), applied from the sigs.k8s.io/gateway-api module zip:
   * Linkerd needs them installed, and its Helm charts no longer install them. 1.2.1 is the newest
   * release Linkerd documents as compatible (HTTPRoute and GRPCRoute v1).
   */
  gatewayApi: env('KIND_GATEWAY_API_VERSION', 'v1.2.1'),
  /** Linkerd edge release charts (https://helm.linkerd.io/edge): chart 2026.8.1 is edge-26.8.1. */
  linkerdChart: env('KIND_LINKERD_CHART_VERSION', '2026.8.1'),
  /** Images of the meshed traffic pair. */
  serverImage: 'hashicorp/http-echo:1.0.0',
  clientImage: 'curlimages/curl:8.11.1',
} as const;

export const repos = {
  jetstack: 'https://charts.jetstack.io',
  linkerdEdge: 'https://helm.linkerd.io/edge',
} as const;

/** Tag of the app images built from apps/*\/Dockerfile and loaded into the kind nodes. */
export const appImageTag = 'kind-e2e';
export const appImages = {
  'rotation-runner': `ghcr.io/linkerd-rotator/rotation-runner:${appImageTag}`,
  webhook: `ghcr.io/linkerd-rotator/webhook:${appImageTag}`,
} as const;
