package injector

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"linkerd-rotator/e2e/standins/internal/testpki"
)

type nsMap map[string]map[string]string

func (m nsMap) NamespaceAnnotations(_ context.Context, name string) (map[string]string, error) {
	return m[name], nil
}

type fixedOwner struct{}

func (fixedOwner) Owner(_ context.Context, _ string, ref metav1.OwnerReference) (string, string) {
	if ref.Kind == "ReplicaSet" {
		return "deployment", strings.TrimSuffix(ref.Name, "-5d4f8b")
	}
	return strings.ToLower(ref.Kind), ref.Name
}

func bundle(t *testing.T, n int) []byte {
	t.Helper()
	var out []byte
	for i := 0; i < n; i++ {
		a := testpki.Anchor(t, "root", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		out = append(out, testpki.CertPEM(a.Cert)...)
	}
	return out
}

func newInjector(t *testing.T, bundlePEM []byte) (*Injector, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "ca-bundle.crt")
	if err := os.WriteFile(file, bundlePEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return &Injector{
		Config: Config{LinkerdNamespace: "linkerd", TrustDomain: "cluster.local", ClusterDomain: "cluster.local",
			TrustRootsFile: file, ProxyImage: "cr.l5d.io/linkerd/proxy", ProxyVersion: "standin"},
		Namespaces: nsMap{"meshed": {"linkerd.io/inject": "enabled"}, "plain": {}},
		Owners:     fixedOwner{},
	}, file
}

func podRequest(t *testing.T, ns string, pod *corev1.Pod, dryRun bool) *admissionv1.AdmissionRequest {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return &admissionv1.AdmissionRequest{
		UID: types.UID("uid-1"), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Namespace: ns, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}, DryRun: &dryRun,
	}
}

func basePod() *corev1.Pod {
	yes := true
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-5d4f8b-", Labels: map[string]string{"app": "web"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d4f8b", Controller: &yes}}},
		Spec: corev1.PodSpec{ServiceAccountName: "web", Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
	}
}

// apply returns the pod after the response's patch.
func apply(t *testing.T, pod *corev1.Pod, resp *admissionv1.AdmissionResponse) *corev1.Pod {
	t.Helper()
	if !resp.Allowed {
		t.Fatalf("denied: %+v", resp.Result)
	}
	if resp.Patch == nil {
		return pod
	}
	p, err := jsonpatch.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(pod)
	out, err := p.Apply(raw)
	if err != nil {
		t.Fatalf("patch does not apply: %v\n%s", err, resp.Patch)
	}
	var res corev1.Pod
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	return &res
}

func proxyOf(pod *corev1.Pod) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == ProxyContainerName {
			return &pod.Spec.Containers[i]
		}
	}
	return nil
}

