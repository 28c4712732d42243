package diagnose

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/transport"
)

// tls runs the handshake with the proxy's client settings on the
// connection, classifies a failure with the proxy's rules and names the
// check that failed; on success it records the session and warns of
// certificates about to expire.
func (c *check) tls(ctx context.Context) bool {
	if !c.t.TLS {
		return true
	}
	cfg := c.d.tlsConfig(c.t)
	step := &TLSStep{Step: newStep(), ServerName: cfg.ServerName, Chain: []Certificate{}}
	c.r.TLS = step
	start := time.Now()
	defer func() { step.Duration = Millis(time.Since(start)) }()

	handshakeCtx, cancel := context.WithTimeout(ctx, c.d.opts.TLSTimeout)
	defer cancel()
	conn := tls.Client(c.conn, cfg)
	if err := conn.HandshakeContext(handshakeCtx); err != nil {
		step.fail(transport.ClassifyHandshake(err))
		explainHandshake(step, err)
		return false
	}
	c.conn = conn

	state := conn.ConnectionState()
	step.Version = tls.VersionName(state.Version)
	step.Cipher = tls.CipherSuiteName(state.CipherSuite)
	step.ALPN = state.NegotiatedProtocol
	step.Chain = describeChain(state.PeerCertificates)
	if step.ALPN == "" {
		step.note("the server negotiated no ALPN protocol; HTTP/1.1 is assumed, as portico does")
	}
	now := time.Now()
	for i, cert := range state.PeerCertificates {
		left := cert.NotAfter.Sub(now)
		if left < c.d.opts.ExpiryWarning {
			step.warn(fmt.Sprintf("%s %q expires on %s, in %s",
				chainRole(i, cert), cert.Subject.String(), formatDate(cert.NotAfter), formatDays(left)))
		}
	}
	return true
}

// explainHandshake names the check a failed handshake failed and keeps the
// chain the server sent, which crypto/tls hands over with a verification
// error.
func explainHandshake(step *TLSStep, err error) {
	var verification *tls.CertificateVerificationError
	if errors.As(err, &verification) {
		step.Chain = describeChain(verification.UnverifiedCertificates)
	}
	var (
		invalid   x509.CertificateInvalidError
		hostname  x509.HostnameError
		authority x509.UnknownAuthorityError
		record    tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &invalid):
		step.Check = CheckOtherCertificate
		if invalid.Reason == x509.Expired && invalid.Cert != nil {
			step.Check = CheckExpired
			if time.Now().Before(invalid.Cert.NotBefore) {
				step.Check = CheckNotYetValid
			}
		}
		if verification != nil {
			step.FailedCertificate = certIndex(verification.UnverifiedCertificates, invalid.Cert)
		}
	case errors.As(err, &hostname):
		step.Check = CheckNameMismatch
		step.FailedCertificate = new(int)
	case errors.As(err, &authority) && verification != nil:
		step.Check, step.FailedCertificate = untrustedChain(verification.UnverifiedCertificates)
	case step.Failure.Class == failure.TLSAlertReceived:
		step.Check = CheckAlert
	case errors.As(err, &record) && bytes.HasPrefix(record.RecordHeader[:], []byte("HTTP")):
		step.Check = CheckPlainHTTP
	default:
		step.Check = CheckHandshake
	}
}

// untrustedChain tells why a chain leads to no trusted root. It follows
// the chain as sent from the leaf to the last certificate whose issuer the
// server also sent. If that one is self-signed, the server sent its root
// and the root is not trusted (or the leaf is self-signed). Otherwise its
// issuer was not sent and is not trusted: an incomplete chain when the
// certificate says where its issuer can be fetched (Authority Information
// Access, which public CAs always set), else an issuer unknown here, which
// may be a missing intermediate as much as a private CA not trusted.
func untrustedChain(sent []*x509.Certificate) (check string, index *int) {
	if len(sent) == 0 {
		return CheckUnknownIssuer, nil
	}
	top := 0
	// Each step moves to another certificate, so len(sent)-1 steps reach
	// the end of any chain, and a loop in a hostile one ends too.
	for range len(sent) - 1 {
		next := issuerIndex(sent, top)
		if next < 0 || selfSigned(sent[top]) {
			break
		}
		top = next
	}
	switch {
	case selfSigned(sent[top]) && top == 0:
		return CheckSelfSigned, &top
	case selfSigned(sent[top]):
		return CheckUntrustedRoot, &top
	case len(sent[top].IssuingCertificateURL) > 0:
		return CheckIncompleteChain, &top
	}
	return CheckUnknownIssuer, &top
}

// issuerIndex returns the index in sent of the certificate that signed
// sent[i], or -1.
func issuerIndex(sent []*x509.Certificate, i int) int {
	for j, cand := range sent {
		if j != i && bytes.Equal(sent[i].RawIssuer, cand.RawSubject) && sent[i].CheckSignatureFrom(cand) == nil {
			return j
		}
	}
	return -1
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

func certIndex(chain []*x509.Certificate, c *x509.Certificate) *int {
	for i, cand := range chain {
		if cand.Equal(c) {
			return &i
		}
	}
	return nil
}

func describeChain(certs []*x509.Certificate) []Certificate {
	out := make([]Certificate, 0, len(certs))
	for _, c := range certs {
		d := Certificate{
			Subject:     c.Subject.String(),
			Issuer:      c.Issuer.String(),
			DNSNames:    append([]string{}, c.DNSNames...),
			IPAddresses: []string{},
			NotBefore:   c.NotBefore.UTC(),
			NotAfter:    c.NotAfter.UTC(),
			IsCA:        c.IsCA,
		}
		for _, ip := range c.IPAddresses {
			d.IPAddresses = append(d.IPAddresses, ip.String())
		}
		out = append(out, d)
	}
	return out
}

// chainRole names a certificate by its place in the chain.
func chainRole(i int, c *x509.Certificate) string {
	switch {
	case i == 0:
		return "the server's certificate"
	case selfSigned(c):
		return "the root certificate"
	}
	return "the intermediate certificate"
}

func formatDate(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// formatDays says how far away a moment is, in whole days once it is a
// day or more away.
func formatDays(d time.Duration) string {
	switch days := int(d.Hours() / 24); {
	case d < 0:
		return "the past"
	case days == 1:
		return "1 day"
	case days > 1:
		return fmt.Sprintf("%d days", days)
	}
	return "less than a day"
}
