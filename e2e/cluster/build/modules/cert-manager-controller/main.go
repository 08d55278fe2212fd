// Command cert-manager-controller runs cert-manager's real controllers (v1.21.2) for the local
// test cluster. Wiring only; every controller is upstream cert-manager code.
//
// Why this file exists: upstream's controller main lives in the nested module
// github.com/cert-manager/cert-manager/cmd/controller, which the Go module proxy does not
// serve, while all controller code lives in the root module. This file is ours, not a copy
// of upstream's cmd/controller: it builds the same controller.ContextFactory, constructs the
// controllers registered through controllerpkg.Register, starts the shared informers and runs
// them, without leader election (one replica in tests), ACME, Vault, Venafi or gateway shims.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	logsapi "k8s.io/component-base/logs/api/v1"

	"github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/healthz"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"

	// Each import registers its controller with controller.Register in an init function.
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/metrics"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	clusterissuers "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"

	// Issuer backends the (Cluster)Issuer controllers can set up; others report "not registered".
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

type options struct {
	kubeconfig               string
	apiServerHost            string
	namespace                string
	clusterResourceNamespace string
	controllers              []string
	workers                  int
	qps                      float32
	burst                    int
	metricsAddress           string
	healthzAddress           string
	leaderElect              bool
	minBackoff               time.Duration
	maxBackoff               time.Duration
	showVersion              bool
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "cert-manager-controller: %v\n", err)
		logf.FlushLogs()
		os.Exit(1)
	}
	logf.FlushLogs()
}

