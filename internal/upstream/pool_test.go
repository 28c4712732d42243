package upstream_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/faults"
	"github.com/portico-proxy/portico/internal/health"
	"github.com/portico-proxy/portico/internal/resolve"
	"github.com/portico-proxy/portico/internal/transport"
	"github.com/portico-proxy/portico/internal/upstream"
)

// clock is a settable time source for ejection timing.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 3, 1, 8, 31, 2, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// logRecorder is a slog.Handler that delivers every record's message and
// attributes, so tests can await a change of state instead of sleeping.
type logRecorder chan map[string]string

func (l logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l logRecorder) WithGroup(string) slog.Handler            { return l }
func (l logRecorder) Handle(_ context.Context, r slog.Record) error {
	fields := map[string]string{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool {
		fields[a.Key] = a.Value.String()
		return true
	})
	select {
	case l <- fields:
	default:
	}
	return nil
}

// await returns the next record whose message is msg.
func (l logRecorder) await(t *testing.T, msg string) map[string]string {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case fields := <-l:
			if fields["msg"] == msg {
				return fields
			}
		case <-timeout:
			t.Fatalf("no %q logged", msg)
		}
	}
}

type poolOptions struct {
	clock      *clock
	log        logRecorder
	resolver   *resolve.Resolver
	prohibited []netip.Prefix
}

