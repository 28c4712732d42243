package gateway_test

import (
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/portico-proxy/portico/internal/faults"
	"github.com/portico-proxy/portico/internal/resolve"
)

// routeWith routes everything to one upstream with extra route and
// upstream keys, the admin API on.
func routeWith(target, routeKeys, upstreamKeys string) string {
	return `
admin: "127.0.0.1:0"
trusted_networks: ["127.0.0.0/8"]
upstreams:
  app:
    targets: ["` + target + `"]
    timeouts: ` + fastTimeouts + upstreamKeys + `
routes:
  - upstream: app` + routeKeys + `
`
}

// TestTaxonomyBeforeTheUpstream covers the rows where portico answers
// without contacting the upstream: policy, limits, health, target policy.
func TestTaxonomyBeforeTheUpstream(t *testing.T) {
	t.Run("client address denied", func(t *testing.T) {
		app := startFault(t, faults.OK)
		h := startGateway(t, routeWith(app.URL(), "\n    deny: [\"127.0.0.1\"]", ""), nil)
		resp := h.get("/", "Accept: application/json")
		checkAnswer(t, h, resp, readBody(t, resp), "application/json",
			want{status: 403, errorType: "http_request_denied", params: map[string]any{"details": "deny"}})
		if app.RequestCount() != 0 {
			t.Errorf("a denied request reached the upstream")
		}
	})
	t.Run("client outside every allow rule", func(t *testing.T) {
		app := startFault(t, faults.OK)
		h := startGateway(t, routeWith(app.URL(), "\n    allow: [\"10.0.0.0/8\"]", ""), nil)
		resp := h.get("/", "Accept: text/html")
		checkAnswer(t, h, resp, readBody(t, resp), "text/html", want{status: 403, errorType: "http_request_denied"})
	})
	t.Run("rate limited", func(t *testing.T) {
		app := startFault(t, faults.OK)
		h := startGateway(t, routeWith(app.URL(), "\n    rate_limit: {requests: 1, per: 1h}", ""), nil)
		readBody(t, h.get("/"))
		resp := h.get("/", "Accept: application/problem+json")
		checkAnswer(t, h, resp, readBody(t, resp), "application/problem+json",
			want{status: 429, errorType: "http_request_denied", params: map[string]any{"details": "rate limited"}})
		if ra := resp.Header.Get("Retry-After"); ra != "3600" {
			t.Errorf("Retry-After %q, want the bucket's refill time 3600", ra)
		}
	})
	t.Run("route in maintenance", func(t *testing.T) {
		app := startFault(t, faults.OK)
		h := startGateway(t, routeWith(app.URL(), "\n    maintenance: true\n    maintenance_retry_after: 2m", ""), nil)
		resp := h.get("/", "Accept: text/html")
		body := readBody(t, resp)
		checkAnswer(t, h, resp, body, "text/html", want{status: 503, errorType: "proxy_internal_response"})
		if ra := resp.Header.Get("Retry-After"); ra != "120" {
			t.Errorf("Retry-After %q, want 120", ra)
		}
		if app.RequestCount() != 0 {
			t.Errorf("a request in maintenance reached the upstream")
		}
	})
	t.Run("pool at its in-flight limit", func(t *testing.T) {
		up := startBlockingUpstream(t, "up")
		h := startGateway(t, routeWith("http://"+up.addr, "", "\n    max_in_flight: 1"), nil)
		first := make(chan *http.Response, 1)
		go func() {
			resp, err := testClient.Get(h.URL + "/slow")
			if err != nil {
				t.Error(err)
			}
			first <- resp
		}()
		<-up.entered
		resp := h.get("/", "Accept: text/plain")
		checkAnswer(t, h, resp, readBody(t, resp), "text/plain", want{status: 503, errorType: "connection_limit_reached"})
		close(up.release)
		if r := <-first; r != nil {
			readBody(t, r)
			if r.StatusCode != http.StatusOK {
				t.Errorf("the admitted request got %d", r.StatusCode)
			}
		}
	})
	t.Run("every target down by health checks", func(t *testing.T) {
		closed, err := faults.ClosedAddr()
		if err != nil {
			t.Fatal(err)
		}
		h := startGateway(t, routeWith("http://"+closed, "",
			"\n    health_check: {interval: 20ms, timeout: 20ms, unhealthy_after: 1}"), nil)
		h.opLog.await(t, "upstream target down")
		resp := h.get("/", "Accept: application/json")
		body := readBody(t, resp)
		checkAnswer(t, h, resp, body, "application/json",
			want{status: 503, errorType: "destination_unavailable", params: map[string]any{"details": "connection_refused"}})
	})
	t.Run("target address prohibited", func(t *testing.T) {
		dns, err := faults.StartDNS(map[string]faults.DNSAnswer{
			"metadata.test.": {Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.2")}},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer dns.Close()
		yaml := routeWith("http://metadata.test:80", "", "") + "target_policy: {deny: [\"127.0.0.2\"]}\n"
		h := startGateway(t, yaml, nil, harnessOptions{resolver: resolve.Config{Servers: []string{dns.Addr()}, Timeout: time.Second}})
		resp := h.get("/", "Accept: application/json")
		checkAnswer(t, h, resp, readBody(t, resp), "application/json",
			want{status: 502, errorType: "destination_ip_prohibited", params: map[string]any{"details": "127.0.0.2"}})
	})
}

// TestOutlierEjectionSparesClients: once a failing target is ejected,
// requests go only to the healthy one.
func TestOutlierEjectionSparesClients(t *testing.T) {
	good := startFault(t, faults.OK)
	closed, err := faults.ClosedAddr()
	if err != nil {
		t.Fatal(err)
	}
	h := startGateway(t, `
upstreams:
  app:
    targets: ["http://`+closed+`", "`+good.URL()+`"]
    outlier: {consecutive_failures: 2, eject_for: 1h}
routes:
  - upstream: app
`, nil)
	failures := 0
	for range 20 {
		resp := h.get("/")
		readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			failures++
		}
	}
	if failures != 2 {
		t.Errorf("%d of 20 requests failed; want exactly the 2 that ejected the dead target", failures)
	}
}
