package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/upstream"
)

const testConfig = `
listen: "127.0.0.1:0"
upstreams:
  app:
    targets: ["http://127.0.0.1:3001", "http://127.0.0.1:3002"]
routes:
  - path_prefix: "/api/"
    upstream: app
`

// testPools builds the pools of testConfig, closed when the test ends.
func testPools(t *testing.T) []*upstream.Pool {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(testConfig), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	var pools []*upstream.Pool
	for _, u := range cfg.Upstreams {
		p, err := upstream.New(u, upstream.Options{Limits: cfg.Limits})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		pools = append(pools, p)
	}
	return pools
}

// scrape fetches the exposition over a real loopback server.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s\n%s", resp.Status, body)
	}
	return string(body)
}

// hasSample reports whether text has the sample line want; a want ending
// in a space matches any value.
func hasSample(text, want string) bool {
	if strings.HasSuffix(want, " ") {
		return strings.Contains(text, "\n"+want)
	}
	return strings.Contains(text, "\n"+want+"\n")
}

func TestScrapeShowsEveryFamilyWithItsLabels(t *testing.T) {
	pools := testPools(t)
	m := New(Options{Pools: func() []*upstream.Pool { return pools }})
	route := m.Route("/api/", "app")
	unrouted := m.Route("", "")
	target := m.Target("app", "127.0.0.1:3001")

	route.Finished(200)
	route.Finished(200)
	route.Finished(502)
	route.Finished(499)
	route.Finished(799)
	target.Response(3 * time.Millisecond)
	target.Fail(Failure{RequestID: "r1", Route: "/api/", Status: 502, Cause: failure.ConnectionRefused, Details: "refused"})
	target.Abort(Failure{RequestID: "r2", Route: "/api/", Status: 200, Cause: failure.HTTPResponseIncomplete})
	route.Fail(Failure{RequestID: "r3", Status: 503, Cause: failure.DestinationUnavailable})
	unrouted.Fail(Failure{RequestID: "r4", Status: 404, Cause: failure.DestinationNotFound})
	unrouted.Finished(404)
	pools[0].Targets()[1].Acquire()
	defer pools[0].Targets()[1].Release()
	m.Reload(errors.New("bad file"))

	text := scrape(t, m)
	for _, want := range []string{
		`portico_requests_total{code="2xx",route="/api/",upstream="app"} 2`,
		`portico_requests_total{code="5xx",route="/api/",upstream="app"} 1`,
		`portico_requests_total{code="4xx",route="/api/",upstream="app"} 1`,
		`portico_requests_total{code="other",route="/api/",upstream="app"} 1`,
		`portico_requests_total{code="1xx",route="/api/",upstream="app"} 0`,
		`portico_requests_total{code="4xx",route="",upstream=""} 1`,
		`portico_failures_total{cause="connection_refused",target="127.0.0.1:3001",upstream="app"} 1`,
		`portico_failures_total{cause="http_response_incomplete",target="127.0.0.1:3001",upstream="app"} 1`,
		`portico_failures_total{cause="dns_error",target="127.0.0.1:3001",upstream="app"} 0`,
		`portico_failures_total{cause="destination_unavailable",target="",upstream="app"} 1`,
		`portico_failures_total{cause="destination_not_found",target="",upstream=""} 1`,
		`portico_aborted_responses_total{cause="http_response_incomplete",target="127.0.0.1:3001",upstream="app"} 1`,
		`portico_aborted_responses_total{cause="connection_read_timeout",target="127.0.0.1:3001",upstream="app"} 0`,
		`portico_upstream_response_head_duration_seconds_bucket{upstream="app",le="0.005"} 1`,
		`portico_upstream_response_head_duration_seconds_count{upstream="app"} 1`,
		`portico_in_flight_requests{target="127.0.0.1:3001",upstream="app"} 0`,
		`portico_in_flight_requests{target="127.0.0.1:3002",upstream="app"} 1`,
		`portico_config_reloads_total{result="failure"} 1`,
		`portico_config_reloads_total{result="success"} 0`,
		`portico_config_last_reload_successful 0`,
		`portico_config_last_reload_success_timestamp_seconds `,
		`go_goroutines `,
	} {
		if !hasSample(text, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	// A target exports only the causes met on the way to an upstream,
	// and the entries before a target only the others.
	for _, unwanted := range []string{
		`portico_failures_total{cause="destination_not_found",target="127.0.0.1:3001"`,
		`portico_failures_total{cause="connection_refused",target="",upstream="app"}`,
		`portico_aborted_responses_total{cause="destination_unavailable"`,
	} {
		if strings.Contains(text, unwanted) {
			t.Errorf("scrape has %s", unwanted)
		}
	}
}

func TestReloadSuccessRestoresTheGauge(t *testing.T) {
	m := New(Options{})
	m.Reload(errors.New("bad file"))
	m.Reload(nil)
	text := scrape(t, m)
	for _, want := range []string{
		`portico_config_reloads_total{result="failure"} 1`,
		`portico_config_reloads_total{result="success"} 1`,
		`portico_config_last_reload_successful 1`,
	} {
		if !hasSample(text, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if strings.Contains(text, "portico_in_flight_requests") {
		t.Error("in-flight exported without pools")
	}
}

func TestRebindingKeepsTheCountsAcrossReloads(t *testing.T) {
	m := New(Options{})
	m.Target("app", "127.0.0.1:3001").Fail(Failure{Status: 502, Cause: failure.ConnectionRefused})
	again := m.Target("app", "127.0.0.1:3001")
	again.Fail(Failure{Status: 502, Cause: failure.ConnectionRefused})
	s := m.Stats("app", "127.0.0.1:3001")
	if s.Failures != 2 || s.Consecutive != 2 {
		t.Fatalf("failures %d, consecutive %d; want 2 and 2 from both bindings", s.Failures, s.Consecutive)
	}
	m.Route("/", "app").Finished(200)
	m.Route("/", "app").Finished(200)
	if !hasSample(scrape(t, m), `portico_requests_total{code="2xx",route="/",upstream="app"} 2`) {
		t.Error("route counts not shared between bindings")
	}
}

func TestStreakStartsAtFirstFailureAndEndsWithAResponse(t *testing.T) {
	m := New(Options{})
	target := m.Target("app", "127.0.0.1:3001")
	before := time.Now()
	target.Fail(Failure{RequestID: "a", Status: 504, Cause: failure.ConnectionTimeout})
	first := m.Stats("app", "127.0.0.1:3001").FailingSince
	target.Fail(Failure{RequestID: "b", Status: 502, Cause: failure.ConnectionRefused, Details: "refused"})

	s := m.Stats("app", "127.0.0.1:3001")
	if s.FailingSince.Before(before) || !s.FailingSince.Equal(first) {
		t.Errorf("failing since %v, want the first failure's time %v", s.FailingSince, first)
	}
	if s.Consecutive != 2 || s.Failures != 2 {
		t.Errorf("consecutive %d, failures %d; want 2, 2", s.Consecutive, s.Failures)
	}
	if s.Last.RequestID != "b" || s.Last.Cause != failure.ConnectionRefused || s.Last.Upstream != "app" || s.Last.Target != "127.0.0.1:3001" {
		t.Errorf("last failure %+v, want request b's", s.Last)
	}
	wantCauses := []CauseCount{{Cause: failure.ConnectionTimeout, Count: 1}, {Cause: failure.ConnectionRefused, Count: 1}}
	if len(s.ByCause) != 2 || s.ByCause[0] != wantCauses[1] || s.ByCause[1] != wantCauses[0] {
		t.Errorf("by cause %+v, want %+v in taxonomy order", s.ByCause, wantCauses)
	}

	target.Response(time.Millisecond)
	s = m.Stats("app", "127.0.0.1:3001")
	if !s.FailingSince.IsZero() || s.Consecutive != 0 {
		t.Errorf("after a response: failing since %v, consecutive %d; want none", s.FailingSince, s.Consecutive)
	}
	if s.Last.RequestID != "b" || s.Responses != 1 {
		t.Errorf("after a response the last failure (%q) and the response count (%d) must remain", s.Last.RequestID, s.Responses)
	}
	target.Abort(Failure{RequestID: "c", Status: 200, Cause: failure.HTTPResponseIncomplete})
	s = m.Stats("app", "127.0.0.1:3001")
	if s.Requests != 3 || s.Failures != 3 || s.Aborts != 1 {
		t.Errorf("requests %d, failures %d, aborts %d; want 3 attempts (two failed, one answered then aborted)", s.Requests, s.Failures, s.Aborts)
	}
}

func TestFailuresBeforeATargetHaveNoStreak(t *testing.T) {
	m := New(Options{})
	m.Route("/", "app").Fail(Failure{Status: 503, Cause: failure.DestinationUnavailable})
	s := m.Stats("app", "")
	if s.Failures != 1 || s.Last.Route != "/" || s.Last.Upstream != "app" {
		t.Errorf("stats %+v, want one failure of route / in app", s)
	}
	if s.Consecutive != 0 || !s.FailingSince.IsZero() {
		t.Errorf("a streak (%d since %v) where no target could end it", s.Consecutive, s.FailingSince)
	}
}

func TestRecentKeepsTheNewestFirstAndIsBounded(t *testing.T) {
	m := New(Options{})
	target := m.Target("app", "127.0.0.1:3001")
	for i := range recentFailures + 50 {
		target.Fail(Failure{Status: 502 + i, Cause: failure.ConnectionRefused})
	}
	got := m.Recent(1000)
	if len(got) != recentFailures {
		t.Fatalf("%d failures kept, want %d", len(got), recentFailures)
	}
	if got[0].Status != 502+recentFailures+49 || got[len(got)-1].Status != 502+50 {
		t.Errorf("kept statuses %d..%d, want the newest first", got[0].Status, got[len(got)-1].Status)
	}
	if n := len(m.Recent(3)); n != 3 {
		t.Errorf("limit 3 gave %d", n)
	}
	if n := len(m.Recent(-1)); n != 0 {
		t.Errorf("limit -1 gave %d", n)
	}
	if n := len(New(Options{}).Recent(10)); n != 0 {
		t.Errorf("an empty record gave %d", n)
	}
}

func TestPerRequestMethodsDoNotAllocate(t *testing.T) {
	m := New(Options{})
	route := m.Route("/api/", "app")
	target := m.Target("app", "127.0.0.1:3001")
	f := Failure{RequestID: "4d5712254410-4", Route: "/api/", Status: 502, Cause: failure.ConnectionRefused, Details: "connection_refused to 127.0.0.1:3001"}
	route.Finished(799) // binds the rare "other" class once
	tests := []struct {
		name string
		run  func()
	}{
		{"Finished", func() { route.Finished(200) }},
		{"FinishedOther", func() { route.Finished(799) }},
		{"Response", func() { target.Response(time.Millisecond) }},
		{"ResponseEndingAStreak", func() { target.Fail(f); target.Response(time.Millisecond) }},
		{"TargetFail", func() { target.Fail(f) }},
		{"Abort", func() { target.Abort(f) }},
		{"RouteFail", func() { route.Fail(f) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, tt.run); got != 0 {
				t.Errorf("%v allocations per call, want 0", got)
			}
		})
	}
}

func BenchmarkResponse(b *testing.B) {
	target := New(Options{}).Target("app", "127.0.0.1:3001")
	b.ReportAllocs()
	for b.Loop() {
		target.Response(time.Millisecond)
	}
}

func BenchmarkFail(b *testing.B) {
	target := New(Options{}).Target("app", "127.0.0.1:3001")
	f := Failure{RequestID: "4d5712254410-4", Route: "/api/", Status: 502, Cause: failure.ConnectionRefused}
	b.ReportAllocs()
	for b.Loop() {
		target.Fail(f)
	}
}
