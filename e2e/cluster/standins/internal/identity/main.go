package identity

// STAND-IN for linkerd2 controller/cmd/identity/main.go: flags, start-up
// order, Kubernetes wiring, admin server and gRPC server.

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"

	pb "linkerd-rotator/e2e/standins/gen/identitypb"
	"linkerd-rotator/e2e/standins/internal/pki"
)

const (
	componentName = "linkerd-identity"

	// DefaultTrustAnchorsFile is where upstream reads the anchors
	// (k8s.MountPathTrustRootsPEM, the linkerd-identity-trust-roots ConfigMap).
	DefaultTrustAnchorsFile = "/var/run/linkerd/identity/trust-roots/ca-bundle.crt"

	schemeLinkerd = "linkerd.io/tls"
)

// Options are the parsed flags of the identity subcommand.
type Options struct {
	Addr                string
	AdminAddr           string
	Kubeconfig          string
	ControllerNamespace string
	IdentityScheme      string
	TrustDomain         string
	IssuanceLifetime    string
	ClockSkewAllowance  string
	IssuerDir           string
	TrustAnchorsFile    string
}

// ParseFlags parses the identity subcommand's flags (single dash, as upstream).
// Upstream flags this stand-in does not need are accepted and ignored so the
// chart's container args can be passed through unchanged.
func ParseFlags(args []string) (*Options, error) {
	fs := flag.NewFlagSet("identity", flag.ContinueOnError)
	o := &Options{}
	fs.StringVar(&o.Addr, "addr", ":8080", "address to serve on")
	fs.StringVar(&o.AdminAddr, "admin-addr", ":9990", "address of HTTP admin server")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "path to kube config")
	fs.StringVar(&o.ControllerNamespace, "controller-namespace", "", "namespace in which Linkerd is installed")
	fs.StringVar(&o.IdentityScheme, "identity-scheme", "", "scheme used for the identity issuer secret format")
	fs.StringVar(&o.TrustDomain, "identity-trust-domain", "", "configures the name suffix used for identities")
	fs.StringVar(&o.IssuanceLifetime, "identity-issuance-lifetime", "", "the amount of time for which the Identity issuer should certify identity (default 24h)")
	fs.StringVar(&o.ClockSkewAllowance, "identity-clock-skew-allowance", "", "the amount of time to allow for clock skew within a Linkerd cluster (chart default 20s)")
	fs.StringVar(&o.IssuerDir, "issuer", "/var/run/linkerd/identity/issuer", "path to directory containing issuer credentials")
	fs.StringVar(&o.TrustAnchorsFile, "trust-anchors-file", DefaultTrustAnchorsFile, "STAND-IN ONLY: file holding the trust anchors PEM (upstream hard-codes this path)")
	// Accepted for compatibility with upstream's args; ignored.
	fs.String("log-level", "info", "ignored (upstream compatibility)")
	fs.String("log-format", "plain", "ignored (upstream compatibility)")
	fs.Bool("enable-pprof", false, "ignored (upstream compatibility)")
	fs.Float64("kube-apiclient-qps", 100, "ignored (upstream compatibility)")
	fs.Int("kube-apiclient-burst", 200, "ignored (upstream compatibility)")
	fs.String("trace-collector", "", "ignored (upstream compatibility)")
	fs.String("trace-collector-service-account", "", "ignored (upstream compatibility)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return o, nil
}

// IssuerPaths returns the certificate and key file names for the scheme:
// linkerd.io/tls -> crt.pem/key.pem, anything else -> tls.crt/tls.key.
func IssuerPaths(dir, scheme string) (string, string) {
	if scheme == schemeLinkerd {
		return filepath.Join(dir, "crt.pem"), filepath.Join(dir, "key.pem")
	}
	return filepath.Join(dir, corev1.TLSCertKey), filepath.Join(dir, corev1.TLSPrivateKeyKey)
}

// ParseValidity converts the duration flags; an unparsable value falls back
// to the default with a warning, as upstream does.
func ParseValidity(lifetime, skew string) Validity {
	v := Validity{Lifetime: DefaultIssuanceLifetime, ClockSkewAllowance: DefaultClockSkewAllowance}
	if skew != "" {
		if d, err := time.ParseDuration(skew); err != nil {
			log.Printf("level=warning msg=%q", "Invalid clock skew allowance: "+err.Error())
		} else {
			v.ClockSkewAllowance = d
		}
	}
	if lifetime != "" {
		if d, err := time.ParseDuration(lifetime); err != nil {
			log.Printf("level=warning msg=%q", "Invalid issuance lifetime: "+err.Error())
		} else {
			v.Lifetime = d
		}
	}
	return v
}

// ReadTrustAnchors reads and parses the anchors file. Main calls it exactly
// once, before anything else starts; the pool it returns is never replaced.
func ReadTrustAnchors(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("could not read identity trust anchors PEM: %w", err)
	}
	pool, _, err := pki.DecodeCertPool(data)
	if err != nil {
		return nil, fmt.Errorf("Failed to read trust anchors: %w", err)
	}
	return pool, nil
}

