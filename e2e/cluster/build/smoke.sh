#!/usr/bin/env bash
# Smoke test of the binaries build.sh made: starts etcd, kube-apiserver, controller-manager,
# scheduler, kwok, cert-manager (controller + cainjector) and trust-manager on 127.0.0.1, checks
# that each does its job once, and stops them all. Takes about 15 s after the build.
#
# Usage: smoke.sh [workdir]   (default: a new temp dir, removed afterwards unless KEEP=1)
# Needs: the cache filled by build.sh (bin/manifest.json), openssl, base64.
# It is a reference for the cluster runtime (the flags here are the ones NOTES.md lists), not a
# test suite; it exits non-zero with a message naming the step that failed.
set -euo pipefail

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/linkerd-rotator"
manifest="$cache_root/bin/manifest.json"
[[ -f "$manifest" ]] || { echo "smoke: $manifest not found; run build.sh first" >&2; exit 1; }

# manifest.json is written by build.sh one entry per line, so sed can read it without jq.
entry() { sed -n "/\"binaries\"/,/}/ s|^ *\"$1\": \"\(.*\)\",\{0,1\}$|\1|p" "$manifest"; }
dir_of() { sed -n "s|^ *\"$1\": {\"version\": \"[^\"]*\", \"dir\": \"\(.*\)\"},\{0,1\}$|\1|p" "$manifest"; }
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok \
  cert-manager-controller cert-manager-cainjector trust-manager; do
  p="$(entry "$b")"
  [[ -x "$p" ]] || { echo "smoke: $b is not in $manifest; run build.sh" >&2; exit 1; }
  printf -v "bin_${b//-/_}" '%s' "$p"
done
cm_crds="$(dir_of cert-manager)"; tm_crds="$(dir_of trust-manager)"
stages="$(sed -n 's|^ *"kwokStages": {"version": "[^"]*", "file": "\(.*\)"}$|\1|p' "$manifest")"
[[ -d "$cm_crds" && -d "$tm_crds" && -f "$stages" ]] || { echo "smoke: CRDs or kwok stages missing from $manifest" >&2; exit 1; }

D="${1:-$(mktemp -d)}"
mkdir -p "$D"
keep="${KEEP:-0}"
[[ $# -gt 0 ]] && keep=1
pids=()
stop_all() {
  # Reverse start order: clients first, etcd last (the API server waits for etcd to shut down).
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || continue
    while kill -0 "${pids[i]}" 2>/dev/null; do sleep 0.1; done
  done
  [[ "$keep" == 1 ]] || rm -rf "$D"
}
trap stop_all EXIT
fail() { echo "smoke: FAILED: $*; logs in $D" >&2; keep=1; exit 1; }

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    (: </dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; return; }
  done
}
etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)
tm_webhook=$(free_port); tm_metrics=$(free_port); tm_ready=$(free_port)

# PKI: one CA signs the API server's serving cert and every client cert; an RSA service-account
# key pair signs tokens.
pki="$D/pki"; mkdir -p "$pki" "$D/etcd" "$D/trust-manager-tls"; chmod 700 "$D/etcd"
ossl() { openssl "$@" 2>/dev/null || fail "openssl $1"; }
ossl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 1 -subj "/CN=smoke-ca"
sign() { # name subject [extfile]
  ossl req -newkey rsa:2048 -nodes -keyout "$pki/$1.key" -out "$pki/$1.csr" -subj "$2"
  ossl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -out "$pki/$1.crt" -days 1 ${3:+-extfile "$3"}
}
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$pki/apiserver.ext"
sign apiserver "/CN=kube-apiserver" "$pki/apiserver.ext"
sign admin "/O=system:masters/CN=smoke-admin"
sign controller-manager "/CN=system:kube-controller-manager"
sign scheduler "/CN=system:kube-scheduler"
ossl genrsa -out "$pki/sa.key" 2048
ossl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
ossl req -x509 -newkey rsa:2048 -nodes -keyout "$D/trust-manager-tls/tls.key" \
  -out "$D/trust-manager-tls/tls.crt" -days 1 -subj "/CN=trust-manager"

