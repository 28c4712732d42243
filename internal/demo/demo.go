// Package demo runs the embedded demonstration: a configuration built into
// the binary and the in-process upstreams it points at — two healthy
// servers, one that misbehaves in the way the request path names, a closed
// port and a name that does not resolve — so a newcomer sees balancing and
// explained 502s and 504s with nothing on disk.
package demo

import (
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
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

	// The demo answers its own DNS so the failing name is looked up on
	// loopback, never on the machine's resolver.
	d.dns, err = faults.StartDNS(map[string]faults.DNSAnswer{
		"missing.demo.internal.": {Result: faults.DNSNXDomain},
	})
	if err != nil {
		return nil, err
	}
	d.closers = append(d.closers, d.dns.Close)
	return d, nil
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

// Close stops every demo upstream.
func (d *Demo) Close() error {
	var errs []error
	for _, c := range d.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// Guide is what the demo prints once it listens: the URLs to open and
// commands to try.
func Guide(gatewayURL, adminURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `portico demo is running.

  gateway    %[1]s/
  admin API  %[2]s/

Try:
  curl -i %[1]s/                        # balanced over app-1 and app-2 (weights 1:2)
  curl -i %[1]s/demo/fail/refused       # 502 connection_refused
  curl -i %[1]s/demo/fail/timeout       # 504 connection_read_timeout after 2s
  curl -i %[1]s/demo/fail/garbage       # 502 http_protocol_error
  curl -i %[1]s/demo/fail/dns           # 502 dns_error, rcode NXDOMAIN
  curl -i %[1]s/demo/fail/truncated     # body cut short: curl exits 18
  curl -i -H 'Accept: application/problem+json' %[1]s/demo/fail/reset

Every failing path is listed at %[1]s/demo/.
Press Ctrl-C to stop.
`, gatewayURL, adminURL)
	return b.String()
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
		fmt.Fprintln(w, "Failing paths (each misbehaves the way it is named):")
		fmt.Fprintln(w, "  /demo/fail/refused\n  /demo/fail/dns")
		for _, n := range faults.BehaviorNames() {
			fmt.Fprintln(w, "  "+faults.PathPrefix+n)
		}
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
