package diagnose

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/h1"
	"github.com/portico-proxy/portico/internal/respond"
)

// verdict names the first broken step's failure in one sentence, with the
// next step to take: the article's troubleshooting list, made specific
// with the facts the steps found.
func (c *check) verdict() Verdict {
	var v Verdict
	var failed *namedStep
	for _, s := range c.r.steps() {
		v.Warnings += len(s.Warnings)
		if s.Status == StatusFailed && failed == nil {
			failed = &s
		}
	}
	if failed == nil {
		h := c.r.HTTP
		v.Healthy = true
		v.Summary = fmt.Sprintf("answered %d %s; every step passed", h.StatusCode, h.Reason)
		switch v.Warnings {
		case 0:
		case 1:
			v.Summary += ", with 1 warning"
			v.Next = "fix the warning above before it turns into failures"
		default:
			v.Summary += fmt.Sprintf(", with %d warnings", v.Warnings)
			v.Next = "fix the warnings above before they turn into failures"
		}
		return v
	}
	v.Step = failed.name
	f := failed.Failure
	if f == nil {
		// Only the HTTP step fails without a class: the server's own 5xx.
		c.serverError(&v)
		return v
	}
	v.Type, v.Status = f.Type, f.Status
	v.Explanation = respond.Explain(f.Class)
	switch v.Step {
	case "dns":
		v.Summary, v.Next = c.dnsVerdict(f)
	case "tcp":
		v.Summary, v.Next = c.tcpVerdict(f)
	case "tls":
		v.Summary, v.Next = c.tlsVerdict(f)
	case "http":
		v.Summary, v.Next = c.httpVerdict(f)
	case "keep_alive":
		v.Summary, v.Next = c.keepAliveVerdict()
	}
	return v
}

func (c *check) dnsVerdict(f *Failure) (summary, next string) {
	host := c.t.Host
	if f.Class == failure.DNSTimeout {
		return fmt.Sprintf("no DNS server answered for %s within %s (%s)", host, c.d.opts.DNSTimeout, f.Details),
			"check that the DNS servers are up and reachable on port 53, UDP and TCP (dig " + host + "), or name a working one with --resolver"
	}
	switch rcode := f.Param("rcode"); rcode {
	case "NXDOMAIN":
		return fmt.Sprintf("the name %s does not exist (%s)", host, f.Details),
			"check the host name for typos; if it is right, create its A or AAAA record, then check with: dig " + host
	case "NOERROR":
		return fmt.Sprintf("%s exists but has no A or AAAA record (%s)", host, f.Details),
			"add an A or AAAA record for " + host + ", or use a name that has one"
	case "SERVFAIL":
		return fmt.Sprintf("the DNS server failed to resolve %s (%s)", host, f.Details),
			"the resolver could not get an answer from the zone's own servers: check they are up and, if the zone is signed, its DNSSEC (dig " + host + " +dnssec)"
	case "REFUSED":
		return fmt.Sprintf("the DNS server refused to resolve %s (%s)", host, f.Details),
			"this server does not answer for you: name one that does with --resolver, or fix its access rules"
	case "":
		return fmt.Sprintf("the DNS lookup of %s failed: %s", host, f.Details),
			"check that the DNS servers in /etc/resolv.conf (or --resolver) are running and reachable"
	default:
		return fmt.Sprintf("the DNS server answered %s for %s (%s)", rcode, host, f.Details),
			"check the DNS server's logs for why it answers " + rcode
	}
}