// Main runs the identity subcommand and returns the process exit code.
func Main(args []string) int {
	o, err := ParseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}

	// Upstream exits 0 when identity is disabled (no scheme or no trust
	// domain). It reads the anchors file first; the stand-in checks the flags
	// first so that a disabled identity never needs the file.
	if o.IdentityScheme == "" || o.TrustDomain == "" {
		log.Printf("level=info msg=%q", "Identity disabled in control plane configuration.")
		return 0
	}

	// The one and only read of the trust anchors.
	anchors, err := ReadTrustAnchors(o.TrustAnchorsFile)
	if err != nil {
		log.Printf("level=fatal msg=%q", err.Error())
		return 1
	}
	crtPath, keyPath := IssuerPaths(o.IssuerDir, o.IdentityScheme)

	dom, err := NewTrustDomain(o.ControllerNamespace, o.TrustDomain)
	if err != nil {
		log.Printf("level=fatal msg=%q", "Invalid trust domain: "+err.Error())
		return 1
	}
	validity := ParseValidity(o.IssuanceLifetime, o.ClockSkewAllowance)
	expectedName := fmt.Sprintf("identity.%s.%s", o.ControllerNamespace, o.TrustDomain)

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	issuerEvent := make(chan struct{})
	issuerError := make(chan error)
	watcher := &FsCredsWatcher{Dir: o.IssuerDir, Events: issuerEvent, Errors: issuerError}
	watchFailed := make(chan error, 1)
	go func() {
		if err := watcher.StartWatching(ctx); err != nil {
			watchFailed <- err
		}
	}()

	restCfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: o.Kubeconfig}, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		log.Printf("level=fatal msg=%q", fmt.Sprintf("Failed to load kubeconfig: %s: %s", o.Kubeconfig, err))
		return 1
	}
	restCfg.UserAgent = componentName + " (linkerd-standin)"
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		log.Printf("level=fatal msg=%q", fmt.Sprintf("Failed to load kubeconfig: %s: %s", o.Kubeconfig, err))
		return 1
	}
	v, err := NewK8sTokenValidator(ctx, client, dom)
	if err != nil {
		log.Printf("level=fatal msg=%q", "Failed to initialize identity service: "+err.Error())
		return 1
	}

	// Issuer events go on the linkerd-identity Deployment of the controller
	// namespace, referenced without reading it (upstream uses an
	// ObjectReference, so it needs no RBAC on deployments); IssuedLeafCertificate
	// goes on the requester's ServiceAccount, in its namespace.
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: componentName})
	deployRef := &corev1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: o.ControllerNamespace, Name: componentName}
	recordEvent := func(ref *corev1.ObjectReference, eventType, reason, message string) {
		if ref == nil {
			ref = deployRef
		}
		recorder.Event(ref, eventType, reason, message)
	}

	svc := NewService(v, anchors, validity, recordEvent, expectedName, crtPath, keyPath)
	if err := svc.Initialize(); err != nil {
		log.Printf("level=fatal msg=%q", "Failed to initialize identity service: "+err.Error())
		return 1
	}
	go svc.Run(ctx, issuerEvent, issuerError)

	adminLis, err := net.Listen("tcp", o.AdminAddr)
	if err != nil {
		log.Printf("level=fatal msg=%q", fmt.Sprintf("Failed to listen on %s: %s", o.AdminAddr, err))
		return 1
	}
	// As upstream (controller/cmd/identity/main.go, pkg/admin): /ready answers
	// 503 until the gRPC server is about to serve.
	var ready atomic.Bool
	admin := &http.Server{Handler: AdminHandler(svc, &ready), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		log.Printf("level=info msg=%q", "starting admin server on "+adminLis.Addr().String())
		if err := admin.Serve(adminLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Printf("level=error msg=%q", "failed to start identity admin server: "+err.Error())
		}
	}()

	lis, err := net.Listen("tcp", o.Addr)
	if err != nil {
		log.Printf("level=fatal msg=%q", fmt.Sprintf("Failed to listen on %s: %s", o.Addr, err))
		return 1
	}
	srv := grpc.NewServer()
	pb.RegisterIdentityServer(srv, svc)
	go func() {
		ready.Store(true)
		log.Printf("level=info msg=%q", "starting gRPC server on "+lis.Addr().String())
		if err := srv.Serve(lis); err != nil {
			log.Printf("level=error msg=%q", "failed to start identity gRPC server: "+err.Error())
		}
	}()

	code := 0
	select {
	case <-ctx.Done():
	case err := <-watchFailed:
		log.Printf("level=fatal msg=%q", "Failed to start creds watcher: "+err.Error())
		code = 1
	}
	log.Printf("level=info msg=%q", "shutting down gRPC server on "+lis.Addr().String())
	// Bounded graceful stop: in-flight Certify calls finish, then streams are cut.
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		srv.Stop()
	}
	_ = admin.Close()
	return code
}

// AdminHandler serves /ping, /ready and /metrics (issuer_cert_ttl_seconds).
// /ready answers 503 until ready is set (Main sets it when the gRPC server
// starts serving), then 200 "ok".
func AdminHandler(svc *Service, ready *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ping", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "pong\n") })
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = io.WriteString(w, "# HELP issuer_cert_ttl_seconds The remaining seconds until the issuer certificate expires.\n")
		_, _ = io.WriteString(w, "# TYPE issuer_cert_ttl_seconds gauge\n")
		if ttl, ok := svc.IssuerTTLSeconds(); ok {
			fmt.Fprintf(w, "issuer_cert_ttl_seconds %g\n", ttl)
		}
	})
	return mux
}
