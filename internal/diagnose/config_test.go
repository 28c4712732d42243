package diagnose_test

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/diagnose"
	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/faults"
)

// TestCheckConfig checks every target of a config in config order, each
// with its upstream's TLS settings and idle timeout.
func TestCheckConfig(t *testing.T) {
	ca, err := faults.NewCA("portico test CA")
	if err != nil {
		t.Fatal(err)
	}
	caFile, err := ca.WritePEM(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	secure, err := faults.StartTLS(faults.ValidCert, ca)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { secure.Close() })
	ok := start(t, faults.OK)
	refused, err := faults.ClosedAddr()
	if err != nil {
		t.Fatal(err)
	}
	// The server closes idle connections after 100ms: a problem for the
	// default idle_timeout (60s), none for 50ms.
	idleCloser := startIdleCloser(t, 100*time.Millisecond)

	yaml := `
upstreams:
  app:
    targets: ["http://` + ok.Addr() + `", "http://` + refused + `", "http://` + idleCloser + `"]
  secure:
    targets: ["` + secure.URL() + `"]
    tls: {ca_file: "` + caFile + `", server_name: localhost}
  tuned:
    targets: ["http://` + idleCloser + `"]
    idle_timeout: 50ms
routes:
  - upstream: app
`
	cfg, err := config.Parse("portico.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	o := options(t, "")
	o.IdleProbe = 500 * time.Millisecond
	cr, err := diagnose.CheckConfig(context.Background(), cfg, o, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		upstream string
		class    failure.Class // None: healthy
	}{
		{"app", failure.None},
		{"app", failure.ConnectionRefused},
		{"app", failure.ConnectionTerminated},
		{"secure", failure.None},
		{"tuned", failure.None},
	}
	if len(cr.Targets) != len(want) || cr.Healthy {
		t.Fatalf("%d targets, healthy %v; want %d, unhealthy", len(cr.Targets), cr.Healthy, len(want))
	}
	for i, w := range want {
		r := cr.Targets[i]
		if r.Upstream != w.upstream || r.Verdict.Healthy != (w.class == failure.None) || r.Verdict.Type != w.class.String() {
			t.Errorf("target %d (%s): upstream %q, verdict %+v; want %q, %q", i, r.URL, r.Upstream, r.Verdict, w.upstream, w.class)
		}
	}
	if tls := cr.Targets[3].TLS; tls == nil || tls.ServerName != "localhost" {
		t.Errorf("secure target's TLS step %+v, want server name localhost from the config", tls)
	}
}

// TestCheckConfigAsksForTheHealthPath: a target whose upstream has active
// health checks is asked for their path, not for "/".
func TestCheckConfigAsksForTheHealthPath(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Only the health path is served; "/" would be a 503.
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RequestURI() != "/healthz?deep=1" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	yaml := `
upstreams:
  app:
    targets: ["http://` + ln.Addr().String() + `"]
    health_check: {path: "/healthz?deep=1"}
routes:
  - upstream: app
`
	cfg, err := config.Parse("portico.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	o := options(t, "")
	o.IdleProbe = -1
	cr, err := diagnose.CheckConfig(context.Background(), cfg, o, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := cr.Targets[0]
	if !r.Verdict.Healthy || !strings.HasSuffix(r.URL, "/healthz?deep=1") {
		t.Errorf("checked %s, verdict %+v; want the health path asked for, and healthy", r.URL, r.Verdict)
	}
}

// TestCheckConfigAppliesTargetPolicy: an address target_policy denies is
// never connected to, by portico or by diagnose: a name that resolves only
// to denied addresses is destination_ip_prohibited, and one that also
// resolves to allowed addresses is checked on those, with a warning.
func TestCheckConfigAppliesTargetPolicy(t *testing.T) {
	s := start(t, faults.OK)
	_, port, _ := strings.Cut(s.Addr(), ":")
	dnsServer, err := faults.StartDNS(map[string]faults.DNSAnswer{
		"metadata.test": {Result: faults.DNSRecords, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.2")}},
		"mixed.test":    {Result: faults.DNSRecords, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dnsServer.Close() })
	yaml := `
target_policy: {deny: ["127.0.0.2"]}
upstreams:
  denied:
    targets: ["http://metadata.test:` + port + `"]
  mixed:
    targets: ["http://mixed.test:` + port + `"]
routes:
  - upstream: denied
`
	cfg, err := config.Parse("portico.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	o := options(t, dnsServer.Addr())
	o.IdleProbe = -1
	cr, err := diagnose.CheckConfig(context.Background(), cfg, o, 2)
	if err != nil {
		t.Fatal(err)
	}
	denied, mixed := cr.Targets[0], cr.Targets[1]
	if denied.Verdict.Type != "destination_ip_prohibited" || denied.TCP != nil {
		t.Errorf("a name resolving only to a denied address: verdict %q, TCP step %+v; want destination_ip_prohibited and no connection", denied.Verdict.Type, denied.TCP)
	}
	if !mixed.Verdict.Healthy || mixed.TCP == nil || mixed.TCP.Connected != "127.0.0.1:"+port || len(mixed.DNS.Warnings) == 0 {
		t.Errorf("a name resolving to a denied and an allowed address: verdict %+v, TCP %+v, DNS warnings %q; want the allowed one checked, with a warning", mixed.Verdict, mixed.TCP, mixed.DNS.Warnings)
	}
}
