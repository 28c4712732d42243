package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/portico-proxy/portico/internal/failure"
)

// dial opens a connection to the endpoint: it resolves the host, connects to
// each address in turn until one answers, and runs the TLS handshake for
// https targets. Every error is a *failure.Error of the class the taxonomy
// gives the first failing step.
func (e *Endpoint) dial(ctx context.Context) (net.Conn, error) {
	if e.timeouts.Connect > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.timeouts.Connect)
		defer cancel()
	}
	addrs, err := e.addrs(ctx)
	if err != nil {
		return nil, e.annotate(err, false)
	}
	if len(addrs) == 0 {
		return nil, e.annotate(failure.Newf(failure.DNSError, failure.PhaseResolve, "no addresses for "+e.host), false)
	}
	var conn net.Conn
	var firstErr error
	var prohibited netip.Addr
	var prohibitedBy netip.Prefix
	tried := false
	for _, a := range addrs {
		if network, denied := e.prohibitedNetwork(a); denied {
			if !prohibited.IsValid() {
				prohibited, prohibitedBy = a, network
			}
			continue
		}
		tried = true
		conn, err = e.dialer.DialContext(ctx, "tcp", netip.AddrPortFrom(a, e.port).String())
		if err == nil {
			break
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	if !tried {
		return nil, e.annotate(e.prohibitedFailure(prohibited, prohibitedBy, len(addrs)), false)
	}
	if conn == nil {
		return nil, e.annotate(classifyDial(firstErr), false)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		// Small requests and response heads must not wait for Nagle.
		_ = tc.SetNoDelay(true)
	}
	if e.tls == nil {
		return conn, nil
	}
	tlsConn := tls.Client(conn, e.tls)
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, e.annotate(classifyHandshake(err), false)
	}
	return tlsConn, nil
}

// ClassifyDial returns the failure the proxy reports for a TCP connect
// error, so that portico diagnose names a failure exactly as a proxied
// request meeting it would.
func ClassifyDial(err error) *failure.Error { return classifyDial(err) }

// ClassifyHandshake returns the failure the proxy reports for a TLS
// handshake error.
func ClassifyHandshake(err error) *failure.Error { return classifyHandshake(err) }

// ClassifyWrite returns the failure the proxy reports for an error
// writing a request to an upstream.
func ClassifyWrite(err error) *failure.Error {
	fe, _ := failure.As(writeFailure(err))
	return fe
}

// ClassifyHeadRead returns the failure the proxy reports for an error
// reading a response head, typed by h1 or not.
func ClassifyHeadRead(err error) *failure.Error {
	fe, _ := failure.As(headFailure(err))
	return fe
}

// prohibitedNetwork returns the target_policy.deny network holding a, if
// any. An IPv4-mapped IPv6 address is an IPv4 address on the wire, so it is
// checked as one: "::ffff:169.254.169.254" must not slip past
// "169.254.0.0/16".
func (e *Endpoint) prohibitedNetwork(a netip.Addr) (netip.Prefix, bool) {
	a = a.Unmap()
	for _, n := range e.prohibited {
		if n.Contains(a) {
			return n, true
		}
	}
	return netip.Prefix{}, false
}

// prohibitedFailure explains a target none of whose addresses may be
// dialled; it names the first one and the rule that denies it.
func (e *Endpoint) prohibitedFailure(a netip.Addr, by netip.Prefix, count int) *failure.Error {
	rule := "target_policy.deny " + by.String()
	details := a.String() + " is in " + rule
	if _, err := netip.ParseAddr(e.host); err != nil {
		details = e.host + " resolved to " + a.String() + ", which is in " + rule
		if count > 1 {
			details += " (all " + strconv.Itoa(count) + " of its addresses are denied)"
		}
	}
	return failure.Newf(failure.DestinationIPProhibited, failure.PhaseConnect, details)
}

// classifyDial maps a TCP connect error to its class.
func classifyDial(err error) *failure.Error {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return failure.New(failure.ConnectionRefused, failure.PhaseConnect, err)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EADDRNOTAVAIL):
		return failure.New(failure.DestinationIPUnroutable, failure.PhaseConnect, err)
	case isTimeout(err):
		return failure.New(failure.ConnectionTimeout, failure.PhaseConnect, err)
	}
	return failure.New(failure.ConnectionRefused, failure.PhaseConnect, err)
}