func env(c *corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

func TestInjectsProxyWithLiteralBundleAndHash(t *testing.T) {
	b := bundle(t, 2)
	in, _ := newInjector(t, b)
	pod := basePod()
	resp, err := in.Admit(context.Background(), podRequest(t, "meshed", pod, false))
	if err != nil {
		t.Fatal(err)
	}
	got := apply(t, pod, resp)

	sum := sha256.Sum256(b)
	if h := got.Annotations[AnnotationTrustRootSHA]; h != hex.EncodeToString(sum[:]) {
		t.Errorf("trust-root-sha256 %q, want sha256 of the bundle bytes", h)
	}
	if got.Annotations[AnnotationProxyVersion] != "standin" || got.Annotations[AnnotationCreatedBy] != "linkerd/proxy-injector standin" {
		t.Errorf("annotations %v", got.Annotations)
	}
	if got.Labels[LabelControlPlaneNS] != "linkerd" || got.Labels["linkerd.io/workload-ns"] != "meshed" ||
		got.Labels["linkerd.io/proxy-deployment"] != "web" || got.Labels["app"] != "web" {
		t.Errorf("labels %v", got.Labels)
	}
	if got.Spec.Containers[0].Name != ProxyContainerName || got.Spec.Containers[1].Name != "app" {
		t.Errorf("containers %v", got.Spec.Containers)
	}
	proxy := proxyOf(got)
	anchors, _ := env(proxy, EnvTrustAnchors)
	if anchors != string(b) { // the bundle already ends with one newline
		t.Errorf("trust anchors env is not the literal bundle:\n%q\n%q", anchors, b)
	}
	if v, _ := env(proxy, EnvIdentityLocalName); v != "$(_pod_sa).$(_pod_ns).serviceaccount.identity.linkerd.cluster.local" {
		t.Errorf("local name %q", v)
	}
	if v, _ := env(proxy, EnvIdentitySvcAddr); v != "linkerd-identity-headless.linkerd.svc.cluster.local.:8080" {
		t.Errorf("svc addr %q", v)
	}
	var tokenVol *corev1.Volume
	for i := range got.Spec.Volumes {
		if got.Spec.Volumes[i].Name == "linkerd-identity-token" {
			tokenVol = &got.Spec.Volumes[i]
		}
	}
	if tokenVol == nil || tokenVol.Projected.Sources[0].ServiceAccountToken.Audience != "identity.l5d.io" {
		t.Errorf("token volume %+v", tokenVol)
	}
}

func TestHashIsOfExactBytesAndEnvIsTrimmed(t *testing.T) {
	b := append([]byte("\n\n"), bundle(t, 1)...)
	b = append(b, '\n', '\n')
	in, _ := newInjector(t, b)
	pod := basePod()
	resp, err := in.Admit(context.Background(), podRequest(t, "meshed", pod, false))
	if err != nil {
		t.Fatal(err)
	}
	got := apply(t, pod, resp)
	if got.Annotations[AnnotationTrustRootSHA] != TrustRootSHA256(b) {
		t.Error("hash is not of the exact file bytes")
	}
	if TrustRootSHA256(b) == TrustRootSHA256(bytes.TrimSpace(b)) {
		t.Fatal("test bundle has no surrounding whitespace")
	}
	anchors, _ := env(proxyOf(got), EnvTrustAnchors)
	if anchors != string(bytes.TrimSpace(b))+"\n" {
		t.Errorf("env %q, want trimmed bundle plus newline (upstream's YAML block rendering)", anchors)
	}
}

func TestBundleIsReReadOnEveryRequest(t *testing.T) {
	b1 := bundle(t, 1)
	in, file := newInjector(t, b1)
	pod := basePod()
	hash := func() string {
		resp, err := in.Admit(context.Background(), podRequest(t, "meshed", pod, false))
		if err != nil {
			t.Fatal(err)
		}
		return apply(t, pod, resp).Annotations[AnnotationTrustRootSHA]
	}
	if hash() != TrustRootSHA256(b1) {
		t.Fatal("first hash")
	}
	b2 := append(append([]byte{}, b1...), bundle(t, 1)...)
	if err := os.WriteFile(file, b2, 0o644); err != nil {
		t.Fatal(err)
	}
	if hash() != TrustRootSHA256(b2) {
		t.Fatal("the injector did not pick up the new bundle")
	}
	os.Remove(file)
	if _, err := in.Admit(context.Background(), podRequest(t, "meshed", pod, false)); err == nil {
		t.Fatal("a missing bundle must fail the request, as upstream")
	}
}

func TestInjectionDecision(t *testing.T) {
	in, _ := newInjector(t, bundle(t, 1))
	cases := []struct {
		name   string
		ns     string
		mutate func(*corev1.Pod)
		inject bool
	}{
		{"namespace enabled", "meshed", func(*corev1.Pod) {}, true},
		{"namespace not annotated", "plain", func(*corev1.Pod) {}, false},
		{"pod enabled in plain namespace", "plain", func(p *corev1.Pod) { p.Annotations = map[string]string{AnnotationInject: "enabled"} }, true},
		{"pod ingress", "plain", func(p *corev1.Pod) { p.Annotations = map[string]string{AnnotationInject: "ingress"} }, true},
		{"pod disabled in meshed namespace", "meshed", func(p *corev1.Pod) { p.Annotations = map[string]string{AnnotationInject: "disabled"} }, false},
		{"host network", "meshed", func(p *corev1.Pod) { p.Spec.HostNetwork = true }, false},
		{"already injected", "meshed", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: ProxyContainerName})
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := basePod()
			tc.mutate(pod)
			resp, err := in.Admit(context.Background(), podRequest(t, tc.ns, pod, false))
			if err != nil {
				t.Fatal(err)
			}
			got := apply(t, pod, resp)
			injected := got.Annotations[AnnotationTrustRootSHA] != ""
			if injected != tc.inject {
				t.Fatalf("injected=%v, want %v", injected, tc.inject)
			}
			if tc.name == "already injected" && len(got.Spec.Containers) != 2 {
				t.Fatal("a second proxy was added")
			}
		})
	}
}

func TestDryRunGetsTheSameMutation(t *testing.T) {
	in, _ := newInjector(t, bundle(t, 1))
	pod := basePod()
	real, err := in.Admit(context.Background(), podRequest(t, "meshed", pod, false))
	if err != nil {
		t.Fatal(err)
	}
	dry, err := in.Admit(context.Background(), podRequest(t, "meshed", pod, true))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(real.Patch, dry.Patch) {
		t.Fatalf("dry-run patch differs:\n%s\n%s", real.Patch, dry.Patch)
	}
}

func TestHTTPHandlerSpeaksAdmissionReview(t *testing.T) {
	b := bundle(t, 1)
	in, _ := newInjector(t, b)
	srv := httptest.NewTLSServer(Handler(in))
	defer srv.Close()
	pod := basePod()
	for _, apiVersion := range []string{"admission.k8s.io/v1", "admission.k8s.io/v1beta1"} {
		review := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: "AdmissionReview"},
			Request: podRequest(t, "meshed", pod, true)}
		body, _ := json.Marshal(review)
		resp, err := srv.Client().Post(srv.URL+"/", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var out admissionv1.AdmissionReview
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || out.APIVersion != apiVersion || out.Response == nil || out.Response.UID != "uid-1" {
			t.Fatalf("%s: %d %+v", apiVersion, resp.StatusCode, out)
		}
		if got := apply(t, pod, out.Response); got.Annotations[AnnotationTrustRootSHA] != TrustRootSHA256(b) {
			t.Fatalf("%s: annotations %v", apiVersion, got.Annotations)
		}
	}
}

func TestNonPodRequestsPassThrough(t *testing.T) {
	in, _ := newInjector(t, bundle(t, 1))
	req := &admissionv1.AdmissionRequest{UID: "u", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Service"},
		Namespace: "meshed", Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: []byte(`{}`)}}
	resp, err := in.Admit(context.Background(), req)
	if err != nil || !resp.Allowed || resp.Patch != nil {
		t.Fatalf("%+v %v", resp, err)
	}
}