kubeconfig() { # user
  cat >"$D/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: smoke
  cluster: {server: "https://127.0.0.1:$api_port", certificate-authority: "$pki/ca.crt"}
users:
- name: $1
  user: {client-certificate: "$pki/$1.crt", client-key: "$pki/$1.key"}
contexts:
- name: smoke
  context: {cluster: smoke, user: $1}
current-context: smoke
EOF
}
kubeconfig admin; kubeconfig controller-manager; kubeconfig scheduler
K() { "$bin_kubectl" --kubeconfig "$D/admin.kubeconfig" "$@"; }
start() { # name cmd...
  local name="$1"; shift
  "$@" >"$D/$name.log" 2>&1 &
  pids+=($!)
}
t0=$SECONDS
step() { echo "smoke: +$((SECONDS - t0))s $*"; }

start etcd "$bin_etcd" --name smoke --data-dir "$D/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "smoke=http://127.0.0.1:$peer_port" --unsafe-no-fsync --log-level warn
start kube-apiserver "$bin_kube_apiserver" \
  --etcd-servers="http://127.0.0.1:$etcd_port" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
  --endpoint-reconciler-type=none \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
  --client-ca-file="$pki/ca.crt" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --service-cluster-ip-range=10.96.0.0/16 \
  --authorization-mode=Node,RBAC \
  --enable-admission-plugins=NamespaceLifecycle,ServiceAccount,MutatingAdmissionWebhook,ValidatingAdmissionWebhook
for _ in $(seq 1 120); do K get --raw /readyz >/dev/null 2>&1 && break; sleep 0.5; done
K get --raw /readyz >/dev/null 2>&1 || fail "kube-apiserver did not become ready"
server_version="$(K version -o yaml | sed -n 's/^  gitVersion: //p' | tail -n1)"
step "kube-apiserver ready, reports $server_version"

start kube-controller-manager "$bin_kube_controller_manager" --kubeconfig="$D/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$D/controller-manager.kubeconfig" \
  --authorization-kubeconfig="$D/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port=0 --leader-elect=false --use-service-account-credentials=true \
  --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
  --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key"
start kube-scheduler "$bin_kube_scheduler" --kubeconfig="$D/scheduler.kubeconfig" \
  --authentication-kubeconfig="$D/scheduler.kubeconfig" --authorization-kubeconfig="$D/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port=0 --leader-elect=false
start kwok "$bin_kwok" --kubeconfig="$D/admin.kubeconfig" --manage-all-nodes=true \
  --config="$stages" --node-lease-duration-seconds=40 --server-address=127.0.0.1:0

K apply --server-side -f "$cm_crds" -f "$tm_crds" >/dev/null || fail "applying CRDs"
K wait --for=condition=Established crd --all --timeout=60s >/dev/null || fail "CRDs not established"
K create namespace cert-manager >/dev/null
start cert-manager-controller "$bin_cert_manager_controller" --kubeconfig="$D/admin.kubeconfig" \
  --cluster-resource-namespace=cert-manager \
  --metrics-listen-address=127.0.0.1:0 --healthz-listen-address=127.0.0.1:0
start cert-manager-cainjector "$bin_cert_manager_cainjector" --kubeconfig="$D/admin.kubeconfig" \
  --metrics-listen-address= --healthz-listen-address=
start trust-manager "$bin_trust_manager" --kubeconfig="$D/admin.kubeconfig" --leader-elect=false \
  --trust-namespace=cert-manager --webhook-host=127.0.0.1 --webhook-port="$tm_webhook" \
  --webhook-certificate-dir="$D/trust-manager-tls" --metrics-port="$tm_metrics" --readiness-probe-port="$tm_ready"
