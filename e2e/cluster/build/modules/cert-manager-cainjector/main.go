// Command cert-manager-cainjector runs cert-manager's real CA injector (v1.21.2) for the local
// test cluster. Wiring only; every controller is upstream cert-manager code.
//
// Why this file exists: upstream's cainjector main lives in the nested module
// github.com/cert-manager/cert-manager/cmd/cainjector, which the Go module proxy does not
// serve. This file is ours: it builds a controller-runtime manager the way upstream's does
// (Secrets read uncached, metadata-only Secret watches) and registers upstream's injectors
// (pkg/controller/cainjector) for Validating/MutatingWebhookConfigurations, APIServices and
// CRDs, which copy a CA into caBundle from `cert-manager.io/inject-ca-from` (a Certificate),
// `cert-manager.io/inject-ca-from-secret` or `cert-manager.io/inject-apiserver-ca`.
// Leader election is off (one replica in tests).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apiext "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	kscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	logsapi "k8s.io/component-base/logs/api/v1"
	apireg "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cmscheme "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned/scheme"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"
)

type options struct {
	kubeconfig        string
	namespace         string
	metricsAddress    string
	healthzAddress    string
	leaderElect       bool
	certificateSource bool
	showVersion       bool
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "cert-manager-cainjector: %v\n", err)
		logf.FlushLogs()
		os.Exit(1)
	}
	logf.FlushLogs()
}

func run() error {
	opts := options{}
	logOpts := logsapi.NewLoggingConfiguration()
	fs := pflag.NewFlagSet("cert-manager-cainjector", pflag.ContinueOnError)
	fs.StringVar(&opts.kubeconfig, "kubeconfig", "", "path to the kubeconfig of the API server (default $KUBECONFIG, then in-cluster)")
	fs.StringVar(&opts.namespace, "namespace", "", "namespace to watch; empty watches all namespaces")
	fs.StringVar(&opts.metricsAddress, "metrics-listen-address", "127.0.0.1:9412", "host:port for Prometheus metrics; empty disables")
	fs.StringVar(&opts.healthzAddress, "healthz-listen-address", "127.0.0.1:9413", "host:port for /healthz and /readyz; empty disables")
	fs.BoolVar(&opts.leaderElect, "leader-elect", false, "accepted for compatibility with upstream flags; only false is supported")
	fs.BoolVar(&opts.certificateSource, "enable-certificates-data-source", true, "honour cert-manager.io/inject-ca-from (needs the Certificate CRD)")
	fs.BoolVar(&opts.showVersion, "version", false, "print the cert-manager version and exit")
	logf.AddFlags(logOpts, fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return err
	}
	if opts.showVersion {
		fmt.Printf("cert-manager-cainjector %s (upstream cert-manager cainjector, local wiring)\n", util.AppVersion)
		return nil
	}
	if opts.leaderElect {
		return errors.New("--leader-elect=true is not supported by this wiring; run one replica with --leader-elect=false")
	}
	logf.InitLogs()
	if err := logf.ValidateAndApply(logOpts); err != nil {
		return fmt.Errorf("invalid logging flags: %w", err)
	}
	ctrl.SetLogger(logf.Log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx = logf.NewContext(ctx, logf.Log, "cainjector")
	log := logf.FromContext(ctx)

	restConfig, err := loadRESTConfig(opts.kubeconfig)
	if err != nil {
		return err
	}
	restConfig = util.RestConfigWithUserAgent(restConfig, "cainjector")

	scheme := runtime.NewScheme()
	utilruntime.Must(kscheme.AddToScheme(scheme))
	utilruntime.Must(cmscheme.AddToScheme(scheme))
	utilruntime.Must(apiext.AddToScheme(scheme))
	utilruntime.Must(apireg.AddToScheme(scheme))

	var namespaces map[string]cache.Config
	if opts.namespace != "" {
		namespaces = map[string]cache.Config{opts.namespace: {}}
	}
	metricsAddress := opts.metricsAddress
	if metricsAddress == "" {
		metricsAddress = "0" // controller-runtime's value for "no metrics server"
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme: scheme,
		Cache: cache.Options{
			ReaderFailOnMissingInformer: true,
			DefaultNamespaces:           namespaces,
		},
		// Upstream's choice, kept: Secrets are read directly rather than cached in full;
		// the injectors watch only their metadata.
		Client: client.Options{
			Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}},
		},
		LeaderElection:         false,
		Metrics:                metricsserver.Options{BindAddress: metricsAddress},
		HealthProbeBindAddress: opts.healthzAddress,
	})
	if err != nil {
		return fmt.Errorf("creating the controller-runtime manager: %w", err)
	}
	if opts.healthzAddress != "" {
		if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
			return err
		}
		if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
			return err
		}
	}

	if opts.certificateSource {
		if err := waitForCertificateCRD(ctx, mgr.GetConfig(), scheme); err != nil {
			return err
		}
	}

	err = cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		Namespace:                    opts.namespace,
		EnableCertificatesDataSource: opts.certificateSource,
		EnabledReconcilersFor: map[string]bool{
			cainjector.MutatingWebhookConfigurationName:   true,
			cainjector.ValidatingWebhookConfigurationName: true,
			cainjector.APIServiceName:                     true,
			cainjector.CustomResourceDefinitionName:       true,
		},
	})
	if err != nil {
		return fmt.Errorf("registering the injectors: %w", err)
	}
	log.Info("starting cainjector", "namespace", opts.namespace, "certificatesDataSource", opts.certificateSource)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running the manager: %w", err)
	}
	return nil
}

// loadRESTConfig honours --kubeconfig, then $KUBECONFIG and the in-cluster config.
func loadRESTConfig(path string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig %q: %w", path, err)
	}
	return cfg, nil
}

// waitForCertificateCRD waits, like upstream, for the Certificate CRD that inject-ca-from needs.
func waitForCertificateCRD(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme) error {
	log := logf.FromContext(ctx)
	direct, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("creating a direct client: %w", err)
	}
	err = wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		crd := apiext.CustomResourceDefinition{}
		err := direct.Get(ctx, types.NamespacedName{Name: "certificates.cert-manager.io"}, &crd)
		if apierrors.IsNotFound(err) {
			log.Info("waiting for the certificates.cert-manager.io CRD")
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return fmt.Errorf("the certificates.cert-manager.io CRD did not appear within 5m (apply cert-manager's CRDs first, or pass --enable-certificates-data-source=false): %w", err)
	}
	return nil
}
