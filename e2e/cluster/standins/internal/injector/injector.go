// Package injector is a STAND-IN for Linkerd's proxy-injector
// (linkerd2 controller/proxy-injector, pkg/inject, charts/patch).
//
// It reproduces what trust-anchor rotation depends on: on every admission
// request it re-reads the trust-roots file (upstream: the mounted
// linkerd-identity-trust-roots ConfigMap), and for pods whose pod or
// namespace annotation says linkerd.io/inject: enabled it adds a
// linkerd-proxy container whose LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS is the
// literal PEM, and annotates the pod with linkerd.io/trust-root-sha256, the
// hex SHA-256 of the exact bytes read. Dry-run requests get the same patch.
package injector

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotations, labels and names, as upstream spells them.
const (
	AnnotationInject        = "linkerd.io/inject"
	AnnotationTrustRootSHA  = "linkerd.io/trust-root-sha256"
	AnnotationProxyVersion  = "linkerd.io/proxy-version"
	AnnotationCreatedBy     = "linkerd.io/created-by"
	LabelControlPlaneNS     = "linkerd.io/control-plane-ns"
	LabelWorkloadNS         = "linkerd.io/workload-ns"
	LabelControlPlaneComp   = "linkerd.io/control-plane-component"
	ProxyContainerName      = "linkerd-proxy"
	InjectEnabled           = "enabled"
	InjectIngress           = "ingress"
	InjectDisabled          = "disabled"
	EnvTrustAnchors         = "LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS"
	EnvIdentityLocalName    = "LINKERD2_PROXY_IDENTITY_LOCAL_NAME"
	EnvIdentitySvcAddr      = "LINKERD2_PROXY_IDENTITY_SVC_ADDR"
	tokenVolumeName         = "linkerd-identity-token"
	endEntityVolumeName     = "linkerd-identity-end-entity"
	identityTokenAudience   = "identity.l5d.io"
	identityTokenExpiration = int64(86400)
)

// Config is what upstream takes from its linkerd-config values.
type Config struct {
	// LinkerdNamespace is the control-plane namespace (label linkerd.io/control-plane-ns).
	LinkerdNamespace string
	// TrustDomain and ClusterDomain shape identities and service addresses.
	TrustDomain   string
	ClusterDomain string
	// TrustRootsFile is re-read on every admission request.
	TrustRootsFile string
	// ProxyImage and ProxyVersion fill the container image and annotations.
	ProxyImage   string
	ProxyVersion string
	// IdentitySvcAddr overrides LINKERD2_PROXY_IDENTITY_SVC_ADDR (STAND-IN
	// ONLY; upstream always uses linkerd-identity-headless.<ns>.svc.<cluster>.:8080).
	IdentitySvcAddr string
}

// NamespaceGetter reads a namespace's annotations (the typed client in
// production, a map in tests).
type NamespaceGetter interface {
	NamespaceAnnotations(ctx context.Context, name string) (map[string]string, error)
}

// OwnerResolver finds the workload that owns a pod (optional).
type OwnerResolver interface {
	// Owner returns the kind (lower case, e.g. "deployment") and name of the
	// top-level workload that owns a pod with the given owner reference.
	Owner(ctx context.Context, ns string, ref metav1.OwnerReference) (string, string)
}

// Injector builds admission responses.
type Injector struct {
	Config     Config
	Namespaces NamespaceGetter
	Owners     OwnerResolver
}

// TrustRootSHA256 is the annotation value for a bundle: hex SHA-256 of the
// exact bytes of the trust-roots file (no trimming, no normalisation).
func TrustRootSHA256(bundle []byte) string {
	sum := sha256.Sum256(bundle)
	return hex.EncodeToString(sum[:])
}