func (c *check) tcpVerdict(f *Failure) (summary, next string) {
	addr := c.r.TCP.Attempts[0].Address
	switch f.Class {
	case failure.ConnectionRefused:
		return fmt.Sprintf("%s refused the connection: nothing listens on port %d", addr, c.t.Port),
			fmt.Sprintf("start the service on %s or fix the port in the target; on that host, ss -ltnp lists the ports in use", c.t.Host)
	case failure.ConnectionTimeout:
		return fmt.Sprintf("%s did not accept a connection within %s", addr, c.d.opts.ConnectTimeout),
			fmt.Sprintf("a firewall or security group drops packets to port %d, or the host is down: check the rules between portico and %s", c.t.Port, c.t.Host)
	case failure.DestinationIPUnroutable:
		return fmt.Sprintf("there is no route to %s (%s)", addr, f.Details),
			"check the address and the routing from this machine to it (ip route get " + c.r.DNS.Addresses[0] + ")"
	}
	return fmt.Sprintf("connecting to %s failed: %s", addr, f.Details), errorsDocNext(f)
}

func (c *check) tlsVerdict(f *Failure) (summary, next string) {
	step := c.r.TLS
	name := step.ServerName
	var cert Certificate
	if i := step.FailedCertificate; i != nil && *i < len(step.Chain) {
		cert = step.Chain[*i]
	}
	whose := "the certificate of " + name
	if i := step.FailedCertificate; i != nil && *i > 0 {
		whose = fmt.Sprintf("the certificate %q that %s sends", cert.Subject, name)
	}
	switch step.Check {
	case CheckExpired:
		return fmt.Sprintf("%s expired on %s", whose, formatDate(cert.NotAfter)),
			fmt.Sprintf("the certificate expired on %s; renew it on %s and reload the server", formatDate(cert.NotAfter), name)
	case CheckNotYetValid:
		return fmt.Sprintf("%s is not valid before %s", whose, formatDate(cert.NotBefore)),
			fmt.Sprintf("check the clocks of this machine and of %s; if both are right, the certificate was issued for the future: reissue it", name)
	case CheckNameMismatch:
		covered := coveredNames(step.Chain)
		return fmt.Sprintf("the certificate of %s covers %s, not %s", c.t.Addr(), joinOr(covered), name),
			fmt.Sprintf("reissue the certificate to cover %s, or set tls.server_name (--server-name) to a name it covers", name)
	case CheckSelfSigned:
		return fmt.Sprintf("%s presents a self-signed certificate (%s) that is not trusted", name, cert.Subject),
			"trust it explicitly with tls.ca_file (--ca FILE holding it), or serve a certificate from a trusted CA"
	case CheckUntrustedRoot:
		return fmt.Sprintf("the chain %s sends ends at the root %q, which is not trusted", name, cert.Subject),
			"add that root to tls.ca_file (--ca FILE), or serve a chain that leads to a trusted root"
	case CheckIncompleteChain:
		return fmt.Sprintf("%s does not send the intermediate certificate %q that signed %q", name, cert.Issuer, cert.Subject),
			fmt.Sprintf("configure %s to send its full chain: its own certificate followed by the intermediates", name)
	case CheckUnknownIssuer:
		return fmt.Sprintf("%s is signed by %q, which %s does not send and which is not trusted", whose, cert.Issuer, name),
			fmt.Sprintf("if %q is an intermediate CA, configure %s to send it after its own certificate (an incomplete chain); if it is your private CA, trust it with tls.ca_file (--ca FILE)", cert.Issuer, name)
	case CheckAlert:
		return fmt.Sprintf("%s aborted the TLS handshake with alert %s (%s)", name, f.Param("alert-id"), f.Param("alert-message")),
			alertNext(f, name)
	case CheckPlainHTTP:
		return fmt.Sprintf("%s answers in plain HTTP on port %d, not TLS", c.t.Addr(), c.t.Port),
			"use http:// for this target, or enable TLS on the server's port"
	}
	if f.Class == failure.ConnectionTimeout {
		return fmt.Sprintf("the TLS handshake with %s did not finish within %s", c.t.Addr(), c.d.opts.TLSTimeout),
			"the server accepted the connection but never completed the handshake: check that the port serves TLS and that the server is not overloaded"
	}
	return fmt.Sprintf("the TLS handshake with %s failed: %s", c.t.Addr(), f.Details),
		fmt.Sprintf("compare with: openssl s_client -connect %s -servername %s", c.t.Addr(), name)
}

