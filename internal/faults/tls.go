package faults

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"
)

// CA is a certificate authority held in memory, for servers whose trust a
// test or the demo controls.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// caLifetime is how long a CA made by NewCA is valid; the demo may run for
// days, tests for seconds.
const caLifetime = 365 * 24 * time.Hour

// NewCA generates a self-signed ECDSA P-256 root named name.
func NewCA(name string) (*CA, error) {
	return newCA(name, nil)
}

// newCA generates a CA signed by parent, or a self-signed root if parent is
// nil.
func newCA(name string, parent *CA) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate %q: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{
		cert: cert,
		key:  key,
		pem:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}, nil
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

// Certificate returns the CA's own certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// PEM returns the CA certificate PEM-encoded, as a ca_file holds it.
func (ca *CA) PEM() []byte { return ca.pem }

// WritePEM writes the CA certificate to a new file in dir and returns its
// path.
func (ca *CA) WritePEM(dir string) (path string, err error) {
	f, err := os.CreateTemp(dir, "ca-*.pem")
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if _, err := f.Write(ca.pem); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// Pool returns a pool holding only this CA, for tls.Config.RootCAs or
// ClientCAs.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return pool
}

// LeafOptions describe a certificate for CA.Issue.
type LeafOptions struct {
	// DNSNames and IPAddresses are the subject alternative names.
	DNSNames    []string
	IPAddresses []net.IP
	// NotBefore and NotAfter bound the validity. Defaults: an hour ago and
	// a day from now. Certificates store whole seconds, so both are
	// truncated to the second; read the issued certificate for exact values.
	NotBefore time.Time
	NotAfter  time.Time
}

// Issue signs a leaf certificate usable for both server and client
// authentication. The returned certificate's Leaf is set, and its chain
// holds only the leaf.
func (ca *CA) Issue(o LeafOptions) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := serialNumber()
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	if o.NotBefore.IsZero() {
		o.NotBefore = now.Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = now.Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "portico fault server"},
		DNSNames:     o.DNSNames,
		IPAddresses:  o.IPAddresses,
		NotBefore:    o.NotBefore.Truncate(time.Second),
		NotAfter:     o.NotAfter.Truncate(time.Second),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// TLSFault is what is wrong with a server started by StartTLS.
type TLSFault uint8

// The TLS faults. Every server that completes a handshake answers like OK.
const (
	// ValidCert serves a certificate from the CA for "localhost", 127.0.0.1
	// and ::1: nothing is wrong.
	ValidCert TLSFault = iota
	// UntrustedCert serves a certificate from a different, unrelated CA.
	UntrustedCert
	// ExpiredCert serves a certificate whose NotAfter is a day in the past.
	ExpiredCert
	// NotYetValidCert serves a certificate whose NotBefore is a day ahead.
	NotYetValidCert
	// WrongName serves a certificate for "other.example" only.
	WrongName
	// RequireClientCert demands a client certificate issued by the CA; a
	// client without one gets a certificate_required (TLS 1.3) or
	// bad_certificate alert.
	RequireClientCert
	// VersionMismatch only accepts TLS 1.0 and 1.1, which modern clients do
	// not offer, so the handshake ends in a protocol_version alert.
	VersionMismatch
	// PlainHTTPOnTLSPort is a plain HTTP server behind an https:// URL.
	PlainHTTPOnTLSPort
	// IncompleteChain serves a leaf signed by an intermediate of the CA but
	// leaves the intermediate out of the handshake.
	IncompleteChain

	numTLSFaults
)

var tlsFaultNames = [numTLSFaults]string{
	ValidCert:          "valid-cert",
	UntrustedCert:      "untrusted-cert",
	ExpiredCert:        "expired-cert",
	NotYetValidCert:    "not-yet-valid-cert",
	WrongName:          "wrong-name",
	RequireClientCert:  "require-client-cert",
	VersionMismatch:    "version-mismatch",
	PlainHTTPOnTLSPort: "plain-http-on-tls-port",
	IncompleteChain:    "incomplete-chain",
}

// String returns the fault's name.
func (f TLSFault) String() string {
	if f < numTLSFaults {
		return tlsFaultNames[f]
	}
	return fmt.Sprintf("tls-fault(%d)", uint8(f))
}

// StartTLS starts an HTTPS server on 127.0.0.1 with fault f, its certificate
// issued by ca unless the fault says otherwise.
func StartTLS(f TLSFault, ca *CA) (*Server, error) {
	return StartTLSWith(f, ca, Options{})
}

// StartTLSWith is StartTLS tuned by o.
func StartTLSWith(f TLSFault, ca *CA, o Options) (*Server, error) {
	cfg, err := tlsConfig(f, ca)
	if err != nil {
		return nil, err
	}
	ln, err := listenLoopback(o.IPv6)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return serve(ln, OK, o, "https", nil), nil
	}
	return serve(tls.NewListener(ln, cfg), OK, o, "https", cfg.Certificates[0].Leaf), nil
}

// Certificate returns the leaf certificate the server presents, so tests can
// assert on its exact validity period, or nil for a server without TLS.
func (s *Server) Certificate() *x509.Certificate { return s.cert }

// tlsConfig returns the server configuration for f, or nil if f serves
// plain HTTP.
func tlsConfig(f TLSFault, ca *CA) (*tls.Config, error) {
	loopback := LeafOptions{
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	issuer := ca
	cfg := &tls.Config{}
	now := time.Now()
	switch f {
	case ValidCert:
	case UntrustedCert:
		other, err := NewCA("portico untrusted CA")
		if err != nil {
			return nil, err
		}
		issuer = other
	case ExpiredCert:
		loopback.NotBefore, loopback.NotAfter = now.Add(-48*time.Hour), now.Add(-24*time.Hour)
	case NotYetValidCert:
		loopback.NotBefore, loopback.NotAfter = now.Add(24*time.Hour), now.Add(48*time.Hour)
	case WrongName:
		loopback = LeafOptions{DNSNames: []string{"other.example"}}
	case RequireClientCert:
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = ca.Pool()
	case VersionMismatch:
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	case PlainHTTPOnTLSPort:
		return nil, nil
	case IncompleteChain:
		intermediate, err := newCA("portico intermediate CA", ca)
		if err != nil {
			return nil, err
		}
		issuer = intermediate
	default:
		return nil, fmt.Errorf("unknown TLS fault %d", uint8(f))
	}
	cert, err := issuer.Issue(loopback)
	if err != nil {
		return nil, err
	}
	cfg.Certificates = []tls.Certificate{cert}
	return cfg, nil
}
