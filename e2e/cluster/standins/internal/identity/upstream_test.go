package identity

// Behaviour the stand-in must share with Linkerd's identity controller, each
// test citing the upstream linkerd2 file it follows. These use only the
// fixture's common helpers (newFixture, writeIssuer, certify, rec.wait).

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	authnv1 "k8s.io/api/authentication/v1"

	pb "linkerd-rotator/e2e/standins/gen/identitypb"
	"linkerd-rotator/e2e/standins/internal/testpki"
)

// Upstream: controller/cmd/identity/main.go reads the anchors with
// pkg/tls/codec.go DecodePEMCertPool and exits ("Failed to read trust
// anchors") when it fails: one blank line, a whitespace-only line or a
// comment after the last END line is fatal; CRLF and text before a block are
// fine.
func TestTrustAnchorsFileParsedAsLinkerd(t *testing.T) {
	now := time.Now()
	a := testpki.Anchor(t, "root-a", now.Add(-time.Hour), now.Add(time.Hour))
	b := testpki.Anchor(t, "root-b", now.Add(-time.Hour), now.Add(time.Hour))
	bundle := string(testpki.CertPEM(a.Cert, b.Cert))
	dir := t.TempDir()
	read := func(text string) error {
		p := filepath.Join(dir, "ca-bundle.crt")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadTrustAnchors(p)
		return err
	}
	for name, text := range map[string]string{
		"as trust-manager writes it": bundle,
		"CRLF":                       strings.ReplaceAll(bundle, "\n", "\r\n"),
		"a comment before":           "# anchors\n" + bundle,
	} {
		if err := read(text); err != nil {
			t.Errorf("%s: refused: %v", name, err)
		}
	}
	for name, text := range map[string]string{
		"a trailing blank line":       bundle + "\n",
		"a trailing whitespace line":  bundle + " \n",
		"a trailing comment":          bundle + "# end\n",
		"only a private key":          string(testpki.KeyPEM(t, testpki.NewKey(t))),
		"an empty file":               "",
		"a trailing blank line, CRLF": strings.ReplaceAll(bundle, "\n", "\r\n") + "\r\n",
	} {
		if err := read(text); err == nil {
			t.Errorf("%s: accepted, but Linkerd's identity controller refuses to start", name)
		} else if !strings.HasPrefix(err.Error(), "Failed to read trust anchors") {
			t.Errorf("%s: error %q does not say it is the trust anchors", name, err)
		}
	}
}

// Upstream: pkg/tls/codec.go decodeCertificatePEM returns no remainder for a
// non-CERTIFICATE block, so DecodePEMCertificates stops there and every
// anchor after it is dropped without an error. An issuer signed by such an
// anchor then fails to verify (pkg/identity/service.go loadCredentials).
func TestAnchorsAfterANonCertificateBlockAreDropped(t *testing.T) {
	f := newFixture(t, Validity{})
	now := time.Now()
	b := testpki.Anchor(t, "root-b", now.Add(-time.Hour), now.Add(24*time.Hour))
	bundle := append(append(testpki.CertPEM(f.anchor.Cert), testpki.KeyPEM(t, testpki.NewKey(t))...), testpki.CertPEM(b.Cert)...)
	p := filepath.Join(f.dir, "dropped.crt")
	if err := os.WriteFile(p, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	anchors, err := ReadTrustAnchors(p)
	if err != nil {
		t.Fatalf("bundle refused, but upstream loads it (and drops B): %v", err)
	}
	issuerB := testpki.Issuer(t, b, "identity.linkerd.cluster.local", now.Add(-time.Minute), now.Add(48*time.Hour), true)
	dir := filepath.Join(f.dir, "issuer-b")
	testpki.AtomicWrite(t, dir, map[string][]byte{
		"tls.crt": testpki.CertPEM(issuerB.Cert), "tls.key": testpki.KeyPEM(t, issuerB.Key), "ca.crt": testpki.CertPEM(b.Cert)})
	crt, key := IssuerPaths(dir, "kubernetes.io/tls")
	svc := NewService(fakeValidator{}, anchors, Validity{}, nil, "identity.linkerd.cluster.local", crt, key)
	if err := svc.Initialize(); err == nil {
		t.Fatal("an issuer signed by B loaded, but B follows a non-CERTIFICATE block and upstream drops it")
	}
	// A, before the key, is kept.
	issuerA := testpki.Issuer(t, f.anchor, "identity.linkerd.cluster.local", now.Add(-time.Minute), now.Add(48*time.Hour), true)
	testpki.AtomicWrite(t, dir, map[string][]byte{
		"tls.crt": testpki.CertPEM(issuerA.Cert), "tls.key": testpki.KeyPEM(t, issuerA.Key), "ca.crt": testpki.CertPEM(f.anchor.Cert)})
	if err := svc.Initialize(); err != nil {
		t.Fatalf("an issuer signed by A (before the key) refused: %v", err)
	}
}

// Upstream: pkg/identity/service.go loadCredentials reads tls.crt with
// pkg/tls/cred.go ReadPEMCreds -> DecodePEMCrt -> DecodePEMCertificates, so a
// tls.crt with a blank line after its last END line is skipped.
func TestIssuerFileParsedAsLinkerd(t *testing.T) {
	f := newFixture(t, Validity{})
	now := time.Now()
	next := testpki.Issuer(t, f.anchor, "identity.linkerd.cluster.local", now.Add(-time.Minute), now.Add(48*time.Hour), true)
	testpki.AtomicWrite(t, f.issuerDir, map[string][]byte{
		"tls.crt": append(testpki.CertPEM(next.Cert, f.anchor.Cert), '\n'),
		"tls.key": testpki.KeyPEM(t, next.Key),
		"ca.crt":  testpki.CertPEM(f.anchor.Cert),
	})
	e := f.rec.wait(t)
	if e.reason != ReasonIssuerUpdateSkipped || !strings.Contains(e.msg, "not a PEM certificate") {
		t.Fatalf("got %+v, want IssuerUpdateSkipped (not a PEM certificate)", e)
	}
	if !f.svc.Issuer().Certificate.Equal(f.issuer.Cert) {
		t.Fatal("old issuer was not kept")
	}
}

// Upstream: pkg/identity/service.go loadCredentials checks only that the
// issuer verifies against the anchors and is a CA, so an RSA or Ed25519
// issuer loads and IssuerUpdated is recorded; pkg/tls/ca.go createTemplate
// fixes SignatureAlgorithm to ECDSAWithSHA256, so crypto/x509 refuses to sign
// with that key and every Certify fails (codes.Internal, as
// IssueEndEntityCrt's error is returned with it).
func TestNonECDSAIssuerLoadsButCannotSign(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string]crypto.Signer{"RSA 2048": rsaKey, "Ed25519": edKey} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, Validity{})
			now := time.Now()
			cert, keyPEM := testpki.IssuerWithKey(t, f.anchor, "identity.linkerd.cluster.local", now.Add(-time.Minute), now.Add(48*time.Hour), key)
			testpki.AtomicWrite(t, f.issuerDir, map[string][]byte{
				"tls.crt": testpki.CertPEM(cert, f.anchor.Cert), "tls.key": keyPEM, "ca.crt": testpki.CertPEM(f.anchor.Cert)})
			if e := f.rec.wait(t); e.reason != ReasonIssuerUpdated || e.typ != EventTypeNormal {
				t.Fatalf("got %+v, want Normal IssuerUpdated (upstream loads a %s issuer)", e, name)
			}
			if !f.svc.Issuer().Certificate.Equal(cert) {
				t.Fatalf("the %s issuer was not swapped in", name)
			}
			_, err := f.svc.Certify(context.Background(), &pb.CertifyRequest{
				Identity: webIdentity, Token: []byte(goodToken),
				CertificateSigningRequest: testpki.CSR(t, webIdentity, testpki.NewKey(t)),
			})
			if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "SignatureAlgorithm") {
				t.Fatalf("Certify with a %s issuer: %v, want Internal (signing is fixed to ECDSA with SHA-256)", name, err)
			}
		})
	}
}

