package identity

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// Upstream: controller/identity/service.go (Certify) records a Normal
// IssuedLeafCertificate Event on the requester's ServiceAccount for every
// leaf: "issued certificate for <identity> until <NotAfter>: <hash of the
// leaf's DER>" (current releases print a SHA-256, 64 hex digits), on an
// object built from the identity's first two labels (name, namespace), with
// no UID. Issuer events stay on the Deployment (nil parent).
func TestIssuedLeafCertificateEventOnTheServiceAccount(t *testing.T) {
	f := newFixture(t, Validity{Lifetime: time.Hour, ClockSkewAllowance: 20 * time.Second})
	leaf1, _ := f.certify(t, webIdentity, goodToken)
	leaf2, _ := f.certify(t, webIdentity, goodToken)

	got := f.rec.leafEvents()
	if len(got) != 2 {
		t.Fatalf("got %d ServiceAccount events, want one per leaf (2): %+v", len(got), got)
	}
	for i, leaf := range []*x509.Certificate{leaf1, leaf2} {
		e := got[i]
		if e.typ != EventTypeNormal || e.reason != ReasonIssuedLeafCertificate {
			t.Errorf("event %d: %s %s, want Normal IssuedLeafCertificate", i, e.typ, e.reason)
		}
		if e.ref.Kind != "ServiceAccount" || e.ref.APIVersion != "v1" || e.ref.Namespace != "emojivoto" || e.ref.Name != "web" || e.ref.UID != "" {
			t.Errorf("event %d on %+v, want v1 ServiceAccount emojivoto/web without a UID", i, e.ref)
		}
		sum := sha256.Sum256(leaf.Raw)
		want := "issued certificate for " + webIdentity + " until " + leaf.NotAfter.String() + ": " + hex.EncodeToString(sum[:])
		if e.msg != want {
			t.Errorf("event %d message\n got %q\nwant %q", i, e.msg, want)
		}
	}
	// A refused request records none.
	f.certifyErr(t, webIdentity, "forged")
	if n := len(f.rec.leafEvents()); n != 2 {
		t.Fatalf("a refused Certify recorded an IssuedLeafCertificate event (%d events)", n)
	}
}

// Upstream: pkg/admin (the admin server's ready flag) and
// controller/cmd/identity/main.go, which sets it when the gRPC server starts
// serving: /ready answers 503 until then, and 200 "ok" after.
func TestReadyAnswers503UntilGRPCServes(t *testing.T) {
	f := newFixture(t, Validity{})
	var ready atomic.Bool
	srv := httptest.NewServer(AdminHandler(f.svc, &ready))
	defer srv.Close()
	get := func() (int, string) {
		resp, err := srv.Client().Get(srv.URL + "/ready")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get(); code != http.StatusServiceUnavailable {
		t.Fatalf("before gRPC serves: %d %q, want 503", code, body)
	}
	ready.Store(true)
	if code, body := get(); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("after gRPC serves: %d %q, want 200 \"ok\\n\"", code, body)
	}
}
