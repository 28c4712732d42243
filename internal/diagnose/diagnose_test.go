package diagnose_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/portico-proxy/portico/internal/diagnose"
	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/faults"
)

// Short step timeouts keep the tests that wait for one fast.
const (
	stepTimeout  = 2 * time.Second
	shortTimeout = 300 * time.Millisecond
	idleProbe    = 100 * time.Millisecond
)

// options returns options that never touch the machine's own resolver or
// hosts file: names go to dnsServer, or to nothing when it is "".
func options(t *testing.T, dnsServer string) diagnose.Options {
	t.Helper()
	dir := t.TempDir()
	o := diagnose.Options{
		HostsFile:      filepath.Join(dir, "hosts"),
		ResolvConf:     filepath.Join(dir, "resolv.conf"),
		DNSTimeout:     shortTimeout,
		ConnectTimeout: stepTimeout,
		TLSTimeout:     stepTimeout,
		HTTPTimeout:    shortTimeout,
		IdleProbe:      idleProbe,
	}
	if dnsServer != "" {
		o.Resolvers = []string{dnsServer}
	} else {
		// A closed port: nothing may be asked, and nothing answers.
		addr, err := faults.ClosedAddr()
		if err != nil {
			t.Fatal(err)
		}
		o.Resolvers = []string{addr}
	}
	return o
}