// Upstream: controller/identity/validator.go. The review is sent with
// audiences [identity.l5d.io]; when the API server does not authenticate the
// token for it (a token of the API server's own audience is refused with an
// error naming the audiences), it is sent again without audiences. The
// audiences of the answer are not checked.
func TestTokenReviewRetriesWithoutAudiences(t *testing.T) {
	dom, err := NewTrustDomain("linkerd", "cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	web := authnv1.UserInfo{Username: "system:serviceaccount:emojivoto:web"}
	audErr := `[invalid bearer token, token audiences ["https://kubernetes.default.svc.cluster.local"] is invalid for the target audiences ["identity.l5d.io"]]`
	reviews := &fakeReviews{
		status: map[string]authnv1.TokenReviewStatus{
			"default-audience": {Error: audErr},
			"other-audiences":  {Authenticated: true, User: web, Audiences: []string{"https://kubernetes.default.svc"}},
			"garbage":          {Error: "invalid bearer token"},
		},
		noAudience: map[string]authnv1.TokenReviewStatus{
			"default-audience": {Authenticated: true, User: web, Audiences: []string{"https://kubernetes.default.svc.cluster.local"}},
		},
	}
	v := NewTokenValidator(reviews, dom)

	got, err := v.Validate(context.Background(), []byte("default-audience"))
	if err != nil || got != webIdentity {
		t.Fatalf("a token of the API server's audience: %q %v, want %s (upstream retries without audiences)", got, err, webIdentity)
	}
	if len(reviews.seen) != 2 || len(reviews.seen[0].Audiences) != 1 || reviews.seen[0].Audiences[0] != TokenAudience || len(reviews.seen[1].Audiences) != 0 {
		t.Fatalf("reviews sent %+v, want [identity.l5d.io] then none", reviews.seen)
	}

	reviews.seen = nil
	if got, err := v.Validate(context.Background(), []byte("other-audiences")); err != nil || got != webIdentity {
		t.Fatalf("an answer naming other audiences: %q %v, want accepted (upstream does not check status.audiences)", got, err)
	}
	if len(reviews.seen) != 1 {
		t.Fatalf("an authenticated first answer was reviewed again: %+v", reviews.seen)
	}

	reviews.seen = nil
	if _, err := v.Validate(context.Background(), []byte("garbage")); !errors.As(err, new(InvalidToken)) {
		t.Fatalf("garbage token: %v, want InvalidToken", err)
	}
	if len(reviews.seen) != 2 {
		t.Fatalf("garbage token reviewed %d time(s), want 2 (with, then without audiences)", len(reviews.seen))
	}
}