// newPool builds the pool "app" from a YAML upstream definition, so the
// configuration keys are exercised as users write them.
func newPool(t testing.TB, upstreamYAML string, o poolOptions) *upstream.Pool {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte("upstreams:\n  app:\n"+upstreamYAML), nil)
	if err != nil {
		t.Fatalf("config:\n%v", err)
	}
	if o.clock == nil {
		o.clock = newClock()
	}
	uo := upstream.Options{Resolver: o.resolver, Limits: cfg.Limits, Prohibited: o.prohibited, Now: o.clock.Now}
	if o.log != nil {
		uo.Logger = slog.New(o.log)
	}
	pool, err := upstream.New(cfg.Upstream("app"), uo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func startServer(t *testing.T, b faults.Behavior) *faults.Server {
	t.Helper()
	s, err := faults.Start(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func closedAddr(t *testing.T) string {
	t.Helper()
	addr, err := faults.ClosedAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// get sends GET / to target and returns the response's status or the
// classified failure, the way the proxy sees an attempt.
func get(t *testing.T, target *upstream.Target) (int, *failure.Error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := target.Endpoint.RoundTrip(ctx, &transport.Request{Method: http.MethodGet, Target: "/", Host: "app"})
	if err != nil {
		fe, ok := failure.As(err)
		if !ok {
			t.Fatalf("unclassified error %v", err)
		}
		return 0, fe
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Status, nil
}

// attempt sends one request to target and reports its outcome, as the
// proxy does for every attempt.
func attempt(t *testing.T, target *upstream.Target) {
	t.Helper()
	status, fe := get(t, target)
	if fe != nil {
		target.Report(fe.Class, 0)
		return
	}
	target.Report(failure.None, status)
}

func pickURLs(t *testing.T, p *upstream.Pool, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range n {
		target, err := p.Pick(0, nil)
		if err != nil {
			t.Fatalf("Pick: %v", err)
		}
		seen[target.URL()]++
	}
	return seen
}

func TestAdmitBoundsInFlight(t *testing.T) {
	p := newPool(t, "    targets: [\"http://127.0.0.1:1\"]\n    max_in_flight: 2\n", poolOptions{})
	first, err := p.Admit()
	if err != nil {
		t.Fatal(err)
	}
	second, err := p.Admit()
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Admit()
	fe, ok := failure.As(err)
	if !ok || fe.Class != failure.ConnectionLimitReached || fe.Status() != http.StatusServiceUnavailable ||
		!fe.RetryAfter() || fe.Upstream != "app" {
		t.Fatalf("third Admit = %v, want connection_limit_reached 503 for upstream app", err)
	}
	if want := `upstream "app" already has its max_in_flight of 2 requests in flight`; fe.Details != want {
		t.Errorf("Details = %q, want %q", fe.Details, want)
	}
	if n := p.InFlight(); n != 2 {
		t.Errorf("InFlight = %d after a refusal, want 2", n)
	}
	first()
	third, err := p.Admit()
	if err != nil {
		t.Fatalf("Admit after a release: %v", err)
	}
	second()
	third()
	if n := p.InFlight(); n != 0 {
		t.Errorf("InFlight = %d after every release, want 0", n)
	}
}

func TestAdmitNeverExceedsTheLimitUnderContention(t *testing.T) {
	const limit = 3
	p := newPool(t, "    targets: [\"http://127.0.0.1:1\"]\n    max_in_flight: 3\n", poolOptions{})
	var inside, most atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				release, err := p.Admit()
				if err != nil {
					continue
				}
				n := inside.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				inside.Add(-1)
				release()
			}
		}()
	}
	wg.Wait()
	if m := most.Load(); m > limit {
		t.Errorf("%d requests admitted at once, more than max_in_flight %d", m, limit)
	}
	if n := p.InFlight(); n != 0 {
		t.Errorf("InFlight = %d at the end, want 0", n)
	}
}

func TestUnlimitedPoolCountsInFlight(t *testing.T) {
	p := newPool(t, "    targets: [\"http://127.0.0.1:1\"]\n", poolOptions{})
	release, err := p.Admit()
	if err != nil || p.InFlight() != 1 || p.MaxInFlight() != 0 {
		t.Fatalf("Admit = %v, InFlight %d, MaxInFlight %d", err, p.InFlight(), p.MaxInFlight())
	}
	release()
}

func TestAdmitAllocatesNothing(t *testing.T) {
	p := newPool(t, "    targets: [\"http://127.0.0.1:1\"]\n    max_in_flight: 10\n", poolOptions{})
	if allocs := testing.AllocsPerRun(1000, func() {
		release, err := p.Admit()
		if err != nil {
			panic(err)
		}
		release()
	}); allocs != 0 {
		t.Errorf("Admit and release allocate %.0f times, want 0", allocs)
	}
}

func TestConsecutiveFailuresEjectATarget(t *testing.T) {
	good := startServer(t, faults.OK)
	dead := closedAddr(t)
	clk, log := newClock(), make(logRecorder, 64)
	p := newPool(t, `    targets: ["`+good.URL()+`", "http://`+dead+`"]
    outlier: {consecutive_failures: 3, eject_for: 30s}
`, poolOptions{clock: clk, log: log})
	deadTarget := p.Targets()[1]

	for range 2 {
		attempt(t, deadTarget)
	}
	if s := deadTarget.Health(); s.State != health.Up || s.ConsecutiveFailures != 2 {
		t.Fatalf("after 2 failures: %+v, want up with 2 failures", s)
	}
	attempt(t, deadTarget)
	ejected := log.await(t, "upstream target ejected")
	if ejected["cause"] != "connection_refused" || ejected["target"] != "http://"+dead {
		t.Errorf("log = %v", ejected)
	}
	s := deadTarget.Health()
	if s.State != health.Ejected || !s.Since.Equal(clk.Now()) || !s.Until.Equal(clk.Now().Add(30*time.Second)) ||
		s.Cause != "connection_refused" || s.ConsecutiveFailures != 0 {
		t.Errorf("Health = %+v, want ejected now until 30s later because connection_refused", s)
	}

	if seen := pickURLs(t, p, 10); seen[good.URL()] != 10 {
		t.Errorf("picks while ejected: %v, want only %s", seen, good.URL())
	}

	clk.Advance(30 * time.Second)
	if seen := pickURLs(t, p, 10); seen["http://"+dead] == 0 {
		t.Errorf("picks after the ejection: %v, want the target back", seen)
	}
	log.await(t, "upstream target back in service")
	if s := deadTarget.Health(); s.State != health.Up || !s.Since.Equal(clk.Now()) {
		t.Errorf("Health after the ejection = %+v, want up since now", s)
	}
}

func TestRepeatEjectionsDouble(t *testing.T) {
	good := startServer(t, faults.OK)
	dead := closedAddr(t)
	clk := newClock()
	p := newPool(t, `    targets: ["`+good.URL()+`", "http://`+dead+`"]
    outlier: {consecutive_failures: 1, eject_for: 10s}
`, poolOptions{clock: clk})
	target := p.Targets()[1]
	for _, want := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 80 * time.Second} {
		attempt(t, target)
		s := target.Health()
		if s.State != health.Ejected {
			t.Fatalf("not ejected: %+v", s)
		}
		if got := s.Until.Sub(s.Since); got != want {
			t.Errorf("ejected for %s, want %s", got, want)
		}
		clk.Advance(want)
	}
	// A target that stays well for as long as its last ejection starts
	// over at eject_for.
	if s := target.Health(); s.State != health.Up {
		t.Fatalf("Health = %+v, want up", s)
	}
	clk.Advance(80 * time.Second)
	attempt(t, target)
	if s := target.Health(); s.Until.Sub(s.Since) != 10*time.Second {
		t.Errorf("ejected for %s after recovering, want 10s", s.Until.Sub(s.Since))
	}
}

func TestSuccessResetsTheFailureRun(t *testing.T) {
	flaky := startServer(t, faults.OK)
	other := startServer(t, faults.OK)
	p := newPool(t, `    targets: ["`+flaky.URL()+`", "`+other.URL()+`"]
    outlier: {consecutive_failures: 2, eject_for: 30s}
`, poolOptions{})
	target := p.Targets()[0]
	for range 3 {
		flaky.SetBehavior(faults.CloseBeforeHead)
		attempt(t, target)
		flaky.SetBehavior(faults.OK)
		attempt(t, target)
	}
	if s := target.Health(); s.State != health.Up || s.ConsecutiveFailures != 0 {
		t.Errorf("Health = %+v; alternating failures must not eject", s)
	}
}

func TestUpstream503CountsAsFailure(t *testing.T) {
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer sick.Close()
	good := startServer(t, faults.OK)
	p := newPool(t, `    targets: ["`+sick.URL+`", "`+good.URL()+`"]
    outlier: {consecutive_failures: 2, eject_for: 30s}
`, poolOptions{})
	target := p.Targets()[0]
	attempt(t, target)
	attempt(t, target)
	if s := target.Health(); s.State != health.Ejected || s.Cause != "http_status_503" {
		t.Errorf("Health = %+v, want ejected because http_status_503", s)
	}
}

func TestLastUsableTargetIsNeverEjected(t *testing.T) {
	dead := closedAddr(t)
	log := make(logRecorder, 64)
	p := newPool(t, `    targets: ["http://`+dead+`"]
    outlier: {consecutive_failures: 2, eject_for: 30s}
`, poolOptions{log: log})
	for range 5 {
		attempt(t, p.Targets()[0])
	}
	log.await(t, "upstream target not ejected: it is the last usable one")
	if s := p.Targets()[0].Health(); s.State != health.Up || s.ConsecutiveFailures != 5 || s.Cause != "connection_refused" {
		t.Errorf("Health = %+v, want up with 5 failures because connection_refused", s)
	}
	// The request goes through and fails with its real cause.
	target, err := p.Pick(0, nil)
	if err != nil {
		t.Fatalf("Pick = %v, want the last target", err)
	}
	if _, fe := get(t, target); fe == nil || fe.Class != failure.ConnectionRefused {
		t.Errorf("attempt = %v, want connection_refused", fe)
	}
}

func TestOutlierDisabled(t *testing.T) {
	good := startServer(t, faults.OK)
	dead := closedAddr(t)
	p := newPool(t, `    targets: ["`+good.URL()+`", "http://`+dead+`"]
    outlier: {consecutive_failures: 0}
`, poolOptions{})
	for range 10 {
		attempt(t, p.Targets()[1])
	}
	if s := p.Targets()[1].Health(); s.State != health.Up {
		t.Errorf("Health = %+v with ejection off, want up", s)
	}
}

func TestActiveChecksTakeATargetDownAndBack(t *testing.T) {
	var status atomic.Int64
	status.Store(http.StatusOK)
	requests := make(chan *http.Request, 100)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case requests <- r:
		default:
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer app.Close()
	log := make(logRecorder, 64)
	p := newPool(t, `    targets: ["`+app.URL+`"]
    health_check:
      path: /healthz?deep=1
      interval: 20ms
      timeout: 20ms
      healthy_after: 2
      unhealthy_after: 2
      expect_status: 200-299
`, poolOptions{log: log})

	r := <-requests
	if r.URL.RequestURI() != "/healthz?deep=1" || r.Host != strings.TrimPrefix(app.URL, "http://") ||
		r.Header.Get("User-Agent") != "portico-health-check" {
		t.Errorf("check sent %s %s Host %s User-Agent %q", r.Method, r.URL.RequestURI(), r.Host, r.Header.Get("User-Agent"))
	}

	status.Store(http.StatusServiceUnavailable)
	down := log.await(t, "upstream target down")
	if down["cause"] != "http_status_503" || down["upstream"] != "app" {
		t.Errorf("log = %v", down)
	}
	s := p.Targets()[0].Health()
	if s.State != health.Down || s.Cause != "http_status_503" || s.Since.IsZero() {
		t.Errorf("Health = %+v, want down because http_status_503", s)
	}
	_, err := p.Pick(0, nil)
	fe, ok := failure.As(err)
	if !ok || fe.Class != failure.DestinationUnavailable || fe.Status() != http.StatusServiceUnavailable || fe.Upstream != "app" {
		t.Fatalf("Pick = %v, want destination_unavailable", err)
	}
	wantDetails := `all 1 targets of upstream "app" are out of service: ` + app.URL + " down since "
	if !strings.HasPrefix(fe.Details, wantDetails) || !strings.HasSuffix(fe.Details, "(http_status_503)") {
		t.Errorf("Details = %q, want it to start %q and name the cause", fe.Details, wantDetails)
	}
	// Two checks 20ms apart bring it back.
	if fe.RetryAfterSeconds != 1 {
		t.Errorf("RetryAfterSeconds = %d, want 1", fe.RetryAfterSeconds)
	}

	status.Store(http.StatusNoContent)
	log.await(t, "upstream target up")
	if _, err := p.Pick(0, nil); err != nil {
		t.Errorf("Pick after recovery: %v", err)
	}
	if s := p.Targets()[0].Health(); s.State != health.Up {
		t.Errorf("Health = %+v, want up", s)
	}
}

func TestActiveCheckNamesTheConnectionFailure(t *testing.T) {
	dead := closedAddr(t)
	log := make(logRecorder, 64)
	p := newPool(t, `    targets: ["http://`+dead+`"]
    health_check: {interval: 20ms, timeout: 20ms, unhealthy_after: 1}
`, poolOptions{log: log})
	if down := log.await(t, "upstream target down"); down["cause"] != "connection_refused" {
		t.Errorf("log = %v, want cause connection_refused", down)
	}
	if s := p.Targets()[0].Health(); s.Cause != "connection_refused" {
		t.Errorf("Health = %+v, want cause connection_refused", s)
	}
}

func TestPassingChecksEndAnEjection(t *testing.T) {
	flaky := startServer(t, faults.OK)
	good := startServer(t, faults.OK)
	log := make(logRecorder, 256)
	p := newPool(t, `    targets: ["`+flaky.URL()+`", "`+good.URL()+`"]
    health_check: {interval: 20ms, timeout: 20ms, healthy_after: 2}
    outlier: {consecutive_failures: 1, eject_for: 1h}
`, poolOptions{log: log})
	target := p.Targets()[0]
	target.Report(failure.ConnectionTerminated, 0)
	if s := target.Health(); s.State != health.Ejected {
		t.Fatalf("Health = %+v, want ejected", s)
	}
	back := log.await(t, "upstream target back in service")
	if back["reason"] != "health checks passed" {
		t.Errorf("log = %v", back)
	}
	if s := target.Health(); s.State != health.Up {
		t.Errorf("Health = %+v, want up", s)
	}
}

func TestEveryTargetEjectedOrDown(t *testing.T) {
	a, b, c := closedAddr(t), closedAddr(t), closedAddr(t)
	clk := newClock()
	p := newPool(t, `    targets: ["http://`+a+`", "http://`+b+`", "http://`+c+`"]
    outlier: {consecutive_failures: 1, eject_for: 30s}
`, poolOptions{clock: clk})
	for _, target := range p.Targets() {
		attempt(t, target)
	}
	// The last one stays: ejection never empties a pool. The caller's
	// filter, which a retry uses to pass over tried targets, refuses it.
	last := p.Targets()[2]
	clk.Advance(10 * time.Second)
	_, err := p.Pick(0, func(i int) bool { return p.Targets()[i] != last })
	fe, ok := failure.As(err)
	if !ok || fe.Class != failure.DestinationUnavailable {
		t.Fatalf("Pick = %v, want destination_unavailable", err)
	}
	want := `2 of 3 targets of upstream "app" are out of service and the rest were already tried: ` +
		"http://" + a + " ejected since 2025-03-01T08:31:02Z until 2025-03-01T08:31:32Z (connection_refused); " +
		"http://" + b + " ejected since 2025-03-01T08:31:02Z until 2025-03-01T08:31:32Z (connection_refused)"
	if fe.Details != want {
		t.Errorf("Details =\n%s\nwant\n%s", fe.Details, want)
	}
	if fe.RetryAfterSeconds != 20 {
		t.Errorf("RetryAfterSeconds = %d, want the 20s until the first ejection ends", fe.RetryAfterSeconds)
	}
}

func TestPickAllocatesNothingWithATargetOut(t *testing.T) {
	good := startServer(t, faults.OK)
	dead := closedAddr(t)
	p := newPool(t, `    targets: ["`+good.URL()+`", "http://`+dead+`"]
    outlier: {consecutive_failures: 1, eject_for: 1h}
`, poolOptions{})
	attempt(t, p.Targets()[1])
	tried := p.Targets()[1]
	filter := func(i int) bool { return p.Targets()[i] != tried }
	if allocs := testing.AllocsPerRun(1000, func() {
		if _, err := p.Pick(0, filter); err != nil {
			panic(err)
		}
	}); allocs != 0 {
		t.Errorf("Pick allocates %.0f times with an ejected target, want 0", allocs)
	}
}

func TestTargetPolicyProhibitsAddresses(t *testing.T) {
	app := startServer(t, faults.OK)
	port := app.Addr()[strings.LastIndexByte(app.Addr(), ':')+1:]
	dns, err := faults.StartDNS(map[string]faults.DNSAnswer{
		"metadata.test.": {Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.3")}},
		"mixed.test.":    {Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	resolver, err := resolve.New(resolve.Config{Servers: []string{dns.Addr()}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, target, deny, wantDetails string
	}{
		{
			name: "IP literal", target: "http://127.0.0.1:" + port, deny: "127.0.0.0/8",
			wantDetails: "127.0.0.1 is in target_policy.deny 127.0.0.0/8",
		},
		{
			name: "IPv4-mapped IPv6 literal", target: "http://[::ffff:127.0.0.1]:" + port, deny: "127.0.0.1/32",
			wantDetails: "::ffff:127.0.0.1 is in target_policy.deny 127.0.0.1/32",
		},
		{
			name: "every address of a name", target: "http://metadata.test:" + port, deny: "127.0.0.0/8",
			wantDetails: "metadata.test resolved to 127.0.0.1, which is in target_policy.deny 127.0.0.0/8 (all 2 of its addresses are denied)",
		},
		{
			name: "denied address skipped", target: "http://mixed.test:" + port, deny: "127.0.0.2/32",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPool(t, `    targets: ["`+tc.target+`"]`+"\n", poolOptions{
				resolver: resolver, prohibited: []netip.Prefix{netip.MustParsePrefix(tc.deny)},
			})
			before := app.RequestCount()
			status, fe := get(t, p.Targets()[0])
			if tc.wantDetails == "" {
				if fe != nil || status != http.StatusOK {
					t.Fatalf("got %d %v, want 200 through the allowed address", status, fe)
				}
				return
			}
			if fe == nil {
				t.Fatalf("got %d, want destination_ip_prohibited", status)
			}
			if fe.Class != failure.DestinationIPProhibited || fe.Status() != http.StatusBadGateway ||
				fe.Details != tc.wantDetails || fe.Upstream != "app" || fe.RequestWritten {
				t.Errorf("got %s %d %q upstream %q written %v, want destination_ip_prohibited 502 %q",
					fe.Class, fe.Status(), fe.Details, fe.Upstream, fe.RequestWritten, tc.wantDetails)
			}
			if app.RequestCount() != before {
				t.Error("the upstream was contacted")
			}
		})
	}
}

func TestCloseStopsHealthChecks(t *testing.T) {
	app := startServer(t, faults.Silent)
	cfg, err := config.Parse("test.yaml", []byte(`
upstreams:
  app:
    targets: ["`+app.URL()+`"]
    health_check: {interval: 1h, timeout: 1h}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := upstream.New(cfg.Upstream("app"), upstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	<-app.Requests() // the first check is waiting for an answer that never comes
	done := make(chan struct{})
	go func() {
		pool.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not abandon a check under way")
	}
}

func BenchmarkPick(b *testing.B) {
	targets := `    targets: ["http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3", "http://127.0.0.1:4"]
    outlier: {consecutive_failures: 1, eject_for: 1h}
`
	b.Run("all up", func(b *testing.B) {
		p := newPool(b, targets, poolOptions{})
		b.ReportAllocs()
		for b.Loop() {
			p.Pick(0, nil)
		}
	})
	b.Run("one ejected", func(b *testing.B) {
		p := newPool(b, targets, poolOptions{})
		p.Targets()[1].Report(failure.ConnectionRefused, 0)
		b.ReportAllocs()
		for b.Loop() {
			p.Pick(0, nil)
		}
	})
}

// TestRetryOnRetriesOnlyWhatIsSafe: which failures send a request to
// another target, for which requests.
func TestRetryOnRetriesOnlyWhatIsSafe(t *testing.T) {
	pool := newPool(t, `    targets: ["http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"]
    retries: {attempts: 3}
`, poolOptions{})
	first := pool.Targets()[0]
	triedFirst := func(i int) bool { return i == 0 }
	failed := func(c failure.Class, p failure.Phase, written bool) error {
		fe := failure.New(c, p, nil)
		fe.Upstream, fe.Target, fe.RequestWritten = "app", "127.0.0.1:1", written
		return fe
	}
	tests := []struct {
		name    string
		err     error
		method  string
		hasBody bool
		attempt int
		retry   bool
		why     string
	}{
		{"refused, POST with a body", failed(failure.ConnectionRefused, failure.PhaseConnect, false), "POST", true, 1, true, ""},
		{"TLS failure", failed(failure.TLSCertificateError, failure.PhaseTLS, false), "GET", false, 1, true, ""},
		{"closed after sending a GET", failed(failure.ConnectionTerminated, failure.PhaseReadHead, true), "GET", false, 1, true, ""},
		{"head timeout after sending a GET", failed(failure.ConnectionReadTimeout, failure.PhaseReadHead, true), "GET", false, 1, true, ""},
		{"closed after sending a POST", failed(failure.ConnectionTerminated, failure.PhaseReadHead, true), "POST", false, 1, false, ""},
		{"closed after sending a PUT with a body", failed(failure.ConnectionTerminated, failure.PhaseReadHead, true), "PUT", true, 1, false, ""},
		{"invalid response to a GET", failed(failure.HTTPProtocolError, failure.PhaseReadHead, true), "GET", false, 1, false, ""},
		{"whole-request deadline", failed(failure.HTTPResponseTimeout, failure.PhaseConnect, false), "GET", false, 1, false, ""},
		{"not a target's failure", errors.New("client left"), "GET", false, 1, false, ""},
		{"attempts used up", failed(failure.ConnectionRefused, failure.PhaseConnect, false), "GET", false, 3, false, "not retried: all 3 attempts made"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, why := pool.RetryOn(tt.err, tt.method, tt.hasBody, tt.attempt, first, triedFirst)
			if (next != nil) != tt.retry || why != tt.why {
				t.Fatalf("RetryOn: next %v, why %q; want retry %v, why %q", next, why, tt.retry, tt.why)
			}
			if next != nil && next != pool.Targets()[1] {
				t.Errorf("retried on %s, want the next target in order, %s", next.URL(), pool.Targets()[1].URL())
			}
		})
	}
}
