package identity

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	corev1 "k8s.io/api/core/v1"

	pb "linkerd-rotator/e2e/standins/gen/identitypb"
	"linkerd-rotator/e2e/standins/internal/testpki"
)

const (
	controlNS   = "linkerd"
	trustDomain = "cluster.local"
	goodToken   = "token-of-web"
	webIdentity = "web.emojivoto.serviceaccount.identity.linkerd.cluster.local"
)

// fakeValidator stands in for the TokenReview-backed validator (unit level only).
type fakeValidator map[string]error

func (f fakeValidator) Validate(_ context.Context, tok []byte) (string, error) {
	switch string(tok) {
	case goodToken:
		return webIdentity, nil
	case "token-of-other":
		return "other.emojivoto.serviceaccount.identity.linkerd.cluster.local", nil
	}
	if err, ok := f[string(tok)]; ok {
		return "", err
	}
	return "", NotAuthenticated{}
}

type event struct {
	ref              *corev1.ObjectReference
	typ, reason, msg string
}

// recorder keeps the Events on the identity Deployment (ch, what wait
// returns) apart from those on ServiceAccounts (leaves).
type recorder struct {
	mu     sync.Mutex
	all    []event
	ch     chan event
	leaves []event
}

func newRecorder() *recorder { return &recorder{ch: make(chan event, 100)} }

func (r *recorder) record(ref *corev1.ObjectReference, typ, reason, msg string) {
	e := event{ref, typ, reason, msg}
	r.mu.Lock()
	r.all = append(r.all, e)
	if ref != nil {
		r.leaves = append(r.leaves, e)
	}
	r.mu.Unlock()
	if ref == nil {
		r.ch <- e
	}
}

// leafEvents returns the Events recorded on ServiceAccounts so far.
func (r *recorder) leafEvents() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.leaves...)
}

func (r *recorder) wait(t *testing.T) event {
	t.Helper()
	select {
	case e := <-r.ch:
		return e
	case <-time.After(15 * time.Second):
		t.Fatal("no event recorded within 15s")
		return event{}
	}
}

type fixture struct {
	dir, issuerDir, anchorsFile string
	anchor                      *testpki.CA
	issuer                      *testpki.CA
	svc                         *Service
	rec                         *recorder
	cancel                      context.CancelFunc
}

