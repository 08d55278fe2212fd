// Package chartcheck renders the stand-in linkerd-control-plane chart
// (e2e/cluster/linkerd-chart) with helm and checks the contract the stand-in
// processes and the rotator rely on. Skipped when no helm binary is found
// (HELM, PATH, or the project's binary cache).
package chartcheck

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"linkerd-rotator/e2e/standins/internal/identity"
	"linkerd-rotator/e2e/standins/internal/injector"
)

func findHelm(t *testing.T) string {
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	if h, err := exec.LookPath("helm"); err == nil {
		return h
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	matches, _ := filepath.Glob(filepath.Join(cache, "linkerd-rotator", "bin", "helm-*", "helm"))
	sort.Strings(matches)
	if len(matches) > 0 {
		return matches[len(matches)-1]
	}
	t.Skip("no helm binary (set HELM, put helm on PATH, or build the cluster binaries)")
	return ""
}

type rendered struct {
	deployments map[string]*appsv1.Deployment
	kinds       map[string][]string // kind -> names
	webhook     *admissionregv1.MutatingWebhookConfiguration
	roles       map[string]*rbacv1.ClusterRole
}

func render(t *testing.T, args ...string) *rendered {
	t.Helper()
	helm := findHelm(t)
	chart, err := filepath.Abs(filepath.Join("..", "..", "..", "linkerd-chart"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(helm, append([]string{"template", "l5d", chart, "-n", "linkerd", "--kube-version", "1.37.2"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, stderr.String())
	}
	r := &rendered{deployments: map[string]*appsv1.Deployment{}, kinds: map[string][]string{}, roles: map[string]*rbacv1.ClusterRole{}}
	for _, doc := range strings.Split(string(out), "\n---") {
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("bad YAML: %v\n%s", err, doc)
		}
		if meta.Kind == "" {
			continue
		}
		r.kinds[meta.Kind] = append(r.kinds[meta.Kind], meta.Metadata.Name)
		switch meta.Kind {
		case "Deployment":
			var d appsv1.Deployment
			if err := yaml.UnmarshalStrict([]byte(doc), &d); err != nil {
				t.Fatalf("deployment %s: %v", meta.Metadata.Name, err)
			}
			r.deployments[d.Name] = &d
		case "MutatingWebhookConfiguration":
			var w admissionregv1.MutatingWebhookConfiguration
			if err := yaml.UnmarshalStrict([]byte(doc), &w); err != nil {
				t.Fatal(err)
			}
			r.webhook = &w
		case "ClusterRole":
			var cr rbacv1.ClusterRole
			if err := yaml.UnmarshalStrict([]byte(doc), &cr); err != nil {
				t.Fatal(err)
			}
			r.roles[cr.Name] = &cr
		}
	}
	return r
}

func container(t *testing.T, d *appsv1.Deployment, name string) *corev1.Container {
	t.Helper()
	for i := range d.Spec.Template.Spec.Containers {
		if d.Spec.Template.Spec.Containers[i].Name == name {
			return &d.Spec.Template.Spec.Containers[i]
		}
	}
	t.Fatalf("%s has no container %s", d.Name, name)
	return nil
}

func TestChartRendersTheRotationContract(t *testing.T) {
	caPEM := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	r := render(t, "--set", "proxyInjector.url=https://127.0.0.1:4443/", "--set-string", "proxyInjector.caBundle="+caPEM)

	for _, kind := range []string{"ConfigMap", "Secret"} {
		for _, name := range r.kinds[kind] {
			if name == "linkerd-identity-trust-roots" || name == "linkerd-identity-issuer" {
				t.Errorf("externalCA chart must not render %s %s", kind, name)
			}
		}
	}
	sas := append([]string{}, r.kinds["ServiceAccount"]...)
	sort.Strings(sas)
	if got := strings.Join(sas, ","); got != "linkerd-destination,linkerd-identity,linkerd-proxy-injector" {
		t.Errorf("service accounts %s", got)
	}

	emptySHA := sha256.Sum256(nil)
	for _, name := range []string{"linkerd-identity", "linkerd-destination", "linkerd-proxy-injector"} {
		d := r.deployments[name]
		if d == nil {
			t.Fatalf("no deployment %s", name)
		}
		spec := d.Spec.Template.Spec
		if spec.NodeSelector["type"] != "kwok" {
			t.Errorf("%s nodeSelector %v", name, spec.NodeSelector)
		}
		tolerated := false
		for _, tol := range spec.Tolerations {
			tolerated = tolerated || (tol.Key == "kwok.x-k8s.io/node" && tol.Value == "fake" && tol.Effect == corev1.TaintEffectNoSchedule)
		}
		if !tolerated {
			t.Errorf("%s does not tolerate the kwok taint", name)
		}
		proxy := container(t, d, "linkerd-proxy")
		var anchors *corev1.EnvVar
		for i := range proxy.Env {
			if proxy.Env[i].Name == "LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS" {
				anchors = &proxy.Env[i]
			}
		}
		if anchors == nil || anchors.Value != "" || anchors.ValueFrom == nil || anchors.ValueFrom.ConfigMapKeyRef == nil ||
			anchors.ValueFrom.ConfigMapKeyRef.Name != "linkerd-identity-trust-roots" || anchors.ValueFrom.ConfigMapKeyRef.Key != "ca-bundle.crt" {
			t.Errorf("%s: trust anchors env %+v, want configMapKeyRef linkerd-identity-trust-roots/ca-bundle.crt", name, anchors)
		}
		if got := d.Spec.Template.Annotations["linkerd.io/trust-root-sha256"]; got != hex.EncodeToString(emptySHA[:]) {
			t.Errorf("%s trust-root-sha256 %q, want sha256(\"\") like upstream under externalCA", name, got)
		}
		if d.Spec.Template.Labels["linkerd.io/control-plane-ns"] != "linkerd" {
			t.Errorf("%s labels %v", name, d.Spec.Template.Labels)
		}
	}

	id := r.deployments["linkerd-identity"]
	if id.Spec.Replicas == nil || *id.Spec.Replicas != 1 {
		t.Errorf("identity replicas %v", id.Spec.Replicas)
	}
	if id.Spec.Template.Labels["linkerd.io/control-plane-component"] != "identity" {
		t.Error("identity pod label")
	}
	args := container(t, id, "identity").Args
	if args[0] != "identity" {
		t.Fatalf("identity args %v", args)
	}
	o, err := identity.ParseFlags(args[1:])
	if err != nil {
		t.Fatalf("linkerd-standin identity does not accept the chart's args: %v", err)
	}
	if o.IdentityScheme != "kubernetes.io/tls" || o.TrustDomain != "cluster.local" || o.IssuanceLifetime != "24h0m0s" ||
		o.ClockSkewAllowance != "20s" || o.ControllerNamespace != "linkerd" {
		t.Errorf("identity flags %+v", o)
	}
	mounts := map[string]string{}
	for _, m := range container(t, id, "identity").VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if mounts["identity-issuer"] != "/var/run/linkerd/identity/issuer" || mounts["trust-roots"] != "/var/run/linkerd/identity/trust-roots/" {
		t.Errorf("identity mounts %v", mounts)
	}

	inj := r.deployments["linkerd-proxy-injector"]
	if inj.Spec.Template.Labels["linkerd.io/control-plane-component"] != "proxy-injector" {
		t.Error("injector pod label")
	}
	iargs := container(t, inj, "proxy-injector").Args
	if _, err := injector.ParseFlags(iargs[1:]); err != nil || iargs[0] != "proxy-injector" {
		t.Fatalf("linkerd-standin proxy-injector does not accept the chart's args %v: %v", iargs, err)
	}

	w := r.webhook
	if w == nil || len(w.Webhooks) != 1 {
		t.Fatalf("webhook %+v", w)
	}
	hook := w.Webhooks[0]
	if hook.ClientConfig.URL == nil || *hook.ClientConfig.URL != "https://127.0.0.1:4443/" || hook.ClientConfig.Service != nil {
		t.Errorf("clientConfig %+v", hook.ClientConfig)
	}
	if string(hook.ClientConfig.CABundle) != strings.TrimSpace(caPEM) { // trimmed, as upstream
		t.Errorf("caBundle %q", hook.ClientConfig.CABundle)
	}
	if hook.SideEffects == nil || *hook.SideEffects != admissionregv1.SideEffectClassNone {
		t.Error("sideEffects must be None so dry-run creates are mutated")
	}
	if hook.FailurePolicy == nil || *hook.FailurePolicy != admissionregv1.Ignore {
		t.Error("failurePolicy")
	}

	idRole := r.roles["linkerd-linkerd-identity"]
	var tokenreviews, events bool
	for _, rule := range idRole.Rules {
		for _, res := range rule.Resources {
			tokenreviews = tokenreviews || (res == "tokenreviews" && strings.Contains(strings.Join(rule.Verbs, ","), "create"))
			events = events || (res == "events" && strings.Contains(strings.Join(rule.Verbs, ","), "create"))
		}
	}
	if !tokenreviews || !events {
		t.Errorf("identity ClusterRole rules %+v", idRole.Rules)
	}
}

func TestChartCaBundleAcceptsBase64AndServiceClientConfig(t *testing.T) {
	pemText := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
	b64 := base64.StdEncoding.EncodeToString([]byte(pemText))
	r := render(t, "--set", "proxyInjector.caBundle="+b64)
	hook := r.webhook.Webhooks[0]
	if string(hook.ClientConfig.CABundle) != pemText {
		t.Errorf("caBundle %q", hook.ClientConfig.CABundle)
	}
	if hook.ClientConfig.URL != nil || hook.ClientConfig.Service == nil || hook.ClientConfig.Service.Name != "linkerd-proxy-injector" {
		t.Errorf("without proxyInjector.url the Service is used: %+v", hook.ClientConfig)
	}
}