// coveredNames lists the names the leaf certificate is valid for.
func coveredNames(chain []Certificate) []string {
	if len(chain) == 0 {
		return []string{"no name"}
	}
	names := append(append([]string{}, chain[0].DNSNames...), chain[0].IPAddresses...)
	if len(names) == 0 {
		return []string{"no name (no subject alternative names)"}
	}
	return names
}

// TLS alert numbers (RFC 8446 §6) that call for specific advice.
const (
	alertHandshakeFailure    = "40"
	alertBadCertificate      = "42"
	alertProtocolVersion     = "70"
	alertUnrecognizedName    = "112"
	alertCertificateRequired = "116"
)

func alertNext(f *Failure, name string) string {
	switch f.Param("alert-id") {
	case alertProtocolVersion:
		return "the server accepts none of portico's TLS versions (1.2 and 1.3): enable TLS 1.2 or 1.3 on it"
	case alertCertificateRequired, alertBadCertificate:
		return "the server demands a client certificate, and portico sends none: exempt portico's addresses from client-certificate authentication"
	case alertHandshakeFailure:
		return "the server and portico share no cipher suite, or the server rejects the name " + name + ": compare the server's TLS settings with TLS 1.2/1.3 defaults"
	case alertUnrecognizedName:
		return "the server has no certificate for " + name + ": set tls.server_name (--server-name) to a name it serves"
	}
	return "the server's TLS log says why it sent " + f.Param("alert-message")
}

func (c *check) httpVerdict(f *Failure) (summary, next string) {
	addr := c.r.TCP.Connected
	switch f.Class {
	case failure.ConnectionTerminated:
		return fmt.Sprintf("%s closed the connection without sending a response", addr),
			"check the server's logs for a crash or a refused request at this time; a server that expects TLS also hangs up on plain HTTP"
	case failure.ConnectionReadTimeout:
		if c.r.HTTP.StatusCode != 0 {
			return fmt.Sprintf("the response body from %s stalled for longer than %s", addr, c.d.opts.HTTPTimeout),
				"the application stopped writing mid-response: check its logs and load"
		}
		return fmt.Sprintf("%s accepted the request but sent no response within %s", addr, c.d.opts.HTTPTimeout),
			"the application is stuck or overloaded: check its logs and load; if it is merely slow, raise timeouts.response_header"
	case failure.HTTPProtocolError:
		return fmt.Sprintf("the response from %s is not valid HTTP/1.1: %s", addr, f.Details),
			"fix the server, or whatever sits in front of it, to send valid HTTP/1.1 (portico refuses such answers rather than guess); if the port serves another protocol (TLS, HTTP/2 alone), point the target at the right one"
	case failure.HTTPResponseHeaderSectionSize:
		return fmt.Sprintf("the response headers from %s exceed portico's limit of %s bytes", addr, f.Param("header-section-size")),
			"trim the response headers (large cookies are the usual cause), or raise limits.response_header_section_bytes"
	case failure.HTTPResponseHeaderSize:
		return fmt.Sprintf("the response header %q from %s is longer than portico's limit of %d bytes per line", f.Param("header-name"), addr, c.d.proxy.headerLine()),
			"shrink that header, or raise limits.response_header_bytes"
	case failure.HTTPResponseTransferCoding:
		return fmt.Sprintf("%s sends its response in the transfer coding %q, which portico does not decode", addr, f.Param("coding")),
			"have the server frame responses with chunked or Content-Length; compression belongs in Content-Encoding"
	case failure.HTTPResponseIncomplete:
		return fmt.Sprintf("%s stopped in the middle of the response body: %s", addr, f.Details),
			"check the server's logs for a crash, a timeout or a killed worker while it writes responses"
	case failure.TLSAlertReceived:
		// A TLS 1.3 server rejects a client certificate only after the
		// handshake, so its alert arrives with the response.
		return fmt.Sprintf("%s aborted the TLS session with alert %s (%s) when the request arrived", c.r.TLS.ServerName, f.Param("alert-id"), f.Param("alert-message")),
			alertNext(f, c.r.TLS.ServerName)
	}
	return fmt.Sprintf("the exchange with %s failed: %s", addr, f.Details), errorsDocNext(f)
}