// Admit handles one AdmissionRequest. An error means the request could not
// be processed; the caller turns it into a denial, as upstream does.
func (in *Injector) Admit(ctx context.Context, req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, error) {
	// Re-read the bundle on every request, as upstream's webhook does.
	caPEM, err := os.ReadFile(in.Config.TrustRootsFile)
	if err != nil {
		return nil, err
	}
	allowed := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Kind.Kind != "Pod" || req.Operation != admissionv1.Create {
		return allowed, nil
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return nil, fmt.Errorf("decoding pod: %w", err)
	}
	nsAnn := map[string]string{}
	if in.Namespaces != nil {
		if nsAnn, err = in.Namespaces.NamespaceAnnotations(ctx, req.Namespace); err != nil {
			return nil, err
		}
	}
	if ok, _ := Injectable(&pod, nsAnn); !ok {
		return allowed, nil
	}
	patch, err := in.Patch(ctx, &pod, req.Namespace, caPEM)
	if err != nil {
		return nil, err
	}
	pt := admissionv1.PatchTypeJSONPatch
	allowed.PatchType = &pt
	allowed.Patch = patch
	return allowed, nil
}

// Injectable applies upstream's decision: the pod's linkerd.io/inject
// annotation wins, else the namespace's; "enabled" or "ingress" inject.
// Pods on the host network, or that already carry a proxy, are skipped.
func Injectable(pod *corev1.Pod, nsAnnotations map[string]string) (bool, string) {
	if pod.Spec.HostNetwork {
		return false, "hostNetwork is enabled"
	}
	for _, c := range append(append([]corev1.Container{}, pod.Spec.Containers...), pod.Spec.InitContainers...) {
		if c.Name == ProxyContainerName {
			return false, "pod has a sidecar injected already"
		}
	}
	mode, fromPod := pod.Annotations[AnnotationInject]
	if !fromPod {
		mode = nsAnnotations[AnnotationInject]
	}
	switch mode {
	case InjectEnabled, InjectIngress:
		return true, ""
	case InjectDisabled:
		if fromPod {
			return false, "injection disabled by the pod's annotation"
		}
		return false, "injection disabled by the namespace's annotation"
	default:
		return false, "neither the namespace nor the pod have the annotation \"linkerd.io/inject: enabled\""
	}
}

type jsonPatchOp struct {
	Op    string      `json:"op"`
	Path  string      `json:"path"`
	Value interface{} `json:"value"`
}

func escape(key string) string {
	return strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
}

// Patch returns the JSON patch that injects the proxy into pod.
func (in *Injector) Patch(ctx context.Context, pod *corev1.Pod, ns string, caPEM []byte) ([]byte, error) {
	c := in.Config
	version := c.ProxyVersion
	annotations := map[string]string{
		AnnotationCreatedBy:    "linkerd/proxy-injector " + version,
		AnnotationProxyVersion: version,
		AnnotationTrustRootSHA: TrustRootSHA256(caPEM),
	}
	labels := map[string]string{
		LabelControlPlaneNS: c.LinkerdNamespace,
		LabelWorkloadNS:     ns,
	}
	if in.Owners != nil {
		for _, ref := range pod.OwnerReferences {
			if ref.Controller != nil && *ref.Controller {
				if kind, name := in.Owners.Owner(ctx, ns, ref); kind != "" {
					labels["linkerd.io/proxy-"+kind] = name
				}
				break
			}
		}
	}

	var ops []jsonPatchOp
	if pod.Annotations == nil {
		ops = append(ops, jsonPatchOp{"add", "/metadata/annotations", map[string]string{}})
	}
	for _, k := range sortedKeys(annotations) {
		ops = append(ops, jsonPatchOp{"add", "/metadata/annotations/" + escape(k), annotations[k]})
	}
	if pod.Labels == nil {
		ops = append(ops, jsonPatchOp{"add", "/metadata/labels", map[string]string{}})
	}
	for _, k := range sortedKeys(labels) {
		ops = append(ops, jsonPatchOp{"add", "/metadata/labels/" + escape(k), labels[k]})
	}
	if pod.Spec.Volumes == nil {
		ops = append(ops, jsonPatchOp{"add", "/spec/volumes", []interface{}{}})
	}
	expiry := identityTokenExpiration
	ops = append(ops,
		jsonPatchOp{"add", "/spec/volumes/-", corev1.Volume{Name: endEntityVolumeName,
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}}},
		jsonPatchOp{"add", "/spec/volumes/-", corev1.Volume{Name: tokenVolumeName,
			VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{
				ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
					Audience: identityTokenAudience, ExpirationSeconds: &expiry, Path: tokenVolumeName},
			}}}}}},
		// Upstream's default (proxy.await=true) puts the proxy first.
		jsonPatchOp{"add", "/spec/containers/0", in.proxyContainer(caPEM)},
	)
	return json.Marshal(ops)
}

