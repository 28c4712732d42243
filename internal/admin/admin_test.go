package admin

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/metrics"
	"github.com/portico-proxy/portico/internal/upstream"
)

// generation is what a running portico would hand the admin API: one
// configuration's pools.
type generation struct {
	cfg   *config.Config
	pools []*upstream.Pool
}

func (g *generation) Pools() []*upstream.Pool { return g.pools }
func (g *generation) Config() *config.Config  { return g.cfg }

// build parses yaml, with ${NAME} filled from vars, and builds its pools.
func build(t *testing.T, yaml string, vars map[string]string) *generation {
	t.Helper()
	cfg, err := config.Parse("portico.yaml", []byte(yaml), func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	g := &generation{cfg: cfg}
	for _, u := range cfg.Upstreams {
		p, err := upstream.New(u, upstream.Options{Limits: cfg.Limits})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		g.pools = append(g.pools, p)
	}
	return g
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

const twoUpstreams = `
listen: "127.0.0.1:0"
admin: "127.0.0.1:0"
proxy_name: edge
trusted_networks: ["127.0.0.0/8"]
upstreams:
  app:
    targets:
      - "http://${APP}"
      - url: "http://${DOWN}"
        weight: 2
    balance: round_robin
    timeouts:
      connect: 1s
    outlier:
      consecutive_failures: 2
  api:
    targets: ["http://${APP}"]
routes:
  - host: "example.com"
    path_prefix: "/api/"
    strip_prefix: true
    upstream: api
  - path_prefix: "/"
    upstream: app
`

// fixture is an admin server over real pools and a real metrics record.
type fixture struct {
	t       *testing.T
	url     string
	metrics *metrics.Metrics
	current atomic.Pointer[generation]
	app     string // address of the answering backend
	down    string // address of the refusing one
}

func newFixture(t *testing.T) *fixture {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(backend.Close)
	f := &fixture{t: t, app: backend.Listener.Addr().String(), down: closedAddr(t)}
	f.current.Store(build(t, twoUpstreams, map[string]string{"APP": f.app, "DOWN": f.down}))
	f.metrics = metrics.New(metrics.Options{Pools: func() []*upstream.Pool { return f.current.Load().pools }})
	srv := httptest.NewServer(Handler(Options{
		Source:  func() Source { return f.current.Load() },
		Metrics: f.metrics,
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// get fetches path and returns the response with its body read.
func (f *fixture) get(path string) (*http.Response, []byte) {
	f.t.Helper()
	resp, err := http.Get(f.url + path)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, body
}

// getJSON fetches path, checks it is JSON with status 200 and decodes it
// into generic values, so the tests see the field names a client sees.
func (f *fixture) getJSON(path string, into any) {
	f.t.Helper()
	resp, body := f.get(path)
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("GET %s: %s\n%s", path, resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	if err := json.Unmarshal(body, into); err != nil {
		f.t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

type object = map[string]any

func TestHealthzSaysOK(t *testing.T) {
	f := newFixture(t)
	resp, body := f.get("/healthz")
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Errorf("healthz: %s %q", resp.Status, body)
	}
}

func TestUpstreamsShowLoadCountsAndTheLastFailure(t *testing.T) {
	f := newFixture(t)
	app, down := f.metrics.Target("app", f.app), f.metrics.Target("app", f.down)
	app.Response(time.Millisecond)
	app.Response(time.Millisecond)
	down.Fail(metrics.Failure{RequestID: "r1", Route: "/", Status: 502, Cause: failure.ConnectionRefused, Details: "connection_refused to " + f.down})
	down.Fail(metrics.Failure{RequestID: "r2", Route: "/", Status: 502, Cause: failure.ConnectionRefused, Details: "connection_refused to " + f.down})
	f.metrics.Route("/", "app").Fail(metrics.Failure{RequestID: "r3", Status: 503, Cause: failure.DestinationUnavailable})
	app0, down0 := f.current.Load().pools[0].Targets()[0], f.current.Load().pools[0].Targets()[1]
	app0.Acquire()
	defer app0.Release()
	down0.Report(failure.ConnectionRefused, 0)
	down0.Report(failure.ConnectionRefused, 0)

	var ups []object
	f.getJSON("/api/upstreams", &ups)
	if len(ups) != 2 || ups[0]["name"] != "app" || ups[1]["name"] != "api" {
		t.Fatalf("upstreams %v, want app and api in configuration order", ups)
	}
	targets := ups[0]["targets"].([]any)
	answering, failing := targets[0].(object), targets[1].(object)

	wantKeys := []string{"url", "address", "in_flight", "idle_connections", "health", "requests", "responses", "failures", "aborted",
		"failures_by_cause", "last_failure", "failing_since", "consecutive_failures"}
	for _, k := range wantKeys {
		if _, ok := answering[k]; !ok {
			t.Errorf("target lacks %q: %v", k, answering)
		}
	}
	if answering["address"] != f.app || answering["url"] != "http://"+f.app {
		t.Errorf("first target is %v / %v, want %s", answering["address"], answering["url"], f.app)
	}
	if answering["in_flight"] != 1.0 || answering["requests"] != 2.0 || answering["failures"] != 0.0 {
		t.Errorf("answering target: in flight %v, requests %v, failures %v; want 1, 2, 0", answering["in_flight"], answering["requests"], answering["failures"])
	}
	if h := answering["health"].(object); h["state"] != "up" || h["until"] != nil || h["cause"] != "" {
		t.Errorf("answering target's health %v, want up", h)
	}
	if h := failing["health"].(object); h["state"] != "ejected" || h["since"] == nil || h["until"] == nil || h["cause"] != "connection_refused" {
		t.Errorf("failing target's health %v, want ejected for connection_refused, with since and until", h)
	}
	if answering["last_failure"] != nil || answering["failing_since"] != nil {
		t.Errorf("answering target shows a failure: %v since %v", answering["last_failure"], answering["failing_since"])
	}

	if failing["failures"] != 2.0 || failing["consecutive_failures"] != 2.0 || failing["failing_since"] == nil {
		t.Errorf("failing target: failures %v, consecutive %v, since %v", failing["failures"], failing["consecutive_failures"], failing["failing_since"])
	}
	if by := failing["failures_by_cause"].(object); by["connection_refused"] != 2.0 || len(by) != 1 {
		t.Errorf("failures by cause %v, want connection_refused: 2", by)
	}
	last := failing["last_failure"].(object)
	for k, want := range map[string]any{
		"request_id": "r2", "route": "/", "upstream": "app", "target": f.down, "status": 502.0,
		"cause": "connection_refused", "explanation": "The backend server refused the connection.",
		"details": "connection_refused to " + f.down, "aborted": false,
	} {
		if last[k] != want {
			t.Errorf("last_failure.%s = %v, want %v", k, last[k], want)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, last["time"].(string)); err != nil {
		t.Errorf("last_failure.time: %v", err)
	}

	unassigned := ups[0]["unassigned"].(object)
	if unassigned["failures"] != 1.0 || unassigned["failures_by_cause"].(object)["destination_unavailable"] != 1.0 {
		t.Errorf("unassigned %v, want one destination_unavailable", unassigned)
	}
}

func TestFailuresAreNewestFirstAndLimited(t *testing.T) {
	f := newFixture(t)
	down := f.metrics.Target("app", f.down)
	for _, id := range []string{"r1", "r2", "r3"} {
		down.Fail(metrics.Failure{RequestID: id, Route: "/", Status: 502, Cause: failure.ConnectionRefused})
	}
	f.metrics.Route("", "").Fail(metrics.Failure{RequestID: "r4", Status: 404, Cause: failure.DestinationNotFound})

	var all []object
	f.getJSON("/api/failures", &all)
	var ids []string
	for _, x := range all {
		ids = append(ids, x["request_id"].(string))
	}
	if !slices.Equal(ids, []string{"r4", "r3", "r2", "r1"}) {
		t.Errorf("failures %v, want newest first", ids)
	}
	if all[0]["cause"] != "destination_not_found" || all[0]["upstream"] != "" || all[0]["status"] != 404.0 {
		t.Errorf("unrouted failure shown as %v", all[0])
	}

	var two []object
	f.getJSON("/api/failures?limit=2", &two)
	if len(two) != 2 || two[0]["request_id"] != "r4" {
		t.Errorf("limit=2 gave %v", two)
	}
	var none []object
	f.getJSON("/api/failures?limit=0", &none)
	if none == nil || len(none) != 0 {
		t.Errorf("limit=0 gave %v, want an empty list", none)
	}

	for _, bad := range []string{"-1", "ten", "1.5"} {
		resp, body := f.get("/api/failures?limit=" + bad)
		var e object
		if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || !strings.Contains(e["error"].(string), "limit") {
			t.Errorf("limit=%s: %s %s, want 400 with an error naming limit", bad, resp.Status, body)
		}
	}
}

func TestConfigSummarisesTheServingConfiguration(t *testing.T) {
	f := newFixture(t)
	var c object
	f.getJSON("/api/config", &c)
	if got := c["listen"].([]any); len(got) != 1 || got[0] != "127.0.0.1:0" {
		t.Errorf("listen %v", got)
	}
	if c["proxy_name"] != "edge" || c["proxy_status"] != "error" || c["admin"] != "127.0.0.1:0" {
		t.Errorf("proxy_name %v, proxy_status %v, admin %v", c["proxy_name"], c["proxy_status"], c["admin"])
	}
	if nets := c["trusted_networks"].([]any); len(nets) != 1 || nets[0] != "127.0.0.0/8" {
		t.Errorf("trusted_networks %v", nets)
	}
	app := c["upstreams"].([]any)[0].(object)
	if app["name"] != "app" || app["balance"] != "round_robin" {
		t.Errorf("first upstream %v", app)
	}
	if second := app["targets"].([]any)[1].(object); second["url"] != "http://"+f.down || second["weight"] != 2.0 {
		t.Errorf("second target %v", second)
	}
	if tm := app["timeouts"].(object); tm["connect"] != "1s" || tm["request"] != "0s" {
		t.Errorf("timeouts %v", tm)
	}
	route := c["routes"].([]any)[0].(object)
	want := object{"host": "example.com", "path_prefix": "/api/", "strip_prefix": true, "upstream": "api"}
	for k, v := range want {
		if route[k] != v {
			t.Errorf("routes[0].%s = %v, want %v", k, route[k], v)
		}
	}
}

func TestAReloadShowsAtOnceAndKeepsTheCounts(t *testing.T) {
	f := newFixture(t)
	f.metrics.Target("app", f.down).Fail(metrics.Failure{Status: 502, Cause: failure.ConnectionRefused})
	f.current.Store(build(t, `
upstreams:
  app:
    targets: ["http://${DOWN}"]
routes:
  - upstream: app
`, map[string]string{"DOWN": f.down}))

	var ups []object
	f.getJSON("/api/upstreams", &ups)
	if len(ups) != 1 {
		t.Fatalf("after the reload %d upstreams, want 1", len(ups))
	}
	target := ups[0]["targets"].([]any)[0].(object)
	if target["address"] != f.down || target["failures"] != 1.0 {
		t.Errorf("after the reload the target shows %v failures at %v, want the 1 from before", target["failures"], target["address"])
	}
	var c object
	f.getJSON("/api/config", &c)
	if len(c["routes"].([]any)) != 1 {
		t.Errorf("config still shows the old routes: %v", c["routes"])
	}
}

func TestMetricsServesEveryFamily(t *testing.T) {
	f := newFixture(t)
	f.metrics.Route("/", "app").Finished(502)
	f.metrics.Target("app", f.down).Fail(metrics.Failure{Status: 502, Cause: failure.ConnectionRefused})
	resp, body := f.get("/metrics")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		`portico_requests_total{code="5xx",route="/",upstream="app"} 1`,
		`portico_failures_total{cause="connection_refused",target="` + f.down + `",upstream="app"} 1`,
		`portico_in_flight_requests{target="` + f.app + `",upstream="api"} 0`,
		`# TYPE portico_upstream_response_head_duration_seconds histogram`,
		`# TYPE portico_aborted_responses_total counter`,
		`# TYPE portico_config_reloads_total counter`,
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestUnknownPathsAreNotFound(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/nope", "/api/", "/index.html"} {
		if resp, _ := f.get(path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
	}
}

// Every URL the dashboard uses, in markup or script.
var dashboardURL = regexp.MustCompile(`(?:href|src|action)="([^"]*)"|(?:getJSON|fetch)\("([^"]*)"`)

func TestDashboardIsOnePageUsingOnlyTheAdminAPI(t *testing.T) {
	f := newFixture(t)
	resp, body := f.get("/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("dashboard: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "connect-src 'self'", "script-src 'sha256-", "style-src 'sha256-"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	page := string(body)
	if m := regexp.MustCompile(`(?i)https?:|//[a-z0-9]`).FindString(page); m != "" {
		t.Errorf("dashboard names another origin: %q", m)
	}
	matches := dashboardURL.FindAllStringSubmatch(page, -1)
	if len(matches) == 0 {
		t.Fatal("found no URL in the dashboard; has the pattern gone stale?")
	}
	fetched := map[string]bool{}
	for _, m := range matches {
		u := m[1] + m[2]
		if !strings.HasPrefix(u, "/") || strings.HasPrefix(u, "//") {
			t.Errorf("dashboard uses %q, not a path on the admin server", u)
			continue
		}
		if m[2] != "" {
			fetched[u] = true
		}
		if r, _ := f.get(u); r.StatusCode != http.StatusOK {
			t.Errorf("dashboard uses %s, which answers %s", u, r.Status)
		}
	}
	for _, api := range []string{"/api/upstreams", "/api/failures?limit=", "/api/config"} {
		if !fetched[api] {
			t.Errorf("dashboard does not fetch %s; fetched %v", api, fetched)
		}
	}
}

func TestProfilerIsServed(t *testing.T) {
	f := newFixture(t)
	resp, body := f.get("/debug/pprof/goroutine?debug=1")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Errorf("profiler: %s %.80q", resp.Status, body)
	}
}