// serverError describes a 5xx the server sent itself. portico passes it
// on unchanged (with received-status), so the fault lies behind the
// server: a proxy there may have named it in Proxy-Status, and its
// next-hop says where to look.
func (c *check) serverError(v *Verdict) {
	h := c.r.HTTP
	v.Status = h.StatusCode
	v.Summary = fmt.Sprintf("%s answered %d %s itself", c.r.TCP.Connected, h.StatusCode, h.Reason)
	v.Explanation = http.StatusText(h.StatusCode)
	v.Next = fmt.Sprintf("portico passes this answer on unchanged, with received-status=%d: look in the application's logs on %s", h.StatusCode, c.t.Host)
	for _, m := range h.ProxyStatus {
		if m.Error == "" {
			continue
		}
		v.Summary += fmt.Sprintf("; %s, a proxy behind it, reports %s", m.Name, m.Error)
		hop := m.Params["next-hop"]
		if hop != "" {
			v.Summary += " for " + hop
		}
		if class, ok := failure.ParseClass(m.Error); ok {
			v.Explanation = respond.Explain(class)
			v.Summary += " (" + strings.TrimSuffix(lowerFirst(v.Explanation), ".") + ")"
		}
		v.Next = fmt.Sprintf("the fault lies behind %s: see what %s reaches next and why it meets %s", c.t.Host, m.Name, m.Error)
		if hop != "" {
			v.Next = fmt.Sprintf("the fault lies behind %s, at %s's next hop: check it with portico diagnose http://%s/ (https:// if it serves TLS)", c.t.Host, m.Name, hop)
		}
		return
	}
}

func (c *check) keepAliveVerdict() (summary, next string) {
	k := c.r.KeepAlive
	closedAfter := time.Duration(*k.ClosedAfter)
	closed := formatDuration(closedAfter)
	idle := time.Duration(k.ProxyIdleTimeout)
	upstream := "this target's upstream"
	if c.d.proxy.Upstream != "" {
		upstream = "upstream " + c.d.proxy.Upstream
	}
	summary = fmt.Sprintf("%s closes idle keep-alive connections after %s, sooner than portico stops reusing them (idle_timeout %s): a request sent as one closes fails, and clients see sporadic 502 errors",
		c.r.TCP.Connected, closed, formatIdleTimeout(idle))
	next = fmt.Sprintf("set idle_timeout to %s or less for %s, safely below the server's %s, or raise the server's keep-alive timeout above %s",
		formatSetting(saferIdleTimeout(closedAfter)), upstream, closed, formatIdleTimeout(idle))
	return summary, next
}

// saferIdleTimeout is an idle_timeout comfortably below a server's
// keep-alive timeout: four fifths of it, in whole seconds once it is a
// few seconds long, so that it reads like a value one would configure.
func saferIdleTimeout(serverTimeout time.Duration) time.Duration {
	d := serverTimeout * 4 / 5
	switch {
	case d >= 2*time.Second:
		return d.Truncate(time.Second)
	case d >= 2*time.Millisecond:
		return d.Truncate(time.Millisecond)
	}
	return d
}

// errorsDocNext points at the error type's section in docs/errors.md.
func errorsDocNext(f *Failure) string {
	return "see what " + f.Type + " means and what to do in docs/errors.md#" + f.Type
}

func (p *ProxySettings) headerLine() int {
	if p.Limits.HeaderLine > 0 {
		return p.Limits.HeaderLine
	}
	return h1.DefaultHeaderLine
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
