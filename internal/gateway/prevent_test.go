package gateway_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
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
// requests go only to the healthy one. Retries are off here, so the
// failures that eject it reach clients.
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
    retries: {attempts: 1}
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

// retryPool is a pool of a dead target and a live one, with retries as
// given and ejection off, so every request meets the dead target in turn.
func retryPool(t *testing.T, dead, live, retries string) *harness {
	t.Helper()
	return startGateway(t, `
admin: "127.0.0.1:0"
trusted_networks: ["127.0.0.0/8"]
upstreams:
  app:
    targets: ["`+dead+`", "`+live+`"]
    outlier: {consecutive_failures: 0}
    retries: `+retries+`
routes:
  - upstream: app
`, nil)
}

// TestRetryOnAnotherTargetHidesADeadOne: a request whose target refuses
// the connection is sent to the other target, and the client never sees
// the failure; the log and the metrics do.
func TestRetryOnAnotherTargetHidesADeadOne(t *testing.T) {
	good := startFault(t, faults.OK)
	closed, err := faults.ClosedAddr()
	if err != nil {
		t.Fatal(err)
	}
	h := retryPool(t, "http://"+closed, good.URL(), "{attempts: 2}")
	retried := 0
	for i := range 6 {
		id := fmt.Sprintf("retry-%d", i)
		resp := h.get("/", "X-Request-Id: "+id)
		readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d (%s), want 200 from the live target", i, resp.StatusCode, resp.Header.Get("Proxy-Status"))
		}
		line := h.logLine(id)
		if line["upstream.address"] != strings.TrimPrefix(good.URL(), "http://") || line["error.type"] != "" {
			t.Errorf("request %d logged target %v, error %v; want the live target and no error", i, line["upstream.address"], line["error.type"])
		}
		if line["attempts"] == float64(2) {
			retried++
		}
	}
	if retried != 3 {
		t.Errorf("%d of 6 requests were retried; want the 3 that round-robin sent to the dead target first", retried)
	}
	if n := h.failuresCounted("connection_refused"); n != 3 {
		t.Errorf("portico_failures_total counts %v connection_refused, want the 3 the retries hid", n)
	}
}

// TestRetryOnlyWhenSafe: a request the dead target may have received is
// sent again only when it is idempotent and has no body. A POST whose
// connection closed after it was sent fails; a GET is retried.
func TestRetryOnlyWhenSafe(t *testing.T) {
	// The first target reads each request and closes without answering.
	dropper := startRawUpstream(t, func(c net.Conn, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		c.Close()
	})
	var posts atomic.Int64
	live := startRawUpstream(t, func(c net.Conn, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		if req.Method == http.MethodPost {
			posts.Add(1)
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	h := retryPool(t, "http://"+dropper, "http://"+live, "{attempts: 3}")
	var failedPosts, failedGets int
	for i := range 4 {
		resp, err := http.Post(h.URL+"/", "text/plain", strings.NewReader("payload"))
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			failedPosts++
			if resp.StatusCode != http.StatusBadGateway || !strings.Contains(resp.Header.Get("Proxy-Status"), "connection_terminated") {
				t.Errorf("POST %d: %d %q, want 502 connection_terminated", i, resp.StatusCode, resp.Header.Get("Proxy-Status"))
			}
		}
	}
	for range 4 {
		resp := h.get("/")
		readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			failedGets++
		}
	}
	if failedPosts != 2 || posts.Load() != 2 {
		t.Errorf("%d of 4 POSTs failed and the live target got %d; want the 2 sent to the dropping target to fail, never sent twice", failedPosts, posts.Load())
	}
	if failedGets != 0 {
		t.Errorf("%d of 4 GETs failed; want every one retried on the live target", failedGets)
	}
}

// TestRetryBudgetBoundsRetries: when a pool's retries would exceed its
// budget, the request fails instead, and the log says why.
func TestRetryBudgetBoundsRetries(t *testing.T) {
	good := startFault(t, faults.OK)
	closed, err := faults.ClosedAddr()
	if err != nil {
		t.Fatal(err)
	}
	h := retryPool(t, "http://"+closed, good.URL(), "{attempts: 2, budget_percent: 1}")
	var failed []string
	for i := range 40 {
		id := fmt.Sprintf("budget-%d", i)
		resp := h.get("/", "X-Request-Id: "+id)
		readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			failed = append(failed, id)
		}
	}
	// 20 requests meet the dead target first; the budget holds 10 retries
	// and 40 requests add less than one more.
	if len(failed) < 9 || len(failed) > 10 {
		t.Fatalf("%d of 40 requests failed; want the 9 or 10 the budget could not retry", len(failed))
	}
	line := h.logLine(failed[0])
	if msg, _ := line["error.message"].(string); !strings.Contains(msg, "retry budget") {
		t.Errorf("error.message %q, want it to say the retry budget is spent", msg)
	}
}
