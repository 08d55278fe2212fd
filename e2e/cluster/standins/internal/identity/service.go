// Package identity is a STAND-IN for Linkerd's identity controller
// (linkerd2 controller/cmd/identity, pkg/identity, controller/identity).
//
// Linkerd's own controller cannot be built here (its Go modules are not
// served to this environment), so this package reimplements, in this
// project's own code, exactly the behaviour trust-anchor rotation depends on:
//
//   - trust anchors are read once, at start, and never again;
//   - the issuer is read from a directory, watched with fsnotify for the
//     kubelet's "..data" symlink swap, and on every change re-validated
//     against the anchors loaded at start: a valid one is swapped in (event
//     IssuerUpdated), an invalid one is skipped and the old one kept (event
//     IssuerUpdateSkipped);
//   - every Certify call re-checks that the issuer still verifies against the
//     loaded anchors (event IssuerValidationFailed when it does not);
//   - tokens are checked with a TokenReview (audience identity.l5d.io, then
//     none if that is refused), the requested identity must be the token's
//     service account identity, and leaves are clamped to the issuer chain's
//     earliest expiry and signed with ECDSA-with-SHA256 only (an RSA or
//     Ed25519 issuer loads, then every Certify fails);
//   - every leaf issued records a Normal IssuedLeafCertificate event on the
//     requester's ServiceAccount.
package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"math/big"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
	corev1 "k8s.io/api/core/v1"

	pb "linkerd-rotator/e2e/standins/gen/identitypb"
	"linkerd-rotator/e2e/standins/internal/pki"
)

// Event reasons and types, as upstream records them.
const (
	EventTypeNormal  = "Normal"
	EventTypeWarning = "Warning"

	ReasonIssuerUpdated          = "IssuerUpdated"
	ReasonIssuerUpdateSkipped    = "IssuerUpdateSkipped"
	ReasonIssuerValidationFailed = "IssuerValidationFailed"
	// ReasonIssuedLeafCertificate is recorded (Normal) on the requester's
	// ServiceAccount for every leaf issued.
	ReasonIssuedLeafCertificate = "IssuedLeafCertificate"

	// DefaultIssuanceLifetime is the leaf lifetime when none is configured.
	DefaultIssuanceLifetime = 24 * time.Hour
	// DefaultClockSkewAllowance is upstream's pkg/tls default (the chart passes 20s).
	DefaultClockSkewAllowance = 10 * time.Second
)

// Validity configures issued leaves.
type Validity struct {
	Lifetime           time.Duration
	ClockSkewAllowance time.Duration
}

// Window returns NotBefore/NotAfter for a leaf issued at t, as upstream's
// tls.Validity.Window: [t - skew, t + lifetime + skew].
func (v Validity) Window(t time.Time) (time.Time, time.Time) {
	life := v.Lifetime
	if life == 0 {
		life = DefaultIssuanceLifetime
	}
	skew := v.ClockSkewAllowance
	if skew == 0 {
		skew = DefaultClockSkewAllowance
	}
	return t.Add(-skew), t.Add(life).Add(skew)
}

// Validator authenticates a bearer token and returns its DNS-form identity.
// It returns InvalidToken when the token is malformed and NotAuthenticated
// when it cannot be authenticated.
type Validator interface {
	Validate(ctx context.Context, token []byte) (string, error)
}

// InvalidToken is returned by a Validator for a malformed token.
type InvalidToken struct{ Reason string }

func (e InvalidToken) Error() string { return e.Reason }

// NotAuthenticated is returned by a Validator for a token it cannot authenticate.
type NotAuthenticated struct{}

func (NotAuthenticated) Error() string { return "authentication token could not be authenticated" }

// RecordEventFunc records a Kubernetes Event (type, reason, message) on the
// object ref names; a nil ref means the linkerd-identity Deployment (as
// upstream's recordEvent with a nil parent).
type RecordEventFunc func(ref *corev1.ObjectReference, eventType, reason, message string)

// ServiceAccountRef is the object an IssuedLeafCertificate Event is recorded
// on: the ServiceAccount named by the first two labels of an identity
// (<sa>.<ns>.serviceaccount.identity...). Like upstream, it carries no UID.
func ServiceAccountRef(identity string) *corev1.ObjectReference {
	labels := strings.SplitN(identity, ".", 3)
	ref := &corev1.ObjectReference{APIVersion: "v1", Kind: "ServiceAccount", Name: labels[0]}
	if len(labels) > 1 {
		ref.Namespace = labels[1]
	}
	return ref
}

