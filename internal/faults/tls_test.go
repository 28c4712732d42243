package faults

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"testing"
	"time"
)

// tlsExchange handshakes with s as a client trusting ca, sends one request
// and reads the response head, returning the first error.
func tlsExchange(s *Server, ca *CA, clientCert *tls.Certificate) (*http.Response, error) {
	cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
	if clientCert != nil {
		cfg.Certificates = []tls.Certificate{*clientCert}
	}
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: testTimeout}, Config: cfg}
	c, err := dialer.Dial("tcp", s.Addr())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(c, get("/")); err != nil {
		return nil, err
	}
	return http.ReadResponse(bufio.NewReader(c), nil)
}

// remoteAlert returns the alert a crypto/tls client received from its peer.
// crypto/tls reports it as a net.OpError with Op "remote error" whose Err is
// an unexported uint8 type, so the value is read by reflection.
func remoteAlert(err error) (uint8, bool) {
	var opErr *net.OpError
	if !errors.As(err, &opErr) || opErr.Op != "remote error" {
		return 0, false
	}
	v := reflect.ValueOf(opErr.Err)
	if v.Kind() != reflect.Uint8 {
		return 0, false
	}
	return uint8(v.Uint()), true
}

// TLS alert numbers, RFC 8446 §6.
const (
	alertProtocolVersion     = 70
	alertCertificateRequired = 116
)

func TestTLSFaults(t *testing.T) {
	ca, err := NewCA("portico test CA")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		fault TLSFault
		check func(t *testing.T, s *Server, err error)
	}{
		{ValidCert, func(t *testing.T, _ *Server, err error) {
			if err != nil {
				t.Errorf("error %v, want none", err)
			}
		}},
		{UntrustedCert, wantUnknownAuthority},
		{IncompleteChain, wantUnknownAuthority},
		{ExpiredCert, func(t *testing.T, s *Server, err error) {
			wantInvalid(t, err, x509.Expired)
			if !s.Certificate().NotAfter.Before(time.Now()) {
				t.Errorf("NotAfter %v is not in the past", s.Certificate().NotAfter)
			}
		}},
		{NotYetValidCert, func(t *testing.T, s *Server, err error) {
			wantInvalid(t, err, x509.Expired)
			if !s.Certificate().NotBefore.After(time.Now()) {
				t.Errorf("NotBefore %v is not in the future", s.Certificate().NotBefore)
			}
		}},
		{WrongName, func(t *testing.T, _ *Server, err error) {
			var hostErr x509.HostnameError
			if !errors.As(err, &hostErr) || hostErr.Host != "localhost" {
				t.Errorf("error %v, want x509.HostnameError for localhost", err)
			}
		}},
		{RequireClientCert, wantAlert(alertCertificateRequired)},
		{VersionMismatch, wantAlert(alertProtocolVersion)},
		{PlainHTTPOnTLSPort, func(t *testing.T, _ *Server, err error) {
			var recErr tls.RecordHeaderError
			if !errors.As(err, &recErr) {
				t.Errorf("error %v, want tls.RecordHeaderError", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fault.String(), func(t *testing.T) {
			s, err := StartTLS(tt.fault, ca)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			resp, err := tlsExchange(s, ca, nil)
			if err == nil && resp.StatusCode != http.StatusOK {
				t.Errorf("status %d, want 200", resp.StatusCode)
			}
			tt.check(t, s, err)
		})
	}
}

func wantUnknownAuthority(t *testing.T, _ *Server, err error) {
	t.Helper()
	var authErr x509.UnknownAuthorityError
	if !errors.As(err, &authErr) {
		t.Errorf("error %v, want x509.UnknownAuthorityError", err)
	}
}

func wantInvalid(t *testing.T, err error, reason x509.InvalidReason) {
	t.Helper()
	var invalid x509.CertificateInvalidError
	if !errors.As(err, &invalid) || invalid.Reason != reason {
		t.Errorf("error %v, want x509.CertificateInvalidError with reason %d", err, reason)
	}
}

func wantAlert(want uint8) func(*testing.T, *Server, error) {
	return func(t *testing.T, _ *Server, err error) {
		t.Helper()
		if got, ok := remoteAlert(err); !ok || got != want {
			t.Errorf("error %v, want remote alert %d", err, want)
		}
	}
}

func TestRequireClientCertAcceptsIssuedCert(t *testing.T) {
	ca, err := NewCA("portico test CA")
	if err != nil {
		t.Fatal(err)
	}
	s, err := StartTLS(RequireClientCert, ca)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cert, err := ca.Issue(LeafOptions{DNSNames: []string{"client.test"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tlsExchange(s, ca, &cert)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d", resp.StatusCode)
	}
}

func TestCAWritePEM(t *testing.T) {
	ca, err := NewCA("portico test CA")
	if err != nil {
		t.Fatal(err)
	}
	path, err := ca.WritePEM(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatalf("%s holds no certificate", path)
	}
	if !pool.Equal(ca.Pool()) {
		t.Error("written PEM differs from Pool")
	}
}

func TestIssueKeepsValidityToTheSecond(t *testing.T) {
	ca, err := NewCA("portico test CA")
	if err != nil {
		t.Fatal(err)
	}
	notBefore := time.Date(2020, 1, 2, 3, 4, 5, 600, time.UTC)
	notAfter := time.Date(2021, 1, 2, 3, 4, 5, 0, time.UTC)
	cert, err := ca.Issue(LeafOptions{NotBefore: notBefore, NotAfter: notAfter})
	if err != nil {
		t.Fatal(err)
	}
	if !cert.Leaf.NotBefore.Equal(notBefore.Truncate(time.Second)) || !cert.Leaf.NotAfter.Equal(notAfter) {
		t.Errorf("validity %v – %v", cert.Leaf.NotBefore, cert.Leaf.NotAfter)
	}
}