step "controllers started"

K apply -f - >/dev/null <<'EOF' || fail "creating the kwok node"
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations: {kwok.x-k8s.io/node: fake}
  labels: {type: kwok}
EOF
# cert-manager: self-signed root -> CA ClusterIssuer -> leaf; cainjector copies the leaf's CA
# into a webhook; trust-manager distributes the root.
K apply -f - >/dev/null <<'EOF' || fail "creating cert-manager and trust-manager objects"
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: selfsigned}
spec: {selfSigned: {}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: root-ca, namespace: cert-manager}
spec:
  isCA: true
  commonName: smoke-root
  secretName: root-ca
  privateKey: {algorithm: ECDSA, size: 256}
  issuerRef: {name: selfsigned, kind: ClusterIssuer, group: cert-manager.io}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: root-ca}
spec: {ca: {secretName: root-ca}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: leaf, namespace: default}
spec:
  dnsNames: [leaf.default.svc]
  secretName: leaf
  issuerRef: {name: root-ca, kind: ClusterIssuer, group: cert-manager.io}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: smoke-injected
  annotations: {cert-manager.io/inject-ca-from: default/leaf}
webhooks:
- name: smoke-injected.example.com
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Ignore
  clientConfig: {url: "https://127.0.0.1:1/validate"}
  rules: [{apiGroups: ["example.com"], apiVersions: ["v1"], operations: ["CREATE"], resources: ["nothings"]}]
---
apiVersion: trust.cert-manager.io/v1alpha1
kind: Bundle
metadata: {name: smoke-roots}
spec:
  sources: [{secret: {name: root-ca, key: ca.crt}}]
  target: {configMap: {key: roots.pem}}
EOF
K wait --for=condition=Ready certificate/leaf -n default --timeout=90s >/dev/null || fail "Certificate leaf not Ready"
step "cert-manager issued root and leaf"

ca=""
for _ in $(seq 1 120); do
  ca="$(K get validatingwebhookconfiguration smoke-injected -o jsonpath='{.webhooks[0].clientConfig.caBundle}')"
  [[ -n "$ca" ]] && break; sleep 0.5
done
[[ -n "$ca" ]] || fail "cainjector did not inject caBundle"
subject="$(printf '%s' "$ca" | base64 -d | openssl x509 -noout -subject)"
[[ "$subject" == *smoke-root* ]] || fail "injected caBundle has subject '$subject', expected smoke-root"
step "cainjector injected caBundle ($subject)"

for _ in $(seq 1 120); do K get configmap smoke-roots -n default >/dev/null 2>&1 && break; sleep 0.5; done
bundle="$(K get configmap smoke-roots -n default -o jsonpath='{.data.roots\.pem}' 2>/dev/null)" \
  || fail "trust-manager did not write ConfigMap smoke-roots"
[[ "$(printf '%s' "$bundle" | openssl x509 -noout -subject)" == *smoke-root* ]] || fail "trust bundle is not the root"
step "trust-manager wrote the bundle"

for _ in $(seq 1 120); do K get sa default -n default >/dev/null 2>&1 && break; sleep 0.5; done
K get sa default -n default >/dev/null 2>&1 || fail "controller-manager did not create ServiceAccount default"
K apply -f - >/dev/null <<'EOF' || fail "creating the pod"
apiVersion: v1
kind: Pod
metadata: {name: smoke, namespace: default}
spec:
  containers: [{name: c, image: fake}]
  tolerations: [{operator: Exists}]
EOF
K wait --for=condition=Ready node/kwok-node-0 --timeout=60s >/dev/null || fail "kwok node not Ready"
K wait --for=condition=Ready pod/smoke -n default --timeout=60s >/dev/null || fail "pod not Ready (scheduler or kwok)"
step "pod scheduled onto the kwok node and Ready"
echo "smoke: passed ($server_version, $((SECONDS - t0))s)"