// Service implements io.linkerd.proxy.identity.Identity.
type Service struct {
	pb.UnimplementedIdentityServer

	validator    Validator
	trustAnchors *x509.CertPool
	validity     Validity
	recordEvent  RecordEventFunc
	expectedName string
	crtPath      string
	keyPath      string
	now          func() time.Time

	mu     sync.RWMutex
	issuer *pki.Cred
}

// NewService builds a Service. trustAnchors is used for the whole life of the
// Service: nothing ever reloads it.
func NewService(v Validator, trustAnchors *x509.CertPool, validity Validity, record RecordEventFunc,
	expectedName, issuerCrtPath, issuerKeyPath string) *Service {
	if record == nil {
		record = func(*corev1.ObjectReference, string, string, string) {}
	}
	return &Service{
		validator:    v,
		trustAnchors: trustAnchors,
		validity:     validity,
		recordEvent:  record,
		expectedName: expectedName,
		crtPath:      issuerCrtPath,
		keyPath:      issuerKeyPath,
		now:          time.Now,
	}
}

// SetClock replaces the clock (tests only).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Initialize loads and validates the issuer from disk and swaps it in.
func (s *Service) Initialize() error {
	cred, err := s.loadCredentials()
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.issuer = cred
	s.mu.Unlock()
	return nil
}

// Issuer returns the issuer in use (nil before Initialize).
func (s *Service) Issuer() *pki.Cred {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.issuer
}

func (s *Service) loadCredentials() (*pki.Cred, error) {
	cred, err := pki.ReadCred(s.crtPath, s.keyPath)
	if err != nil {
		return nil, fmt.Errorf("failed to read CA from disk: %w", err)
	}
	if !cred.Certificate.BasicConstraintsValid || !cred.Certificate.IsCA {
		return nil, fmt.Errorf("failed to verify issuer credentials for '%s': it must be an intermediate-CA, but it is not", s.expectedName)
	}
	if err := cred.Verify(s.trustAnchors, s.now()); err != nil {
		return nil, fmt.Errorf("failed to verify issuer credentials for '%s' with trust anchors: %w", s.expectedName, err)
	}
	return cred, nil
}

// Run reloads the issuer on every watcher event until ctx ends.
func (s *Service) Run(ctx context.Context, issuerEvent <-chan struct{}, issuerError <-chan error) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-issuerEvent:
			if err := s.Initialize(); err != nil {
				msg := fmt.Sprintf("Skipping issuer update as certs could not be read from disk: %s", err)
				log.Printf("level=warning msg=%q", msg)
				s.recordEvent(nil, EventTypeWarning, ReasonIssuerUpdateSkipped, msg)
			} else {
				msg := "Updated identity issuer"
				log.Printf("level=info msg=%q", msg)
				s.recordEvent(nil, EventTypeNormal, ReasonIssuerUpdated, msg)
			}
		case err := <-issuerError:
			log.Printf("level=warning msg=%q", fmt.Sprintf("Received error from fs watcher: %s", err))
		}
	}
}

// IssuerTTLSeconds is the remaining life of the issuer certificate (negative
// once expired), exported as issuer_cert_ttl_seconds.
func (s *Service) IssuerTTLSeconds() (float64, bool) {
	is := s.Issuer()
	if is == nil {
		return 0, false
	}
	return is.Certificate.NotAfter.Sub(s.now()).Seconds(), true
}

func (s *Service) ensureIssuerStillValid(is *pki.Cred) error {
	return is.Verify(s.trustAnchors, s.now())
}