// check diagnoses rawURL with o.
func check(t *testing.T, rawURL string, o diagnose.Options) *diagnose.Report {
	t.Helper()
	d, err := diagnose.New(o)
	if err != nil {
		t.Fatal(err)
	}
	target, err := diagnose.ParseTarget(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	r := d.Check(context.Background(), target)
	var out bytes.Buffer
	if err := diagnose.Render(&out, r, diagnose.RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	return r
}

// wantVerdict checks the verdict's error type and the step it names.
func wantVerdict(t *testing.T, r *diagnose.Report, class failure.Class, step string) {
	t.Helper()
	v := r.Verdict
	if v.Healthy || v.Type != class.String() || v.Step != step || v.Status != class.Status() {
		t.Fatalf("verdict healthy=%v %q at %q (status %d), want %s at %q (status %d)",
			v.Healthy, v.Type, v.Step, v.Status, class, step, class.Status())
	}
	if v.Summary == "" || v.Next == "" || v.Explanation == "" {
		t.Errorf("verdict lacks a summary, next step or explanation: %+v", v)
	}
}

func wantContains(t *testing.T, what, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("%s %q lacks %q", what, s, sub)
	}
}

func start(t *testing.T, b faults.Behavior) *faults.Server {
	t.Helper()
	s, err := faults.Start(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestHealthyTarget(t *testing.T) {
	s := start(t, faults.OK)
	r := check(t, s.URL()+"/health", options(t, ""))
	if !r.Verdict.Healthy || r.Verdict.Type != "" || r.Verdict.Warnings != 0 {
		t.Fatalf("verdict %+v, want healthy without warnings", r.Verdict)
	}
	if r.DNS.Source != "literal" || r.TCP.Connected != s.Addr() || r.TLS != nil {
		t.Errorf("dns source %q, connected %q, tls %v", r.DNS.Source, r.TCP.Connected, r.TLS)
	}
	h := r.HTTP
	if h.StatusCode != 200 || h.Request != "GET /health HTTP/1.1" || !h.BodyComplete || h.Framing != "length" {
		t.Errorf("http step %+v", h)
	}
	k := r.KeepAlive
	if k == nil || !k.Reusable || k.ClosedAfter != nil || time.Duration(k.Probe) != idleProbe {
		t.Errorf("keep-alive step %+v, want the connection kept for the probe", k)
	}
}

// TestFailuresOfTheTaxonomy runs diagnose against a server misbehaving in
// each way the failure taxonomy names and checks the verdict's error type.
func TestFailuresOfTheTaxonomy(t *testing.T) {
	tests := []struct {
		behavior faults.Behavior
		class    failure.Class
		step     string
		fact     string // in the verdict's summary
	}{
		{faults.CloseBeforeHead, failure.ConnectionTerminated, "http", "without sending a response"},
		{faults.ResetBeforeHead, failure.ConnectionTerminated, "http", "without sending a response"},
		{faults.Silent, failure.ConnectionReadTimeout, "http", "no response within 300ms"},
		{faults.Garbage, failure.HTTPProtocolError, "http", "HTTP/0.9 or not HTTP"},
		{faults.HTTP09, failure.HTTPProtocolError, "http", "not valid HTTP/1.1"},
		{faults.BadStatusLine, failure.HTTPProtocolError, "http", "status code"},
		{faults.BadHeaderSyntax, failure.HTTPProtocolError, "http", "without a colon"},
		{faults.ObsFold, failure.HTTPProtocolError, "http", "obs-fold"},
		{faults.ConflictingContentLength, failure.HTTPProtocolError, "http", "multiple Content-Length"},
		{faults.ContentLengthWithTransferEncoding, failure.HTTPProtocolError, "http", "both Transfer-Encoding and Content-Length"},
		{faults.UnknownTransferCoding, failure.HTTPResponseTransferCoding, "http", faults.UnknownCoding},
		{faults.HeaderSectionTooLarge, failure.HTTPResponseHeaderSectionSize, "http", "262144 bytes"},
		{faults.HeaderTooLarge, failure.HTTPResponseHeaderSize, "http", `"x-huge"`},
		{faults.TruncatedBody, failure.HTTPResponseIncomplete, "http", "after 10 of 100 bytes"},
		{faults.ResetMidBody, failure.HTTPResponseIncomplete, "http", "middle of the response body"},
		{faults.BadChunk, failure.HTTPResponseIncomplete, "http", "hex digit"},
		{faults.StallMidBody, failure.ConnectionReadTimeout, "http", "stalled for longer than 300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.behavior.String(), func(t *testing.T) {
			s := start(t, tt.behavior)
			o := options(t, "")
			if tt.behavior == faults.HeaderTooLarge {
				// 32 KiB of one field: under the default line limit.
				o.Proxy = diagnose.DefaultSettings()
				o.Proxy.Limits.HeaderLine = 16 << 10
			}
			r := check(t, s.URL()+"/", o)
			wantVerdict(t, r, tt.class, tt.step)
			wantContains(t, "summary", r.Verdict.Summary, tt.fact)
			if r.KeepAlive != nil {
				t.Errorf("keep-alive step ran after a failed HTTP step")
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	addr, err := faults.ClosedAddr()
	if err != nil {
		t.Fatal(err)
	}
	r := check(t, "http://"+addr+"/", options(t, ""))
	wantVerdict(t, r, failure.ConnectionRefused, "tcp")
	_, port, _ := strings.Cut(addr, ":")
	wantContains(t, "summary", r.Verdict.Summary, "nothing listens on port "+port)
	if r.TLS != nil || r.HTTP != nil {
		t.Errorf("steps after the failed connect ran")
	}
}

func TestConnectionTimeout(t *testing.T) {
	u, err := faults.StartUnanswered()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	o := options(t, "")
	o.ConnectTimeout = shortTimeout
	r := check(t, "http://"+u.Addr()+"/", o)
	wantVerdict(t, r, failure.ConnectionTimeout, "tcp")
	wantContains(t, "summary", r.Verdict.Summary, "did not accept a connection within 300ms")
	wantContains(t, "next", r.Verdict.Next, "firewall")
}

func TestOriginAnswers502Itself(t *testing.T) {
	s := start(t, faults.Origin502)
	r := check(t, s.URL()+"/", options(t, ""))
	v := r.Verdict
	if v.Healthy || v.Type != "" || v.Status != 502 || v.Step != "http" {
		t.Fatalf("verdict %+v, want the server's own 502 without a class", v)
	}
	ps := r.HTTP.ProxyStatus
	if len(ps) != 1 || ps[0].Name != "origin" || ps[0].Error != "connection_refused" {
		t.Fatalf("proxy status %+v, want origin's connection_refused", ps)
	}
	wantContains(t, "summary", v.Summary, "origin, a proxy behind it, reports connection_refused")
}

func TestCloseDelimitedBodyIsNotReused(t *testing.T) {
	s := start(t, faults.CloseDelimited)
	r := check(t, s.URL()+"/", options(t, ""))
	if !r.Verdict.Healthy {
		t.Fatalf("verdict %+v, want healthy", r.Verdict)
	}
	if k := r.KeepAlive; k == nil || k.Reusable {
		t.Errorf("keep-alive %+v, want not reusable", k)
	}
}

func TestNames(t *testing.T) {
	s := start(t, faults.OK)
	_, port, _ := strings.Cut(s.Addr(), ":")
	loopback := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	dnsServer, err := faults.StartDNS(map[string]faults.DNSAnswer{
		"app.test":      {Result: faults.DNSRecords, CNAME: "edge.test", TTL: 60},
		"edge.test":     {Result: faults.DNSRecords, Addrs: loopback, TTL: 30},
		"gone.test":     {Result: faults.DNSNXDomain},
		"broken.test":   {Result: faults.DNSServFail},
		"empty.test":    {Result: faults.DNSNoAnswer},
		"silent.test":   {Result: faults.DNSTimeout},
		"nothing6.test": {Result: faults.DNSRecords, Addrs: loopback},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dnsServer.Close() })

	t.Run("cname", func(t *testing.T) {
		r := check(t, "http://app.test:"+port+"/", options(t, dnsServer.Addr()))
		if !r.Verdict.Healthy {
			t.Fatalf("verdict %+v", r.Verdict)
		}
		d := r.DNS
		if d.Source != "dns" || d.Server != dnsServer.Addr() || len(d.Questions) != 2 {
			t.Fatalf("dns step %+v", d)
		}
		a := d.Questions[0]
		if a.Type != "A" || a.Rcode != "NOERROR" || strings.Join(a.CNAMEs, ",") != "edge.test" ||
			len(a.Records) != 1 || a.Records[0] != (diagnose.Record{Address: "127.0.0.1", TTL: 30}) {
			t.Errorf("A question %+v", a)
		}
	})
	tests := []struct {
		host  string
		class failure.Class
		rcode string
		fact  string
	}{
		{"gone.test", failure.DNSError, "NXDOMAIN", "does not exist"},
		{"broken.test", failure.DNSError, "SERVFAIL", "failed to resolve"},
		{"empty.test", failure.DNSError, "NOERROR", "no A or AAAA record"},
		{"silent.test", failure.DNSTimeout, "", "no DNS server answered"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			r := check(t, "http://"+tt.host+":"+port+"/", options(t, dnsServer.Addr()))
			wantVerdict(t, r, tt.class, "dns")
			wantContains(t, "summary", r.Verdict.Summary, tt.fact)
			if got := r.DNS.Failure.Param("rcode"); got != tt.rcode {
				t.Errorf("rcode %q, want %q", got, tt.rcode)
			}
			if r.TCP != nil {
				t.Errorf("tcp step ran after a failed lookup")
			}
		})
	}
	t.Run("no AAAA", func(t *testing.T) {
		r := check(t, "http://nothing6.test:"+port+"/", options(t, dnsServer.Addr()))
		if !r.Verdict.Healthy || !strings.Contains(strings.Join(r.DNS.Notes, "\n"), "no AAAA records") {
			t.Errorf("verdict %+v, notes %q", r.Verdict, r.DNS.Notes)
		}
	})
}

func TestTLSFaults(t *testing.T) {
	ca, err := faults.NewCA("portico test CA")
	if err != nil {
		t.Fatal(err)
	}
	caFile, err := ca.WritePEM(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		fault faults.TLSFault
		class failure.Class
		step  string
		check string
		// fact returns a string the verdict's summary must hold.
		fact func(s *faults.Server) string
	}{
		{faults.ExpiredCert, failure.TLSCertificateError, "tls", diagnose.CheckExpired, func(s *faults.Server) string {
			return "expired on " + s.Certificate().NotAfter.UTC().Format(time.DateOnly)
		}},
		{faults.NotYetValidCert, failure.TLSCertificateError, "tls", diagnose.CheckNotYetValid, func(s *faults.Server) string {
			return "not valid before " + s.Certificate().NotBefore.UTC().Format(time.DateOnly)
		}},
		{faults.WrongName, failure.TLSCertificateError, "tls", diagnose.CheckNameMismatch, func(*faults.Server) string {
			return "covers other.example, not 127.0.0.1"
		}},
		{faults.UntrustedCert, failure.TLSCertificateError, "tls", diagnose.CheckUnknownIssuer, func(*faults.Server) string {
			return `"CN=portico untrusted CA"`
		}},
		{faults.IncompleteChain, failure.TLSCertificateError, "tls", diagnose.CheckUnknownIssuer, func(*faults.Server) string {
			return `"CN=portico intermediate CA"`
		}},
		{faults.VersionMismatch, failure.TLSAlertReceived, "tls", diagnose.CheckAlert, func(*faults.Server) string {
			return "alert 70 (protocol version not supported)"
		}},
		{faults.PlainHTTPOnTLSPort, failure.TLSProtocolError, "tls", diagnose.CheckPlainHTTP, func(*faults.Server) string {
			return "plain HTTP"
		}},
		// TLS 1.3 servers reject a missing client certificate after the
		// handshake, so the alert comes with the response.
		{faults.RequireClientCert, failure.TLSAlertReceived, "http", "", func(*faults.Server) string {
			return "alert 116 (certificate required)"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fault.String(), func(t *testing.T) {
			s, err := faults.StartTLS(tt.fault, ca)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			o := options(t, "")
			o.CAFile = caFile
			r := check(t, s.URL()+"/", o)
			wantVerdict(t, r, tt.class, tt.step)
			wantContains(t, "summary", r.Verdict.Summary, tt.fact(s))
			if r.TLS.Check != tt.check {
				t.Errorf("failed check %q, want %q", r.TLS.Check, tt.check)
			}
		})
	}
}

// startIdleCloser starts a loopback server that answers each request
// completely and keeps the connection alive, but closes it once it has sat
// idle for idle: the keep-alive timeout that causes sporadic 502s.
func startIdleCloser(t *testing.T, idle time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					c.SetReadDeadline(time.Now().Add(idle))
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"); err != nil {
						return
					}
				}
			})
		}
	})
	return ln.Addr().String()
}

