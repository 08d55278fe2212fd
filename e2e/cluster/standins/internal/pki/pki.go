// Package pki holds the certificate parsing used by the Linkerd stand-ins.
//
// STAND-IN: reimplements the small part of Linkerd's pkg/tls that trust-anchor
// rotation depends on (PEM decoding, key/certificate matching, chain
// verification against a pool of anchors). It is written for this project; no
// upstream code is copied.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// DecodeCertificates parses a PEM text the way Linkerd's pkg/tls/codec.go
// DecodePEMCertificates does (the identity controller reads both the trust
// anchors and the issuer's tls.crt with it), with the same edge cases:
//
//   - text before a block, and between blocks, is skipped (encoding/pem looks
//     for the next BEGIN line);
//   - CRLF line endings are accepted (encoding/pem trims the CR);
//   - encoding/pem consumes the END line and its one line ending; anything
//     left after the last END line (a second newline, a whitespace-only line,
//     a trailing comment) is an error, "not a PEM certificate";
//   - the first block that is not a CERTIFICATE ends the parse silently: it
//     and everything after it (further certificates included) are dropped,
//     with no error;
//   - a CERTIFICATE block whose DER does not parse is an error.
func DecodeCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for len(rest) > 0 {
		block, after := pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("not a PEM certificate: %s", describeTrailing(data, rest))
		}
		if block.Type != "CERTIFICATE" {
			// Upstream's decoder returns no remainder for a non-CERTIFICATE
			// block, so the loop ends here and the rest is never read.
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
		rest = after
	}
	return certs, nil
}

// describeTrailing names the line where unparsable trailing text starts
// (1-based, as an editor counts) without quoting it.
func describeTrailing(all, rest []byte) string {
	offset := len(all) - len(rest)
	line := 1 + bytes.Count(all[:offset], []byte("\n"))
	if len(all) > len(rest) {
		return fmt.Sprintf("%d byte(s) of text follow the last END line (from line %d)", len(rest), line)
	}
	return fmt.Sprintf("no PEM block found (%d byte(s))", len(rest))
}

// DecodeCertPool builds a pool from a PEM bundle; an empty bundle is an error,
// as it is for Linkerd's identity controller.
func DecodeCertPool(data []byte) (*x509.CertPool, []*x509.Certificate, error) {
	certs, err := DecodeCertificates(data)
	if err != nil {
		return nil, nil, err
	}
	if len(certs) == 0 {
		return nil, nil, errors.New("no certificates found")
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, certs, nil
}

// DecodePrivateKey parses the first private key block of a PEM text
// (SEC 1 "EC PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY" or PKCS#8 "PRIVATE KEY").
func DecodePrivateKey(data []byte) (crypto.Signer, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no private key found")
		}
		switch block.Type {
		case "EC PRIVATE KEY":
			return x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			return x509.ParsePKCS1PrivateKey(block.Bytes)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, err
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("unsupported private key type %T", k)
			}
			return s, nil
		}
	}
}

// KeyMatches reports whether the certificate's public key is the key's.
func KeyMatches(key crypto.Signer, cert *x509.Certificate) bool {
	switch pub := key.Public().(type) {
	case *ecdsa.PublicKey:
		return pub.Equal(cert.PublicKey)
	case *rsa.PublicKey:
		return pub.Equal(cert.PublicKey)
	case ed25519.PublicKey:
		return pub.Equal(cert.PublicKey)
	default:
		return false
	}
}

// Cred is a CA certificate, the certificates that followed it in its PEM file
// (leaf-to-root order, as written by cert-manager), and its private key.
type Cred struct {
	Certificate *x509.Certificate
	Chain       []*x509.Certificate
	Key         crypto.Signer
}

// ReadCred reads a certificate file and a key file and checks the key belongs
// to the first certificate.
func ReadCred(crtPath, keyPath string) (*Cred, error) {
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	crtPEM, err := os.ReadFile(crtPath)
	if err != nil {
		return nil, err
	}
	return ParseCred(crtPEM, keyPEM)
}

// ParseCred is ReadCred on in-memory PEM.
func ParseCred(crtPEM, keyPEM []byte) (*Cred, error) {
	key, err := DecodePrivateKey(keyPEM)
	if err != nil {
		return nil, err
	}
	certs, err := DecodeCertificates(crtPEM)
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificates found")
	}
	if !KeyMatches(key, certs[0]) {
		return nil, errors.New("tls: public and private key do not match")
	}
	return &Cred{Certificate: certs[0], Chain: certs[1:], Key: key}, nil
}

// FirstExpiry is the earliest NotAfter of the certificate and its chain.
func (c *Cred) FirstExpiry() time.Time {
	first := c.Certificate.NotAfter
	for _, x := range c.Chain {
		if x.NotAfter.Before(first) {
			first = x.NotAfter
		}
	}
	return first
}

// Verify checks the certificate chains to one of the anchors at the given
// time (zero means now), using the rest of its file as intermediates. Like
// upstream it does not check a DNS name (the issuer is not a leaf) and uses
// crypto/x509's default key usage (server auth).
func (c *Cred) Verify(anchors *x509.CertPool, at time.Time) error {
	inter := x509.NewCertPool()
	for _, x := range c.Chain {
		inter.AddCert(x)
	}
	_, err := c.Certificate.Verify(x509.VerifyOptions{Roots: anchors, Intermediates: inter, CurrentTime: at})
	if err != nil {
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			if at.IsZero() {
				at = time.Now()
			}
			return fmt.Errorf("%w - Current Time : %s - Invalid before %s - Invalid After %s",
				err, at, c.Certificate.NotBefore, c.Certificate.NotAfter)
		}
		return err
	}
	return nil
}