func run() error {
	opts := options{}
	logOpts := logsapi.NewLoggingConfiguration()
	fs := pflag.NewFlagSet("cert-manager-controller", pflag.ContinueOnError)
	fs.StringVar(&opts.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "path to the kubeconfig of the API server (default $KUBECONFIG)")
	fs.StringVar(&opts.apiServerHost, "master", "", "API server URL, overriding the kubeconfig")
	fs.StringVar(&opts.namespace, "namespace", "", "namespace to watch; empty watches all namespaces (and runs the clusterissuers controller)")
	fs.StringVar(&opts.clusterResourceNamespace, "cluster-resource-namespace", "cert-manager", "namespace holding the Secrets that ClusterIssuers refer to")
	fs.StringSliceVar(&opts.controllers, "controllers", []string{"*"}, "controllers to run: '*' for all built in, or names; '-name' disables one")
	fs.IntVar(&opts.workers, "concurrent-workers", 5, "workers per controller")
	fs.Float32Var(&opts.qps, "kube-api-qps", 20, "client QPS when the API server has no priority and fairness")
	fs.IntVar(&opts.burst, "kube-api-burst", 50, "client burst when the API server has no priority and fairness")
	fs.StringVar(&opts.metricsAddress, "metrics-listen-address", "127.0.0.1:9402", "host:port for Prometheus metrics; empty disables")
	fs.StringVar(&opts.healthzAddress, "healthz-listen-address", "127.0.0.1:9403", "host:port for /livez; empty disables")
	fs.BoolVar(&opts.leaderElect, "leader-elect", false, "accepted for compatibility with upstream flags; only false is supported")
	fs.DurationVar(&opts.minBackoff, "certificate-request-minimum-backoff-duration", time.Hour, "first delay before re-issuing after a failed request (upstream default 1h)")
	fs.DurationVar(&opts.maxBackoff, "certificate-request-maximum-backoff-duration", 32*time.Hour, "largest delay before re-issuing after failures (upstream default 32h)")
	fs.BoolVar(&opts.showVersion, "version", false, "print the cert-manager version and exit")
	logf.AddFlags(logOpts, fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return err
	}
	if opts.showVersion {
		fmt.Printf("cert-manager-controller %s (upstream cert-manager controllers, local wiring)\n", util.AppVersion)
		return nil
	}
	if opts.leaderElect {
		return errors.New("--leader-elect=true is not supported by this wiring; run one replica with --leader-elect=false")
	}
	logf.InitLogs()
	if err := logf.ValidateAndApply(logOpts); err != nil {
		return fmt.Errorf("invalid logging flags: %w", err)
	}

	enabled, err := enabledControllers(opts.controllers, opts.namespace)
	if err != nil {
		return err
	}

	rootCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rootCtx = logf.NewContext(rootCtx, logf.Log, "controller")
	log := logf.FromContext(rootCtx)
	g, rootCtx := errgroup.WithContext(rootCtx)

	ctxFactory, err := controller.NewContextFactory(rootCtx, controller.ContextOptions{
		APIServerHost:      opts.apiServerHost,
		Kubeconfig:         opts.kubeconfig,
		KubernetesAPIQPS:   opts.qps,
		KubernetesAPIBurst: opts.burst,
		Namespace:          opts.namespace,
		IssuerOptions: controller.IssuerOptions{
			ClusterResourceNamespace:        opts.clusterResourceNamespace,
			ClusterIssuerAmbientCredentials: true,
		},
		CertificateOptions: controller.CertificateOptions{
			// Same prefixes as upstream's default: copy all but tool-managed annotations.
			CopiedAnnotationPrefixes:                 []string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"},
			CertificateRequestMinimumBackoffDuration: opts.minBackoff,
			CertificateRequestMaximumBackoffDuration: opts.maxBackoff,
		},
		SchedulerOptions: controller.SchedulerOptions{MaxConcurrentChallenges: 60},
	})
	if err != nil {
		return fmt.Errorf("building the controller context: %w", err)
	}
	// The base context owns the informer factories that every controller context shares.
	base, err := ctxFactory.Build()
	if err != nil {
		return fmt.Errorf("building the base controller context: %w", err)
	}

	if opts.metricsAddress != "" {
		ln, err := net.Listen("tcp", opts.metricsAddress)
		if err != nil {
			return fmt.Errorf("listening for metrics on %s: %w", opts.metricsAddress, err)
		}
		srv := base.Metrics.NewServer(ln)
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		g.Go(func() error {
			<-rootCtx.Done()
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(shutdownCtx)
		})
		log.Info("serving metrics", "address", ln.Addr().String())
	}
	if opts.healthzAddress != "" {
		ln, err := net.Listen("tcp", opts.healthzAddress)
		if err != nil {
			return fmt.Errorf("listening for healthz on %s: %w", opts.healthzAddress, err)
		}
		hz := healthz.NewServer(20 * time.Second)
		g.Go(func() error { return hz.Start(rootCtx, ln) })
		log.Info("serving /livez", "address", ln.Addr().String())
	}

	log.Info("starting controllers", "controllers", enabled, "clusterResourceNamespace", opts.clusterResourceNamespace, "namespace", opts.namespace)
	for _, name := range enabled {
		construct := controller.Known()[name]
		ctrl, err := construct(ctxFactory)
		if err != nil {
			stop()
			_ = g.Wait()
			return fmt.Errorf("constructing controller %s: %w", name, err)
		}
		g.Go(func() error {
			if err := ctrl.Run(opts.workers, rootCtx); err != nil {
				return fmt.Errorf("controller %s: %w", name, err)
			}
			return nil
		})
	}
	// Informers are registered by the constructors above, so start the factories only now.
	base.SharedInformerFactory.Start(rootCtx.Done())
	base.KubeSharedInformerFactory.Start(rootCtx.Done())
	base.HTTP01ResourceMetadataInformersFactory.Start(rootCtx.Done())

	err = g.Wait()
	base.HTTP01ResourceMetadataInformersFactory.Shutdown()
	base.KubeSharedInformerFactory.Shutdown()
	base.SharedInformerFactory.Shutdown()
	if err != nil {
		return err
	}
	log.Info("control loops exited")
	return nil
}

// enabledControllers resolves the --controllers list against the controllers compiled in.
func enabledControllers(requested []string, namespace string) ([]string, error) {
	known := make([]string, 0, len(controller.Known()))
	for name := range controller.Known() {
		known = append(known, name)
	}
	sort.Strings(known)

	var enabled []string
	for _, r := range requested {
		switch {
		case r == "*":
			enabled = append(enabled, known...)
		case strings.HasPrefix(r, "-"):
			// handled below
		case slices.Contains(known, r):
			enabled = append(enabled, r)
		default:
			return nil, fmt.Errorf("unknown controller %q in --controllers; built in: %s", r, strings.Join(known, ","))
		}
	}
	slices.Sort(enabled)
	enabled = slices.Compact(enabled)
	enabled = slices.DeleteFunc(enabled, func(n string) bool {
		if slices.Contains(requested, "-"+n) {
			return true
		}
		// A namespaced cert-manager cannot see ClusterIssuers' Secrets, as upstream.
		return namespace != "" && n == clusterissuers.ControllerName
	})
	if len(enabled) == 0 {
		return nil, errors.New("no controllers enabled; pass --controllers='*' or a list of names")
	}
	return enabled, nil
}