// newFixture writes anchor A to the anchors file and issuer I1 (signed by A)
// as a kubelet-style Secret volume, reads the anchors once, and starts the
// service with a real fsnotify watcher.
func newFixture(t *testing.T, validity Validity) *fixture {
	t.Helper()
	now := time.Now()
	f := &fixture{dir: t.TempDir(), rec: newRecorder()}
	f.issuerDir = filepath.Join(f.dir, "issuer")
	f.anchorsFile = filepath.Join(f.dir, "trust-roots", "ca-bundle.crt")
	f.anchor = testpki.Anchor(t, "root.linkerd.cluster.local", now.Add(-time.Hour), now.Add(365*24*time.Hour))
	f.issuer = testpki.Issuer(t, f.anchor, "identity.linkerd.cluster.local", now.Add(-time.Hour), now.Add(48*time.Hour), true)
	if err := os.MkdirAll(filepath.Dir(f.anchorsFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.anchorsFile, testpki.CertPEM(f.anchor.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	f.writeIssuer(t, f.issuer, f.anchor.Cert)

	anchors, err := ReadTrustAnchors(f.anchorsFile)
	if err != nil {
		t.Fatal(err)
	}
	crt, key := IssuerPaths(f.issuerDir, "kubernetes.io/tls")
	f.svc = NewService(fakeValidator{}, anchors, validity, f.rec.record, "identity.linkerd.cluster.local", crt, key)
	if err := f.svc.Initialize(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	t.Cleanup(cancel)
	events, errs := make(chan struct{}), make(chan error)
	ready := make(chan struct{})
	w := &FsCredsWatcher{Dir: f.issuerDir, Events: events, Errors: errs, Ready: ready}
	go func() {
		if err := w.StartWatching(ctx); err != nil {
			t.Errorf("watcher: %v", err)
		}
	}()
	go f.svc.Run(ctx, events, errs)
	<-ready
	return f
}

// writeIssuer swaps the issuer Secret volume (tls.crt = issuer + chain).
func (f *fixture) writeIssuer(t *testing.T, is *testpki.CA, chain ...*x509.Certificate) {
	t.Helper()
	testpki.AtomicWrite(t, f.issuerDir, map[string][]byte{
		"tls.crt": testpki.CertPEM(append([]*x509.Certificate{is.Cert}, chain...)...),
		"tls.key": testpki.KeyPEM(t, is.Key),
		"ca.crt":  testpki.CertPEM(chain...),
	})
}

func (f *fixture) certify(t *testing.T, identity, token string) (*x509.Certificate, *pb.CertifyResponse) {
	t.Helper()
	rsp, err := f.svc.Certify(context.Background(), &pb.CertifyRequest{
		Identity: identity, Token: []byte(token),
		CertificateSigningRequest: testpki.CSR(t, identity, testpki.NewKey(t)),
	})
	if err != nil {
		t.Fatalf("Certify: %v", err)
	}
	leaf, err := x509.ParseCertificate(rsp.LeafCertificate)
	if err != nil {
		t.Fatal(err)
	}
	return leaf, rsp
}

// certifyErr runs a Certify that must fail and returns its error.
func (f *fixture) certifyErr(t *testing.T, identity, token string) error {
	t.Helper()
	_, err := f.svc.Certify(context.Background(), &pb.CertifyRequest{
		Identity: identity, Token: []byte(token),
		CertificateSigningRequest: testpki.CSR(t, identity, testpki.NewKey(t)),
	})
	if err == nil {
		t.Fatalf("Certify for %s with token %q succeeded, want an error", identity, token)
	}
	return err
}

func signedBy(leaf *x509.Certificate, ca *testpki.CA) bool {
	return leaf.CheckSignatureFrom(ca.Cert) == nil
}

func TestIssuerHotReloadThroughDataSymlinkSwap(t *testing.T) {
	f := newFixture(t, Validity{Lifetime: 24 * time.Hour, ClockSkewAllowance: 20 * time.Second})
	leaf, _ := f.certify(t, webIdentity, goodToken)
	if !signedBy(leaf, f.issuer) {
		t.Fatal("first leaf not signed by the initial issuer")
	}

	now := time.Now()
	next := testpki.Issuer(t, f.anchor, "identity.linkerd.cluster.local", now.Add(-time.Minute), now.Add(48*time.Hour), true)
	f.writeIssuer(t, next, f.anchor.Cert)

	e := f.rec.wait(t)
	if e.reason != ReasonIssuerUpdated || e.typ != EventTypeNormal {
		t.Fatalf("got event %+v, want Normal IssuerUpdated", e)
	}
	if !f.svc.Issuer().Certificate.Equal(next.Cert) {
		t.Fatal("issuer was not swapped in")
	}
	leaf, _ = f.certify(t, webIdentity, goodToken)
	if !signedBy(leaf, next) {
		t.Fatal("leaf after reload not signed by the new issuer")
	}
}

func TestIssuerSignedByUnknownAnchorIsSkippedAndOldKept(t *testing.T) {
	f := newFixture(t, Validity{})
	now := time.Now()
	other := testpki.Anchor(t, "other-root", now.Add(-time.Hour), now.Add(24*time.Hour))
	bad := testpki.Issuer(t, other, "identity.linkerd.cluster.local", now.Add(-time.Minute), now.Add(48*time.Hour), true)
	f.writeIssuer(t, bad, other.Cert)

	e := f.rec.wait(t)
	if e.reason != ReasonIssuerUpdateSkipped || e.typ != EventTypeWarning {
		t.Fatalf("got event %+v, want Warning IssuerUpdateSkipped", e)
	}
	if !strings.Contains(e.msg, "Skipping issuer update as certs could not be read from disk") {
		t.Fatalf("unexpected message %q", e.msg)
	}
	if !f.svc.Issuer().Certificate.Equal(f.issuer.Cert) {
		t.Fatal("old issuer was not kept")
	}
	leaf, _ := f.certify(t, webIdentity, goodToken)
	if !signedBy(leaf, f.issuer) {
		t.Fatal("leaf not signed by the kept issuer")
	}
}

func TestTrustAnchorsAreLoadedOnce(t *testing.T) {
	f := newFixture(t, Validity{})
	now := time.Now()
	// Replace the bundle file with a new anchor B only. A controller that
	// re-read it would now accept B's issuers and refuse A's.
	anchorB := testpki.Anchor(t, "root-b", now.Add(-time.Hour), now.Add(24*time.Hour))
	if err := os.WriteFile(f.anchorsFile, testpki.CertPEM(anchorB.Cert), 0o644); err != nil {
		t.Fatal(err)
	}

	issuerB := testpki.Issuer(t, anchorB, "identity.linkerd.cluster.local", now.Add(-time.Minute), now.Add(48*time.Hour), true)
	f.writeIssuer(t, issuerB, anchorB.Cert)
	if e := f.rec.wait(t); e.reason != ReasonIssuerUpdateSkipped {
		t.Fatalf("issuer signed by B: got %+v, want IssuerUpdateSkipped (anchors must not be re-read)", e)
	}

	issuerA2 := testpki.Issuer(t, f.anchor, "identity.linkerd.cluster.local", now.Add(-time.Minute), now.Add(48*time.Hour), true)
	f.writeIssuer(t, issuerA2, f.anchor.Cert)
	if e := f.rec.wait(t); e.reason != ReasonIssuerUpdated {
		t.Fatalf("issuer signed by A: got %+v, want IssuerUpdated (anchors loaded at start)", e)
	}
}

func TestInvalidIssuersAreSkipped(t *testing.T) {
	f := newFixture(t, Validity{})
	now := time.Now()
	cases := map[string]func(){
		"not a CA": func() {
			leafish := testpki.Issuer(t, f.anchor, "identity.linkerd.cluster.local", now.Add(-time.Minute), now.Add(48*time.Hour), false)
			f.writeIssuer(t, leafish, f.anchor.Cert)
		},
		"key does not match": func() {
			a := testpki.Issuer(t, f.anchor, "identity.linkerd.cluster.local", now.Add(-time.Minute), now.Add(48*time.Hour), true)
			b := testpki.Issuer(t, f.anchor, "identity.linkerd.cluster.local", now.Add(-time.Minute), now.Add(48*time.Hour), true)
			testpki.AtomicWrite(t, f.issuerDir, map[string][]byte{
				"tls.crt": testpki.CertPEM(a.Cert), "tls.key": testpki.KeyPEM(t, b.Key), "ca.crt": nil})
		},
		"expired": func() {
			old := testpki.Issuer(t, f.anchor, "identity.linkerd.cluster.local", now.Add(-3*time.Hour), now.Add(-time.Hour), true)
			f.writeIssuer(t, old, f.anchor.Cert)
		},
		"not yet valid": func() {
			future := testpki.Issuer(t, f.anchor, "identity.linkerd.cluster.local", now.Add(time.Hour), now.Add(48*time.Hour), true)
			f.writeIssuer(t, future, f.anchor.Cert)
		},
	}
	for name, write := range cases {
		t.Run(name, func(t *testing.T) {
			write()
			if e := f.rec.wait(t); e.reason != ReasonIssuerUpdateSkipped {
				t.Fatalf("got %+v, want IssuerUpdateSkipped", e)
			}
			if !f.svc.Issuer().Certificate.Equal(f.issuer.Cert) {
				t.Fatal("old issuer was not kept")
			}
		})
	}
}

func TestCertifyRejections(t *testing.T) {
	f := newFixture(t, Validity{})
	key := testpki.NewKey(t)
	goodCSR := testpki.CSR(t, webIdentity, key)
	badSig := append([]byte{}, goodCSR...)
	badSig[len(badSig)-3] ^= 0xff // corrupt the signature's last bytes
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f2 := fakeValidator{
		"malformed": InvalidToken{Reason: "token is malformed"},
	}
	f.svc.validator = f2

	cases := []struct {
		name     string
		req      *pb.CertifyRequest
		wantCode codes.Code
	}{
		{"missing identity", &pb.CertifyRequest{Token: []byte(goodToken), CertificateSigningRequest: goodCSR}, codes.InvalidArgument},
		{"missing token", &pb.CertifyRequest{Identity: webIdentity, CertificateSigningRequest: goodCSR}, codes.InvalidArgument},
		{"missing CSR", &pb.CertifyRequest{Identity: webIdentity, Token: []byte(goodToken)}, codes.InvalidArgument},
		{"unauthenticated token", &pb.CertifyRequest{Identity: webIdentity, Token: []byte("forged"), CertificateSigningRequest: goodCSR}, codes.FailedPrecondition},
		{"invalid token", &pb.CertifyRequest{Identity: webIdentity, Token: []byte("malformed"), CertificateSigningRequest: goodCSR}, codes.InvalidArgument},
		{"identity of another service account", &pb.CertifyRequest{Identity: webIdentity, Token: []byte("token-of-other"), CertificateSigningRequest: goodCSR}, codes.FailedPrecondition},
		{"CSR not DER", &pb.CertifyRequest{Identity: webIdentity, Token: []byte(goodToken), CertificateSigningRequest: []byte("not a csr")}, codes.InvalidArgument},
		{"CSR for another name", &pb.CertifyRequest{Identity: webIdentity, Token: []byte(goodToken), CertificateSigningRequest: testpki.CSR(t, "evil.example", key)}, codes.FailedPrecondition},
		{"CSR with a bad signature", &pb.CertifyRequest{Identity: webIdentity, Token: []byte(goodToken), CertificateSigningRequest: badSig}, codes.FailedPrecondition},
		{"CSR with an RSA key", &pb.CertifyRequest{Identity: webIdentity, Token: []byte(goodToken), CertificateSigningRequest: testpki.CSR(t, webIdentity, rsaKey)}, codes.Internal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.Certify(context.Background(), tc.req)
			if got := status.Code(err); got != tc.wantCode {
				t.Fatalf("code %v (%v), want %v", got, err, tc.wantCode)
			}
		})
	}
}

func TestLeafValidityWindowAndClamping(t *testing.T) {
	validity := Validity{Lifetime: 24 * time.Hour, ClockSkewAllowance: 20 * time.Second}
	f := newFixture(t, validity)
	now := time.Now().Truncate(time.Second)
	f.svc.SetClock(func() time.Time { return now })

	t.Run("window", func(t *testing.T) {
		leaf, rsp := f.certify(t, webIdentity, goodToken)
		if !leaf.NotBefore.Equal(now.Add(-20 * time.Second)) {
			t.Errorf("NotBefore %v, want now-20s %v", leaf.NotBefore, now.Add(-20*time.Second))
		}
		if !leaf.NotAfter.Equal(now.Add(24*time.Hour + 20*time.Second)) {
			t.Errorf("NotAfter %v, want now+24h+20s", leaf.NotAfter)
		}
		if !rsp.ValidUntil.AsTime().Equal(leaf.NotAfter) {
			t.Errorf("valid_until %v != NotAfter %v", rsp.ValidUntil.AsTime(), leaf.NotAfter)
		}
		if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != webIdentity {
			t.Errorf("DNS SANs %v", leaf.DNSNames)
		}
		if leaf.IsCA {
			t.Error("leaf is a CA")
		}
		// The response chain verifies to the anchor.
		inter := x509.NewCertPool()
		for _, der := range rsp.IntermediateCertificates {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			inter.AddCert(c)
		}
		roots := x509.NewCertPool()
		roots.AddCert(f.anchor.Cert)
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: webIdentity, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("leaf does not verify to the anchor: %v", err)
		}
	})

	t.Run("clamped to the issuer", func(t *testing.T) {
		short := testpki.Issuer(t, f.anchor, "identity.linkerd.cluster.local", now.Add(-time.Minute), now.Add(time.Hour), true)
		f.writeIssuer(t, short, f.anchor.Cert)
		if e := f.rec.wait(t); e.reason != ReasonIssuerUpdated {
			t.Fatalf("got %+v", e)
		}
		leaf, _ := f.certify(t, webIdentity, goodToken)
		if !leaf.NotAfter.Equal(short.Cert.NotAfter) {
			t.Errorf("NotAfter %v, want the issuer's %v", leaf.NotAfter, short.Cert.NotAfter)
		}
	})

	t.Run("clamped to the earliest certificate of the issuer file", func(t *testing.T) {
		// anchor -> mid CA (expires in 2h) -> issuer (48h); tls.crt holds all three.
		mid := testpki.Intermediate(t, f.anchor, "mid-ca", now.Add(-time.Minute), now.Add(2*time.Hour))
		issuer := testpki.Issuer(t, mid, "identity.linkerd.cluster.local", now.Add(-time.Minute), now.Add(48*time.Hour), true)
		f.writeIssuer(t, issuer, mid.Cert, f.anchor.Cert)
		if e := f.rec.wait(t); e.reason != ReasonIssuerUpdated {
			t.Fatalf("got %+v", e)
		}
		leaf, rsp := f.certify(t, webIdentity, goodToken)
		if !leaf.NotAfter.Equal(mid.Cert.NotAfter) {
			t.Errorf("NotAfter %v, want the chain's earliest %v", leaf.NotAfter, mid.Cert.NotAfter)
		}
		if len(rsp.IntermediateCertificates) != 3 {
			t.Errorf("got %d intermediates, want issuer+mid+anchor", len(rsp.IntermediateCertificates))
		}
	})
}

func TestCertifyRechecksIssuerAgainstAnchors(t *testing.T) {
	f := newFixture(t, Validity{})
	later := f.issuer.Cert.NotAfter.Add(time.Minute)
	f.svc.SetClock(func() time.Time { return later })
	_, err := f.svc.Certify(context.Background(), &pb.CertifyRequest{
		Identity: webIdentity, Token: []byte(goodToken),
		CertificateSigningRequest: testpki.CSR(t, webIdentity, testpki.NewKey(t)),
	})
	if status.Code(err) != codes.Unknown {
		t.Fatalf("got %v, want Unknown (upstream returns the bare verification error)", err)
	}
	e := f.rec.wait(t)
	if e.reason != ReasonIssuerValidationFailed || e.typ != EventTypeWarning || !strings.Contains(e.msg, webIdentity) {
		t.Fatalf("got %+v, want Warning IssuerValidationFailed naming the identity", e)
	}
}

func TestCertifyOverGRPC(t *testing.T) {
	f := newFixture(t, Validity{Lifetime: time.Hour, ClockSkewAllowance: 20 * time.Second})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterIdentityServer(srv, f.svc)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewIdentityClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rsp, err := client.Certify(ctx, &pb.CertifyRequest{
		Identity: webIdentity, Token: []byte(goodToken),
		CertificateSigningRequest: testpki.CSR(t, webIdentity, testpki.NewKey(t)),
	})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(rsp.LeafCertificate)
	if err != nil || !signedBy(leaf, f.issuer) {
		t.Fatalf("leaf %v, err %v", leaf, err)
	}
	_, err = client.Certify(ctx, &pb.CertifyRequest{Identity: webIdentity, Token: []byte("forged"),
		CertificateSigningRequest: testpki.CSR(t, webIdentity, testpki.NewKey(t))})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("forged token over gRPC: %v", err)
	}
}

func TestAdminMetrics(t *testing.T) {
	f := newFixture(t, Validity{})
	var ready atomic.Bool
	ready.Store(true)
	srv := httptest.NewServer(AdminHandler(f.svc, &ready))
	defer srv.Close()
	for path, want := range map[string]string{"/ping": "pong", "/ready": "ok", "/metrics": "issuer_cert_ttl_seconds "} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d %q", path, resp.StatusCode, body)
		}
	}
	ttl, ok := f.svc.IssuerTTLSeconds()
	if !ok || ttl < 47*3600 || ttl > 48*3600 {
		t.Errorf("ttl %v", ttl)
	}
}

