package proxy

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/portico-proxy/portico/internal/accesslog"
	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/metrics"
)

// TestInternalErrorAnswers500 breaks the proxy's state on purpose (a pool
// that is not there) to exercise the one path a bug takes: the request
// gets 500 proxy_internal_error, the operator log gets the stack, and the
// server goes on serving.
func TestInternalErrorAnswers500(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte(`
trusted_networks: ["127.0.0.0/8"]
upstreams:
  app:
    targets: ["http://127.0.0.1:9"]
routes:
  - upstream: app
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	var opLog, access bytes.Buffer
	p, err := New(cfg, Options{AccessLog: accesslog.New(&access, "json"), Log: slog.New(slog.NewTextHandler(&opLog, nil)), Metrics: metrics.New(metrics.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.routes[0].pool = nil

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p}
	go srv.Serve(ln)

	for range 2 {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(resp.Header.Get("Proxy-Status"), "error=proxy_internal_error") {
			t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Proxy-Status"))
		}
	}
	// Shutdown waits for the handlers, and so for their log lines.
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(opLog.String(), "stack=") || !strings.Contains(opLog.String(), "proxy.go") {
		t.Errorf("operator log lacks the stack:\n%s", opLog.String())
	}
	if !strings.Contains(access.String(), `"error.type":"proxy_internal_error"`) {
		t.Errorf("access log: %s", access.String())
	}
}
