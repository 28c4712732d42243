// Package demo runs the embedded demonstration: a configuration built into
// the binary and the in-process upstreams it points at — two healthy
// servers, one that misbehaves in the way the request path names, a closed
// port, a silent host, TLS servers with broken certificates, and names its
// own DNS server fails to resolve — so a newcomer sees balancing and every
// explained failure with nothing to set up.
package demo

import (
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/faults"
	"github.com/portico-proxy/portico/internal/resolve"
)

//go:embed demo.yaml
var configYAML []byte

// Demo is a running set of demo upstreams.
type Demo struct {
	vars    map[string]string
	closers []func() error
	dns     *faults.DNSServer
	tmp     string
}

// Start starts the demo upstreams on loopback ports the kernel picks.
func Start() (d *Demo, err error) {
	d = &Demo{vars: map[string]string{}}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	for i, name := range []string{"APP_1", "APP_2"} {
		addr, closeFn, err := startApp(fmt.Sprintf("app-%d", i+1))
		if err != nil {
			return nil, err
		}
		d.vars[name] = addr
		d.closers = append(d.closers, closeFn)
	}
	flaky, err := faults.Start(faults.ByPath)
	if err != nil {
		return nil, err
	}
	d.vars["FLAKY"] = flaky.Addr()
	d.closers = append(d.closers, flaky.Close)

	down, err := faults.ClosedAddr()
	if err != nil {
		return nil, err
	}
	d.vars["DOWN"] = down

	silent, err := faults.StartUnanswered()
	if err != nil {
		return nil, err
	}
	d.vars["SILENT"] = silent.Addr()
	d.closers = append(d.closers, silent.Close)

	if err := d.startTLS(); err != nil {
		return nil, err
	}

	// The demo answers its own DNS so its names are looked up on
	// loopback, never on the machine's resolver.
	d.dns, err = faults.StartDNS(map[string]faults.DNSAnswer{
		"missing.demo.internal.":  {Result: faults.DNSNXDomain},
		"broken.demo.internal.":   {Result: faults.DNSServFail},
		"slow.demo.internal.":     {Result: faults.DNSTimeout},
		"metadata.demo.internal.": {Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.3")}},
	})
	if err != nil {
		return nil, err
	}
	d.closers = append(d.closers, d.dns.Close)
	return d, nil
}

// startTLS starts the TLS upstreams and writes the CA that signed them to a
// temporary file for the configuration's ca_file.
func (d *Demo) startTLS() error {
	ca, err := faults.NewCA("portico demo CA")
	if err != nil {
		return err
	}
	if d.tmp, err = os.MkdirTemp("", "portico-demo-"); err != nil {
		return err
	}
	d.closers = append(d.closers, func() error { return os.RemoveAll(d.tmp) })
	if d.vars["DEMO_CA"], err = ca.WritePEM(d.tmp); err != nil {
		return err
	}
	for name, fault := range map[string]faults.TLSFault{
		"TLS_EXPIRED_PORT":     faults.ExpiredCert,
		"TLS_CLIENT_CERT_PORT": faults.RequireClientCert,
		"TLS_PLAIN_PORT":       faults.PlainHTTPOnTLSPort,
	} {
		s, err := faults.StartTLS(fault, ca)
		if err != nil {
			return err
		}
		d.closers = append(d.closers, s.Close)
		_, port, _ := net.SplitHostPort(s.Addr())
		d.vars[name] = port
	}
	return nil
}

// Load parses the embedded configuration with the demo's addresses filled
// in. PORTICO_DEMO_LISTEN and PORTICO_DEMO_ADMIN move the gateway and the
// admin API off their default ports.
func (d *Demo) Load() (*config.Config, error) {
	return config.Parse("demo.yaml", configYAML, func(name string) (string, bool) {
		if v, ok := d.vars[name]; ok {
			return v, true
		}
		return os.LookupEnv(name)
	})
}

// Resolver returns the resolver settings that send the demo's lookups to
// its own DNS server.
func (d *Demo) Resolver() resolve.Config {
	return resolve.Config{Servers: []string{d.dns.Addr()}, Timeout: time.Second}
}

// Close stops every demo upstream, last started first.
func (d *Demo) Close() error {
	var errs []error
	for i := len(d.closers) - 1; i >= 0; i-- {
		errs = append(errs, d.closers[i]())
	}
	return errors.Join(errs...)
}

// Guide is what the demo prints once it listens: the URLs to open and
// commands to try.
func Guide(gatewayURL, adminURL string) string {
	return fmt.Sprintf(`portico demo is running.

  gateway    %[1]s/
  dashboard  %[2]s/

Try:
  curl -i %[1]s/                        # balanced over app-1 and app-2 (weights 1:2)
  curl -i %[1]s/demo/fail/refused       # 502 connection_refused
  curl -i %[1]s/demo/retry              # 200: a refused target, retried on app-1 (see the dashboard)
  curl -i %[1]s/demo/stale              # twice: the app's 503 is answered for with the kept 200
  curl -i %[1]s/demo/fail/timeout       # 504 connection_read_timeout after 3s
  curl -i %[1]s/demo/fail/garbage       # 502 http_protocol_error
  curl -i %[1]s/demo/fail/dns           # 502 dns_error, rcode NXDOMAIN
  curl -i %[1]s/demo/fail/tls-expired   # 502 tls_certificate_error, with the expiry date
  curl -i %[1]s/demo/fail/truncated     # body cut short: curl exits 18
  curl -i -H 'Accept: application/problem+json' %[1]s/demo/fail/reset

Every failure the demo can show, one path each: %[1]s/demo/
Press Ctrl-C to stop.
`, gatewayURL, adminURL)
}

// Failures lists the demo's paths with the answer each gives, for the
// /demo/ page.
var Failures = []struct{ Path, Answer, How string }{
	{"/demo/stale", "200 every time: every second request the app answers 503, and the kept response stands in (Age, Proxy-Status received-status=503)", ""},
	{"/demo/retry", "200 every time: half the requests meet a refusing target and are retried on app-1 (the log says attempts 2)", ""},
	{"/demo/fail/refused", "502 connection_refused", ""},
	{"/demo/fail/connect-timeout", "504 connection_timeout", ""},
	{"/demo/fail/dns", "502 dns_error (rcode NXDOMAIN)", ""},
	{"/demo/fail/dns-servfail", "502 dns_error (rcode SERVFAIL)", ""},
	{"/demo/fail/dns-timeout", "504 dns_timeout", ""},
	{"/demo/fail/prohibited", "502 destination_ip_prohibited", ""},
	{"/demo/fail/tls-expired", "502 tls_certificate_error", ""},
	{"/demo/fail/tls-alert", "502 tls_alert_received (certificate required)", ""},
	{"/demo/fail/tls-plain-http", "502 tls_protocol_error", ""},
	{"/demo/fail/close", "502 connection_terminated", ""},
	{"/demo/fail/reset", "502 connection_terminated", ""},
	{"/demo/fail/timeout", "504 connection_read_timeout", ""},
	{"/demo/fail/slow-head", "504 http_response_timeout", ""},
	{"/demo/fail/stops-reading-body", "504 connection_write_timeout", "head -c 20000000 /dev/zero | curl -i --data-binary @- URL"},
	{"/demo/fail/garbage", "502 http_protocol_error", ""},
	{"/demo/fail/conflicting-content-length", "502 http_protocol_error", ""},
	{"/demo/fail/content-length-with-transfer-encoding", "502 http_protocol_error", ""},
	{"/demo/fail/header-section-too-large", "502 http_response_header_section_size", ""},
	{"/demo/fail/header-too-large", "502 http_response_header_size", ""},
	{"/demo/fail/unknown-transfer-coding", "502 http_response_transfer_coding", ""},
	{"/demo/fail/upgrade-refused", "502 http_upgrade_failed", "curl -i -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' URL"},
	{"/demo/fail/origin-502", "502 from the upstream itself, marked received-status=502", ""},
	{"/demo/fail/truncated", "200, then the body is cut: http_response_incomplete", ""},
	{"/demo/fail/stall", "200, then the body stalls: connection_read_timeout", ""},
	{"/demo/fail/echo", "200, then http_response_body_size past 1 MiB", "head -c 2000000 /dev/zero | curl --data-binary @- URL"},
	{"/demo/fail/unavailable", "503 destination_unavailable (health checks marked the target down)", ""},
	{"/demo/fail/slow", "503 connection_limit_reached for a second request while one is in flight", "curl URL & curl -i URL"},
	{"/demo/fail/maintenance", "503 proxy_internal_response (maintenance)", ""},
	{"/demo/fail/denied", "403 http_request_denied", ""},
	{"/demo/fail/rate-limited", "429 http_request_denied (rate limited) from the third request a minute", "curl URL; curl URL; curl -i URL"},
	{"*", "404 destination_not_found: no route serves a request for the whole server", "curl -i -X OPTIONS --request-target '*' BASE"},
	{"/", "502 proxy_loop_detected", "curl -i -H 'Via: 1.1 portico' URL"},
	{"/", "400 http_request_error for an ambiguous request", "curl -i -H 'Content-Length: 3' -H 'Transfer-Encoding: chunked' --data x URL"},
}

// startApp starts a healthy demo upstream that names itself in its answers.
func startApp(name string) (addr string, closeFn func() error, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/demo/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "Every failure portico names, one path each (GET unless shown):")
		fmt.Fprintln(w)
		base := "http://" + r.Host
		for _, f := range Failures {
			fmt.Fprintf(w, "  %-48s %s\n", f.Path, f.Answer)
			if f.How != "" {
				how := strings.ReplaceAll(f.How, "URL", base+f.Path)
				fmt.Fprintf(w, "  %-48s   %s\n", "", strings.ReplaceAll(how, "BASE", base))
			}
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Not shown: destination_ip_unroutable (needs a network route that fails)")
		fmt.Fprintln(w, "and proxy_internal_error (needs a bug).")
	})
	// Every second request here fails, so that a route with
	// stale_if_error has something to answer for.
	var staleCalls atomic.Int64
	mux.HandleFunc("/demo/stale", func(w http.ResponseWriter, r *http.Request) {
		if staleCalls.Add(1)%2 == 0 {
			http.Error(w, "every second request fails here", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "max-age=0")
		fmt.Fprintf(w, "fresh from %s at %s\n", name, time.Now().UTC().Format(time.TimeOnly))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Served-By", name)
		fmt.Fprintf(w, "hello from %s: %s %s (request id %s)\n", name, r.Method, r.URL.Path, r.Header.Get("X-Request-Id"))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return ln.Addr().String(), srv.Close, nil
}
