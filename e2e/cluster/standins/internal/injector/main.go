package injector

// STAND-IN for linkerd2 controller/cmd/proxy-injector and controller/webhook:
// flags, the HTTPS admission server and its Kubernetes lookups.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// DefaultTrustRootsFile is upstream's mount of the linkerd-identity-trust-roots ConfigMap.
const DefaultTrustRootsFile = "/var/run/linkerd/identity/trust-roots/ca-bundle.crt"

// Options are the parsed flags of the proxy-injector subcommand.
type Options struct {
	Addr       string
	AdminAddr  string
	TLSCert    string
	TLSKey     string
	Kubeconfig string
	// QPS and Burst of the API client (upstream's --kube-apiclient-qps and --kube-apiclient-burst).
	QPS    float64
	Burst  int
	Config Config
}

// ParseFlags parses the proxy-injector subcommand's flags. Upstream flags the
// stand-in does not need are accepted and ignored.
func ParseFlags(args []string) (*Options, error) {
	fs := flag.NewFlagSet("proxy-injector", flag.ContinueOnError)
	o := &Options{}
	fs.StringVar(&o.Addr, "addr", ":8443", "address to serve on")
	fs.StringVar(&o.AdminAddr, "admin-addr", ":9995", "address of HTTP admin server (/ping, /ready)")
	fs.StringVar(&o.TLSCert, "tls-cert", "/var/run/linkerd/tls/tls.crt", "serving certificate (re-read on each TLS handshake)")
	fs.StringVar(&o.TLSKey, "tls-key", "/var/run/linkerd/tls/tls.key", "serving key (re-read on each TLS handshake)")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "path to kube config")
	fs.StringVar(&o.Config.TrustRootsFile, "trust-roots-file", DefaultTrustRootsFile, "trust bundle PEM, re-read on every admission request")
	fs.StringVar(&o.Config.LinkerdNamespace, "linkerd-namespace", "linkerd", "namespace in which Linkerd is installed")
	fs.StringVar(&o.Config.TrustDomain, "identity-trust-domain", "cluster.local", "STAND-IN ONLY (upstream reads linkerd-config): identity trust domain")
	fs.StringVar(&o.Config.ClusterDomain, "cluster-domain", "cluster.local", "STAND-IN ONLY (upstream reads linkerd-config): cluster domain")
	fs.StringVar(&o.Config.ProxyImage, "proxy-image", "cr.l5d.io/linkerd/proxy", "STAND-IN ONLY: proxy image name (never pulled: kwok runs no containers)")
	fs.StringVar(&o.Config.ProxyVersion, "proxy-version", "standin", "STAND-IN ONLY: proxy version (image tag, linkerd.io/proxy-version)")
	fs.StringVar(&o.Config.IdentitySvcAddr, "identity-svc-addr", "", "STAND-IN ONLY: value for LINKERD2_PROXY_IDENTITY_SVC_ADDR (default linkerd-identity-headless.<ns>.svc.<cluster-domain>.:8080)")
	fs.String("log-level", "info", "ignored (upstream compatibility)")
	fs.String("log-format", "plain", "ignored (upstream compatibility)")
	fs.Bool("enable-pprof", false, "ignored (upstream compatibility)")
	fs.Float64Var(&o.QPS, "kube-apiclient-qps", 100, "API client QPS (upstream's flag and default; client-go's own default of 5 admits 2.5 pods a second)")
	fs.IntVar(&o.Burst, "kube-apiclient-burst", 200, "API client burst (upstream's flag and default)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return o, nil
}

// kubeLookups implements NamespaceGetter and OwnerResolver with a clientset.
type kubeLookups struct{ client kubernetes.Interface }

func (k kubeLookups) NamespaceAnnotations(ctx context.Context, name string) (map[string]string, error) {
	ns, err := k.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return ns.Annotations, nil
}

func (k kubeLookups) Owner(ctx context.Context, ns string, ref metav1.OwnerReference) (string, string) {
	kind, name := strings.ToLower(ref.Kind), ref.Name
	switch kind {
	case "replicaset":
		rs, err := k.client.AppsV1().ReplicaSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err == nil {
			if owner := metav1.GetControllerOf(rs); owner != nil && owner.Kind == "Deployment" {
				return "deployment", owner.Name
			}
		}
	case "job":
		job, err := k.client.BatchV1().Jobs(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err == nil {
			if owner := metav1.GetControllerOf(job); owner != nil && owner.Kind == "CronJob" {
				return "cronjob", owner.Name
			}
		}
	}
	return kind, name
}

// Handler serves AdmissionReview v1 and v1beta1 (same JSON shape) on "/".
func Handler(in *Injector) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
			http.Error(w, "malformed AdmissionReview", http.StatusBadRequest)
			return
		}
		resp, err := in.Admit(r.Context(), review.Request)
		if err != nil {
			log.Printf("level=error msg=%q", "failed to run webhook handler. Reason: "+err.Error())
			resp = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: false,
				Result: &metav1.Status{Message: err.Error()}}
		}
		out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp}
		if out.APIVersion == "" {
			out.APIVersion, out.Kind = "admission.k8s.io/v1", "AdmissionReview"
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
}

// Main runs the proxy-injector subcommand and returns the exit code.
func Main(args []string) int {
	o, err := ParseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	restCfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: o.Kubeconfig}, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		log.Printf("level=fatal msg=%q", fmt.Sprintf("Failed to load kubeconfig: %s: %s", o.Kubeconfig, err))
		return 1
	}
	restCfg.UserAgent = "linkerd-proxy-injector (linkerd-standin)"
	restCfg.QPS, restCfg.Burst = float32(o.QPS), o.Burst
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		log.Printf("level=fatal msg=%q", err.Error())
		return 1
	}
	if _, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey); err != nil {
		log.Printf("level=fatal msg=%q", "failed to load serving certificate: "+err.Error())
		return 1
	}
	in := &Injector{Config: o.Config, Namespaces: kubeLookups{client}, Owners: kubeLookups{client}}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	tlsCfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Re-read on each handshake so a rotated serving certificate is
		// picked up without a restart (upstream watches the files instead).
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			c, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
			if err != nil {
				return nil, err
			}
			return &c, nil
		},
	}
	lis, err := net.Listen("tcp", o.Addr)
	if err != nil {
		log.Printf("level=fatal msg=%q", fmt.Sprintf("Failed to listen on %s: %s", o.Addr, err))
		return 1
	}
	srv := &http.Server{Handler: Handler(in), TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		log.Printf("level=info msg=%q", "listening at "+lis.Addr().String())
		if err := srv.ServeTLS(lis, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Printf("level=error msg=%q", err.Error())
			cancel()
		}
	}()

	adminLis, err := net.Listen("tcp", o.AdminAddr)
	if err != nil {
		log.Printf("level=fatal msg=%q", fmt.Sprintf("Failed to listen on %s: %s", o.AdminAddr, err))
		return 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ping", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "pong\n") })
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	admin := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = admin.Serve(adminLis) }()

	<-ctx.Done()
	// The API server keeps HTTP/2 connections open; give in-flight reviews a
	// moment, then close whatever is left.
	shutdownCtx, done := context.WithTimeout(context.Background(), 2*time.Second)
	defer done()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
	}
	_ = admin.Close()
	return 0
}
