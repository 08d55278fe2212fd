package pki

// Each case here follows linkerd2 pkg/tls/codec.go DecodePEMCertificates (and
// decodeCertificatePEM), which the identity controller uses for the trust
// anchors (controller/cmd/identity/main.go, DecodePEMCertPool) and for the
// issuer's tls.crt (pkg/tls/cred.go ReadPEMCreds -> DecodePEMCrt): it loops
// while input remains, pem.Decode of what remains must find a block, and a
// block that is not a CERTIFICATE returns no remainder, which ends the loop.

import (
	"encoding/pem"
	"strconv"
	"strings"
	"testing"
	"time"

	"linkerd-rotator/e2e/standins/internal/testpki"
)

func TestDecodeCertificatesAsLinkerd(t *testing.T) {
	now := time.Now()
	a := testpki.Anchor(t, "root-a", now.Add(-time.Hour), now.Add(time.Hour))
	b := testpki.Anchor(t, "root-b", now.Add(-time.Hour), now.Add(time.Hour))
	pemA, pemB := string(testpki.CertPEM(a.Cert)), string(testpki.CertPEM(b.Cert))
	key := string(testpki.KeyPEM(t, testpki.NewKey(t)))
	other := string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: []byte{0x30, 0x00}}))
	crlf := func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

	cases := []struct {
		name    string
		text    string
		want    []string // CNs, in order
		wantErr string   // substring of the error; "" = no error
	}{
		{"two blocks, one newline after each", pemA + pemB, []string{"root-a", "root-b"}, ""},
		{"no newline after the last END line", strings.TrimSuffix(pemA+pemB, "\n"), []string{"root-a", "root-b"}, ""},
		{"text before the first block is skipped", "# trust anchors\n" + pemA + pemB, []string{"root-a", "root-b"}, ""},
		{"text between blocks is skipped", pemA + "\n# next\n\n" + pemB, []string{"root-a", "root-b"}, ""},
		{"CRLF line endings", crlf(pemA + pemB), []string{"root-a", "root-b"}, ""},
		{"one blank line after the last END line", pemA + pemB + "\n", nil, "not a PEM certificate"},
		{"a whitespace-only line after the last END line", pemA + pemB + "  \t\n", nil, "not a PEM certificate"},
		{"a trailing comment", pemA + pemB + "# end\n", nil, "not a PEM certificate"},
		{"CRLF with a trailing blank line", crlf(pemA+pemB) + "\r\n", nil, "not a PEM certificate"},
		{"anchors after a private key are dropped silently", pemA + key + pemB, []string{"root-a"}, ""},
		{"anchors after any non-CERTIFICATE block are dropped silently", pemA + other + pemB, []string{"root-a"}, ""},
		{"after a non-CERTIFICATE block nothing is read, not even trailing text", pemA + other + pemB + "\n\n# junk", []string{"root-a"}, ""},
		{"a non-CERTIFICATE block first leaves nothing", key + pemA, nil, ""},
		{"empty input", "", nil, ""},
		{"text only", "hello\n", nil, "not a PEM certificate"},
		{"a CERTIFICATE block that is not DER", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("nope")})), nil, "x509"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			certs, err := DecodeCertificates([]byte(tc.text))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %d certificate(s), err %v; want an error containing %q", len(certs), err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			var got []string
			for _, c := range certs {
				got = append(got, c.Subject.CommonName)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// The error for trailing text names the line it starts on, never the text.
func TestDecodeCertificatesNamesTheTrailingLine(t *testing.T) {
	now := time.Now()
	a := testpki.Anchor(t, "root-a", now.Add(-time.Hour), now.Add(time.Hour))
	text := string(testpki.CertPEM(a.Cert))
	lines := strings.Count(text, "\n")
	_, err := DecodeCertificates([]byte(text + "\n# secret-looking comment\n"))
	if err == nil {
		t.Fatal("trailing text accepted")
	}
	if want := "from line " + strconv.Itoa(lines+1); !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %q", err, want)
	}
	if strings.Contains(err.Error(), "secret-looking") {
		t.Fatalf("error quotes the trailing text: %q", err)
	}
}

// DecodeCertPool refuses a bundle that yields no certificate (upstream
// DecodePEMCertPool: "No certificates found"), including one whose only
// certificate follows a non-CERTIFICATE block.
func TestDecodeCertPoolNeedsACertificate(t *testing.T) {
	now := time.Now()
	a := testpki.Anchor(t, "root-a", now.Add(-time.Hour), now.Add(time.Hour))
	key := testpki.KeyPEM(t, testpki.NewKey(t))
	if _, _, err := DecodeCertPool(append(key, testpki.CertPEM(a.Cert)...)); err == nil || !strings.Contains(err.Error(), "no certificates found") {
		t.Fatalf("got %v, want no certificates found", err)
	}
}

// The issuer's tls.crt is decoded by the same rule (pkg/tls/cred.go
// ReadPEMCreds -> DecodePEMCrt -> DecodePEMCertificates).
func TestParseCredUsesTheSameRule(t *testing.T) {
	now := time.Now()
	a := testpki.Anchor(t, "root-a", now.Add(-time.Hour), now.Add(time.Hour))
	is := testpki.Issuer(t, a, "identity.linkerd.cluster.local", now.Add(-time.Hour), now.Add(time.Hour), true)
	crt := testpki.CertPEM(is.Cert, a.Cert)
	key := testpki.KeyPEM(t, is.Key)
	if _, err := ParseCred(crt, key); err != nil {
		t.Fatalf("clean tls.crt refused: %v", err)
	}
	if _, err := ParseCred(append(crt, '\n'), key); err == nil || !strings.Contains(err.Error(), "not a PEM certificate") {
		t.Fatalf("tls.crt with a trailing blank line: %v, want not a PEM certificate", err)
	}
}