// classifyHandshake maps a TLS handshake error to its class: certificate
// problems, alerts the upstream sent, and everything else that is not TLS.
func classifyHandshake(err error) *failure.Error {
	var (
		unknownAuthority x509.UnknownAuthorityError
		invalid          x509.CertificateInvalidError
		hostname         x509.HostnameError
		record           tls.RecordHeaderError
	)
	switch {
	case isTimeout(err):
		return failure.New(failure.ConnectionTimeout, failure.PhaseTLS, err)
	case errors.As(err, &unknownAuthority):
		fe := failure.New(failure.TLSCertificateError, failure.PhaseTLS, err)
		fe.Details = "certificate signed by unknown authority"
		if c := unknownAuthority.Cert; c != nil {
			fe.Details += " (issuer " + c.Issuer.String() + ")"
		}
		return fe
	case errors.As(err, &invalid):
		fe := failure.New(failure.TLSCertificateError, failure.PhaseTLS, err)
		fe.Details = certificateInvalidDetails(invalid)
		return fe
	case errors.As(err, &hostname):
		fe := failure.New(failure.TLSCertificateError, failure.PhaseTLS, err)
		fe.Details = hostname.Error()
		return fe
	case isRemoteAlert(err):
		return alertFailure(err, failure.PhaseTLS)
	case errors.As(err, &record):
		fe := failure.New(failure.TLSProtocolError, failure.PhaseTLS, err)
		if looksLikeHTTP(record.RecordHeader[:]) {
			fe.Details = "upstream answered in plain HTTP on a TLS port"
		}
		return fe
	}
	return failure.New(failure.TLSProtocolError, failure.PhaseTLS, err)
}

func certificateInvalidDetails(err x509.CertificateInvalidError) string {
	c := err.Cert
	switch {
	case err.Reason == x509.Expired && c != nil && time.Now().After(c.NotAfter):
		return "certificate expired on " + c.NotAfter.UTC().Format(time.RFC3339)
	case err.Reason == x509.Expired && c != nil:
		return "certificate is not valid before " + c.NotBefore.UTC().Format(time.RFC3339)
	}
	return err.Error()
}

// remoteAlert returns the TLS alert the upstream sent, if err is one.
//
// crypto/tls reports a peer's alert as a *net.OpError with Op "remote
// error" wrapping an unexported uint8 type (tls.AlertError is only used
// for QUIC), so this is the one place that reads it by its kind. The
// alert's text comes from the same value: "tls: " and the RFC 8446 §6
// description.
func remoteAlert(err error) (id uint8, name string, ok bool) {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" || op.Err == nil {
		return 0, "", false
	}
	v := reflect.ValueOf(op.Err)
	if v.Kind() != reflect.Uint8 {
		return 0, "", false
	}
	return uint8(v.Uint()), strings.TrimPrefix(op.Err.Error(), "tls: "), true
}

func isRemoteAlert(err error) bool {
	_, _, ok := remoteAlert(err)
	return ok
}

// alertFailure records a TLS alert the upstream sent. RFC 9209 §2.3.12
// carries its numeric id and its name.
func alertFailure(err error, p failure.Phase) *failure.Error {
	id, name, _ := remoteAlert(err)
	fe := failure.New(failure.TLSAlertReceived, p, err)
	fe.Params = append(fe.Params,
		failure.IntParam("alert-id", int64(id)),
		failure.StringParam("alert-message", name))
	fe.Details = "upstream sent TLS alert " + strconv.Itoa(int(id)) + " (" + name + ")"
	return fe
}

func looksLikeHTTP(b []byte) bool {
	return len(b) >= 4 && string(b[:4]) == "HTTP"
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isConnectionLoss(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed)
}

// annotate fills in where a failure happened.
func (e *Endpoint) annotate(err error, written bool) *failure.Error {
	fe, ok := failure.As(err)
	if !ok {
		fe = failure.New(failure.ProxyInternalError, failure.PhaseInternal, fmt.Errorf("unclassified transport error: %w", err))
	}
	fe.Upstream = e.upstream
	fe.Target = e.name
	fe.RequestWritten = fe.RequestWritten || written
	return fe
}