// Certify validates the caller's identity and signs its CSR.
func (s *Service) Certify(ctx context.Context, req *pb.CertifyRequest) (*pb.CertifyResponse, error) {
	s.mu.RLock()
	issuer := s.issuer
	s.mu.RUnlock()
	if issuer == nil {
		log.Printf("level=warning msg=%q", "Certificate issuer is not ready")
		return nil, status.Error(codes.Unavailable, "cert issuer not ready yet")
	}

	reqIdentity, tok, csr, err := checkRequest(req)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}

	if err := s.ensureIssuerStillValid(issuer); err != nil {
		log.Printf("level=error msg=%q", fmt.Sprintf("could not process CSR because of CA cert validation failure: %s - CSR Identity : %s", err, reqIdentity))
		s.recordEvent(nil, EventTypeWarning, ReasonIssuerValidationFailed, fmt.Sprintf("%s - CSR Identity : %s", err, reqIdentity))
		// Upstream returns the bare error, which gRPC reports as Unknown.
		return nil, status.Error(codes.Unknown, err.Error())
	}

	if err := checkCSR(csr, reqIdentity); err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}

	tokIdentity, err := s.validator.Validate(ctx, tok)
	if err != nil {
		var notAuth NotAuthenticated
		var invalid InvalidToken
		switch {
		case errors.As(err, &notAuth):
			log.Printf("level=info msg=%q", fmt.Sprintf("authentication failed for %s: %s", reqIdentity, err))
			return nil, status.Error(codes.FailedPrecondition, err.Error())
		case errors.As(err, &invalid):
			return nil, status.Error(codes.InvalidArgument, err.Error())
		default:
			msg := fmt.Sprintf("error validating token for %s: %s", reqIdentity, err)
			log.Printf("level=error msg=%q", msg)
			return nil, status.Error(codes.Internal, msg)
		}
	}

	if reqIdentity != tokIdentity {
		return nil, status.Error(codes.FailedPrecondition, fmt.Sprintf(
			"requested identity did not match provided token: requested=%s; found=%s", reqIdentity, tokIdentity))
	}

	leaf, err := s.issue(issuer, csr)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	// As upstream: a Normal IssuedLeafCertificate Event on the ServiceAccount
	// for every leaf, naming the identity, the leaf's NotAfter and the
	// SHA-256 of the leaf's DER.
	sum := sha256.Sum256(leaf.Raw)
	msg := fmt.Sprintf("issued certificate for %s until %s: %s", tokIdentity, leaf.NotAfter, hex.EncodeToString(sum[:]))
	s.recordEvent(ServiceAccountRef(tokIdentity), EventTypeNormal, ReasonIssuedLeafCertificate, msg)
	log.Printf("level=info msg=%q", msg)

	// Intermediates: the issuer, then the rest of its file (leaf-to-root).
	inter := make([][]byte, 0, 1+len(issuer.Chain))
	inter = append(inter, issuer.Certificate.Raw)
	for _, c := range issuer.Chain {
		inter = append(inter, c.Raw)
	}
	return &pb.CertifyResponse{
		LeafCertificate:          leaf.Raw,
		IntermediateCertificates: inter,
		ValidUntil:               timestamppb.New(leaf.NotAfter),
	}, nil
}

// issue signs an end-entity certificate for the CSR.
func (s *Service) issue(issuer *pki.Cred, csr *x509.CertificateRequest) (*x509.Certificate, error) {
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("CSR must contain an ECDSA public key: %T", csr.PublicKey)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	notBefore, notAfter := s.validity.Window(s.now())
	// Never outlive any certificate of the issuer's chain.
	if first := issuer.FirstExpiry(); first.Before(notAfter) {
		notAfter = first
	}
	// The signature algorithm is fixed, as upstream's (pkg/tls/ca.go
	// createTemplate): an RSA or Ed25519 issuer loads and validates, but
	// crypto/x509 then refuses to sign with it ("requested SignatureAlgorithm
	// does not match private key type"), so every Certify fails with Internal.
	tmpl := &x509.Certificate{
		SerialNumber:       serial,
		SignatureAlgorithm: x509.ECDSAWithSHA256,
		Subject:            csr.Subject,
		DNSNames:           csr.DNSNames,
		NotBefore:          notBefore,
		NotAfter:           notAfter,
		KeyUsage:           x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer.Certificate, pub, issuer.Key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func checkRequest(req *pb.CertifyRequest) (string, []byte, *x509.CertificateRequest, error) {
	reqIdentity := req.GetIdentity()
	if reqIdentity == "" {
		return "", nil, nil, errors.New("missing identity")
	}
	tok := req.GetToken()
	if len(tok) == 0 {
		return "", nil, nil, errors.New("missing token")
	}
	der := req.GetCertificateSigningRequest()
	if len(der) == 0 {
		return "", nil, nil, errors.New("missing certificate signing request")
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return "", nil, nil, err
	}
	return reqIdentity, tok, csr, nil
}

func checkCSR(csr *x509.CertificateRequest, identity string) error {
	if len(csr.DNSNames) != 1 {
		return errors.New("CSR must have exactly one DNSName")
	}
	if csr.DNSNames[0] != identity {
		return fmt.Errorf("CSR name does not match requested identity: csr=%s; req=%s", csr.DNSNames[0], identity)
	}
	switch csr.Subject.CommonName {
	case "", identity:
	default:
		return fmt.Errorf("invalid CommonName: %s", csr.Subject.CommonName)
	}
	if len(csr.EmailAddresses) > 0 {
		return errors.New("cannot validate email addresses")
	}
	if len(csr.IPAddresses) > 0 {
		return errors.New("cannot validate IP addresses")
	}
	if len(csr.URIs) > 0 {
		return errors.New("cannot validate URIs")
	}
	// Stricter than upstream, which never checks the CSR's self-signature:
	// a CSR not signed by its own key is refused.
	if err := csr.CheckSignature(); err != nil {
		return fmt.Errorf("invalid CSR signature: %w", err)
	}
	return nil
}