func TestServerClosesIdleConnectionsEarly(t *testing.T) {
	addr := startIdleCloser(t, 20*time.Millisecond)
	o := options(t, "")
	o.IdleProbe = stepTimeout
	r := check(t, "http://"+addr+"/", o)
	wantVerdict(t, r, failure.ConnectionTerminated, "keep_alive")
	k := r.KeepAlive
	if k.ClosedAfter == nil || time.Duration(*k.ClosedAfter) >= stepTimeout {
		t.Fatalf("closed after %v, want a close well within the probe", k.ClosedAfter)
	}
	wantContains(t, "summary", r.Verdict.Summary, "idle_timeout 60s")
	wantContains(t, "next", r.Verdict.Next, "or less for this target's upstream, safely below the server's")
}

// TestEveryAddressIsTried resolves a name to 127.0.0.1 and ::1 while the
// server listens on IPv4 only: the connection goes to 127.0.0.1, the
// proxy's first choice, and the refusing IPv6 address is reported.
func TestEveryAddressIsTried(t *testing.T) {
	s := start(t, faults.OK)
	_, port, _ := strings.Cut(s.Addr(), ":")
	dnsServer, err := faults.StartDNS(map[string]faults.DNSAnswer{
		"both.test": {Result: faults.DNSRecords, Addrs: []netip.Addr{netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.1")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dnsServer.Close() })
	r := check(t, "http://both.test:"+port+"/", options(t, dnsServer.Addr()))
	if !r.Verdict.Healthy {
		t.Fatalf("verdict %+v, want healthy", r.Verdict)
	}
	tcp := r.TCP
	if len(tcp.Attempts) != 2 || tcp.Connected != s.Addr() {
		t.Fatalf("attempts %+v, connected %q", tcp.Attempts, tcp.Connected)
	}
	if f := tcp.Attempts[1].Failure; tcp.Attempts[1].Address != "[::1]:"+port || f == nil || f.Class != failure.ConnectionRefused {
		t.Errorf("second attempt %+v, want [::1] refused", tcp.Attempts[1])
	}
	if len(tcp.Notes) != 1 || len(tcp.Warnings) != 0 {
		t.Errorf("notes %q, warnings %q; want one note on the address tried only as a fallback", tcp.Notes, tcp.Warnings)
	}
}

func TestIPv6Literal(t *testing.T) {
	s, err := faults.StartWith(faults.OK, faults.Options{IPv6: true})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	r := check(t, s.URL()+"/", options(t, ""))
	if !r.Verdict.Healthy || r.DNS.Source != "literal" || r.TCP.Connected != s.Addr() {
		t.Errorf("verdict %+v, dns %+v, connected %q", r.Verdict, r.DNS, r.TCP.Connected)
	}
}

// startSplitDNS starts a DNS server on 127.0.0.1 that answers A questions
// for any name with 127.0.0.1 and AAAA questions with SERVFAIL: a name
// that resolves differently over IPv4 and IPv6.
func startSplitDNS(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(q)
			switch q.Question[0].Qtype {
			case dns.TypeA:
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A:   net.IPv4(127, 0, 0, 1),
				})
			default:
				m.Rcode = dns.RcodeServerFailure
			}
			w.WriteMsg(m)
		})}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestNameResolvesDifferentlyOverIPv4AndIPv6(t *testing.T) {
	s := start(t, faults.OK)
	_, port, _ := strings.Cut(s.Addr(), ":")
	r := check(t, "http://split.test:"+port+"/", options(t, startSplitDNS(t)))
	d := r.DNS
	if !r.Verdict.Healthy || d.Status != diagnose.StatusWarning || r.Verdict.Warnings != 1 {
		t.Fatalf("verdict %+v, dns status %q; want healthy with one warning", r.Verdict, d.Status)
	}
	if d.Questions[1].Type != "AAAA" || d.Questions[1].Rcode != "SERVFAIL" {
		t.Errorf("AAAA question %+v, want SERVFAIL", d.Questions[1])
	}
	wantContains(t, "warning", d.Warnings[0], "the AAAA question got SERVFAIL while A answered")
}