func (in *Injector) proxyContainer(caPEM []byte) corev1.Container {
	c := in.Config
	svcAddr := c.IdentitySvcAddr
	if svcAddr == "" {
		svcAddr = fmt.Sprintf("linkerd-identity-headless.%s.svc.%s.:8080", c.LinkerdNamespace, c.ClusterDomain)
	}
	field := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
	}
	l5d := fmt.Sprintf("%s.%s", c.LinkerdNamespace, c.TrustDomain)
	return corev1.Container{
		Name:            ProxyContainerName,
		Image:           c.ProxyImage + ":" + c.ProxyVersion,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Env: []corev1.EnvVar{
			{Name: "_pod_name", ValueFrom: field("metadata.name")},
			{Name: "_pod_ns", ValueFrom: field("metadata.namespace")},
			{Name: "_pod_nodeName", ValueFrom: field("spec.nodeName")},
			{Name: "LINKERD2_PROXY_ADMIN_LISTEN_ADDR", Value: "0.0.0.0:4191"},
			{Name: "LINKERD2_PROXY_INBOUND_LISTEN_ADDR", Value: "0.0.0.0:4143"},
			{Name: "LINKERD2_PROXY_OUTBOUND_LISTEN_ADDR", Value: "127.0.0.1:4140"},
			{Name: "_pod_sa", ValueFrom: field("spec.serviceAccountName")},
			{Name: "_l5d_ns", Value: c.LinkerdNamespace},
			{Name: "_l5d_trustdomain", Value: c.TrustDomain},
			{Name: "LINKERD2_PROXY_IDENTITY_DIR", Value: "/var/run/linkerd/identity/end-entity"},
			// Upstream renders the bundle through a YAML block scalar of the
			// trimmed PEM, i.e. TrimSpace(bundle) + "\n".
			{Name: EnvTrustAnchors, Value: strings.TrimSpace(string(caPEM)) + "\n"},
			{Name: "LINKERD2_PROXY_IDENTITY_TOKEN_FILE", Value: "/var/run/secrets/tokens/linkerd-identity-token"},
			{Name: EnvIdentitySvcAddr, Value: svcAddr},
			{Name: EnvIdentityLocalName, Value: "$(_pod_sa).$(_pod_ns).serviceaccount.identity." + l5d},
			{Name: "LINKERD2_PROXY_IDENTITY_SVC_NAME", Value: "linkerd-identity." + c.LinkerdNamespace + ".serviceaccount.identity." + l5d},
			{Name: "LINKERD2_PROXY_DESTINATION_SVC_NAME", Value: "linkerd-destination." + c.LinkerdNamespace + ".serviceaccount.identity." + l5d},
			{Name: "LINKERD2_PROXY_POLICY_SVC_NAME", Value: "linkerd-destination." + c.LinkerdNamespace + ".serviceaccount.identity." + l5d},
		},
		Ports: []corev1.ContainerPort{
			{Name: "linkerd-proxy", ContainerPort: 4143},
			{Name: "linkerd-admin", ContainerPort: 4191},
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: endEntityVolumeName, MountPath: "/var/run/linkerd/identity/end-entity"},
			{Name: tokenVolumeName, MountPath: "/var/run/secrets/tokens"},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