func TestFlagsAndSchemes(t *testing.T) {
	o, err := ParseFlags([]string{"-controller-namespace=linkerd", "-identity-trust-domain=cluster.local",
		"-identity-issuance-lifetime=24h0m0s", "-identity-clock-skew-allowance=20s", "-identity-scheme=kubernetes.io/tls",
		"-log-level=info", "-log-format=plain", "-enable-pprof=false", "-kube-apiclient-qps=100", "-kube-apiclient-burst=200"})
	if err != nil {
		t.Fatal(err)
	}
	if o.TrustAnchorsFile != DefaultTrustAnchorsFile || o.Addr != ":8080" || o.AdminAddr != ":9990" {
		t.Errorf("defaults: %+v", o)
	}
	v := ParseValidity(o.IssuanceLifetime, o.ClockSkewAllowance)
	if v.Lifetime != 24*time.Hour || v.ClockSkewAllowance != 20*time.Second {
		t.Errorf("validity %+v", v)
	}
	if v := ParseValidity("bogus", "bogus"); v.Lifetime != DefaultIssuanceLifetime || v.ClockSkewAllowance != DefaultClockSkewAllowance {
		t.Errorf("bad durations fall back to defaults: %+v", v)
	}
	if c, k := IssuerPaths("/x", "kubernetes.io/tls"); c != "/x/tls.crt" || k != "/x/tls.key" {
		t.Errorf("kubernetes.io/tls: %s %s", c, k)
	}
	if c, k := IssuerPaths("/x", "linkerd.io/tls"); c != "/x/crt.pem" || k != "/x/key.pem" {
		t.Errorf("linkerd.io/tls: %s %s", c, k)
	}
	if code := Main([]string{"-identity-trust-domain=cluster.local"}); code != 0 {
		t.Errorf("empty scheme: exit %d, want 0", code)
	}
	if code := Main([]string{"-identity-scheme=kubernetes.io/tls"}); code != 0 {
		t.Errorf("empty trust domain: exit %d, want 0", code)
	}
}
