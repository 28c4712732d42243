package policy_test

import (
	"errors"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/policy"
)

var start = time.Date(2025, 3, 1, 8, 31, 2, 0, time.UTC)

func prefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

func TestRouteWithoutPolicyIsNil(t *testing.T) {
	p := policy.New(&config.Route{Upstream: "app", PathPrefix: "/"})
	if p != nil {
		t.Fatalf("New = %+v, want nil for a route without policy", p)
	}
	if fe := p.Check(netip.MustParseAddr("192.0.2.1"), start); fe != nil {
		t.Errorf("nil Policy Check = %v, want nil", fe)
	}
	if n := p.TrackedClients(); n != 0 {
		t.Errorf("nil Policy TrackedClients = %d", n)
	}
}

func TestAddressRules(t *testing.T) {
	for _, tc := range []struct {
		name        string
		allow, deny []netip.Prefix
		client      string
		wantDetails string // "" means served
	}{
		{"allow admits inside", prefixes("10.0.0.0/8"), nil, "10.1.2.3", ""},
		{"allow refuses outside", prefixes("10.0.0.0/8"), nil, "192.0.2.1", "client address is outside every allow rule of the route"},
		{"deny refuses inside", nil, prefixes("192.0.2.0/24"), "192.0.2.1", "client address is inside deny rule 192.0.2.0/24"},
		{"deny admits outside", nil, prefixes("192.0.2.0/24"), "198.51.100.1", ""},
		{"deny wins inside allow", prefixes("10.0.0.0/8"), prefixes("10.9.0.0/16"), "10.9.1.1", "client address is inside deny rule 10.9.0.0/16"},
		{"bare IP rule", nil, prefixes("203.0.113.7/32"), "203.0.113.7", "client address is inside deny rule 203.0.113.7/32"},
		{"IPv4-mapped client matches IPv4 rule", nil, prefixes("203.0.113.0/24"), "::ffff:203.0.113.9", "client address is inside deny rule 203.0.113.0/24"},
		{"IPv6 allow", prefixes("2001:db8::/32"), nil, "2001:db8::1", ""},
		{"IPv6 client outside IPv4 allow", prefixes("10.0.0.0/8"), nil, "2001:db8::1", "client address is outside every allow rule of the route"},
		{"unknown client outside allow", prefixes("0.0.0.0/0"), nil, "", "client address is outside every allow rule of the route"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := policy.New(&config.Route{Allow: tc.allow, Deny: tc.deny})
			var client netip.Addr
			if tc.client != "" {
				client = netip.MustParseAddr(tc.client)
			}
			fe := p.Check(client, start)
			if tc.wantDetails == "" {
				if fe != nil {
					t.Fatalf("Check = %v, want served", fe)
				}
				return
			}
			if fe == nil {
				t.Fatal("Check = nil, want 403")
			}
			if fe.Class != failure.HTTPRequestDenied || fe.Status() != http.StatusForbidden || fe.Details != tc.wantDetails {
				t.Errorf("got %s %d %q, want http_request_denied 403 %q", fe.Class, fe.Status(), fe.Details, tc.wantDetails)
			}
			if fe.RetryAfter() {
				t.Errorf("a 403 must not carry Retry-After")
			}
		})
	}
}

func TestMaintenance(t *testing.T) {
	p := policy.New(&config.Route{Maintenance: true, MaintenanceRetryAfter: 10*time.Minute + 500*time.Millisecond})
	fe := p.Check(netip.MustParseAddr("192.0.2.1"), start)
	if fe == nil {
		t.Fatal("Check = nil, want 503")
	}
	if fe.Class != failure.ProxyInternalResponse || fe.Status() != http.StatusServiceUnavailable || !fe.RetryAfter() {
		t.Errorf("got %s %d retry-after %v, want proxy_internal_response 503 with Retry-After", fe.Class, fe.Status(), fe.RetryAfter())
	}
	if fe.Details != "route is in maintenance" || fe.RetryAfterSeconds != 601 {
		t.Errorf("details %q retry after %ds, want \"route is in maintenance\" 601s", fe.Details, fe.RetryAfterSeconds)
	}
	if got := policy.New(&config.Route{Maintenance: true}).Check(netip.Addr{}, start); got.RetryAfterSeconds != 0 {
		t.Errorf("RetryAfterSeconds = %d without maintenance_retry_after, want 0 (the writer's default)", got.RetryAfterSeconds)
	}
}

func TestDeniedClientSeesForbiddenNotMaintenance(t *testing.T) {
	p := policy.New(&config.Route{Maintenance: true, Deny: prefixes("192.0.2.0/24")})
	if fe := p.Check(netip.MustParseAddr("192.0.2.1"), start); fe == nil || fe.Status() != http.StatusForbidden {
		t.Errorf("Check = %v, want 403 before maintenance", fe)
	}
}

func rateLimited(requests, burst int, per time.Duration) *policy.Policy {
	return policy.New(&config.Route{RateLimit: &config.RateLimit{Requests: requests, Per: per, Burst: burst}})
}

func TestRateLimitAllowsBurstThenRefills(t *testing.T) {
	p := rateLimited(2, 3, time.Second) // a token every 500ms, 3 at once
	client := netip.MustParseAddr("192.0.2.1")
	for i := range 3 {
		if fe := p.Check(client, start); fe != nil {
			t.Fatalf("request %d of the burst: %v", i+1, fe)
		}
	}
	fe := p.Check(client, start)
	if fe == nil {
		t.Fatal("fourth request at once was served, want 429")
	}
	if fe.Class != failure.HTTPRequestDenied || fe.Status() != http.StatusTooManyRequests ||
		fe.Details != "rate limited" || !fe.RetryAfter() || fe.RetryAfterSeconds != 1 {
		t.Errorf("got %s %d %q retry-after %v/%ds, want http_request_denied 429 \"rate limited\" Retry-After 1",
			fe.Class, fe.Status(), fe.Details, fe.RetryAfter(), fe.RetryAfterSeconds)
	}
	if fe := p.Check(client, start.Add(499*time.Millisecond)); fe == nil {
		t.Error("served 499ms later, before a token refilled")
	}
	if fe := p.Check(client, start.Add(500*time.Millisecond)); fe != nil {
		t.Errorf("refused 500ms later, when one token had refilled: %v", fe)
	}
	if fe := p.Check(client, start.Add(500*time.Millisecond)); fe == nil {
		t.Error("served twice on one refilled token")
	}
	// A long quiet spell refills the bucket to the burst, no further.
	later := start.Add(time.Hour)
	for i := range 3 {
		if fe := p.Check(client, later); fe != nil {
			t.Fatalf("request %d after an hour: %v", i+1, fe)
		}
	}
	if fe := p.Check(client, later); fe == nil {
		t.Error("the bucket filled past its burst")
	}
}

func TestRateLimitRetryAfterCountsWholeSeconds(t *testing.T) {
	p := rateLimited(1, 1, time.Minute)
	client := netip.MustParseAddr("2001:db8::1")
	p.Check(client, start)
	fe := p.Check(client, start.Add(20*time.Second+time.Millisecond))
	if fe == nil || fe.RetryAfterSeconds != 40 {
		t.Fatalf("Check = %v, want Retry-After 40 (39.999s rounded up)", fe)
	}
}

func TestRateLimitIsPerClient(t *testing.T) {
	p := rateLimited(1, 1, time.Second)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	if p.Check(a, start) != nil || p.Check(b, start) != nil {
		t.Fatal("first request of each client refused")
	}
	if p.Check(a, start) == nil || p.Check(b, start) == nil {
		t.Error("second request of a client served")
	}
	// The same client over IPv4 and IPv4-mapped IPv6 shares one bucket.
	if p.Check(netip.MustParseAddr("::ffff:192.0.2.1"), start) == nil {
		t.Error("an IPv4-mapped address escaped its IPv4 bucket")
	}
}

func TestRateLimitExactUnderContention(t *testing.T) {
	const burst = 50
	p := rateLimited(1, burst, time.Hour)
	client := netip.MustParseAddr("192.0.2.1")
	var served atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if p.Check(client, start) == nil {
					served.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := served.Load(); n != burst {
		t.Errorf("served %d of 800 concurrent requests, want exactly the burst %d", n, burst)
	}
}

func TestRateLimitStateIsBounded(t *testing.T) {
	p := rateLimited(1, 1, time.Hour)
	// Four times the bound, each address leaving an empty bucket behind
	// that an hour would be needed to refill.
	for i := range 4 * policy.MaxTrackedClients {
		client := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if fe := p.Check(client, start); fe != nil {
			t.Fatalf("client %d refused on its first request: %v", i, fe)
		}
	}
	if n := p.TrackedClients(); n > policy.MaxTrackedClients {
		t.Errorf("tracking %d clients, more than the bound %d", n, policy.MaxTrackedClients)
	}
	// Refilled buckets are forgotten first: after the hour, the flood's
	// state gives way to new clients without evicting a limited one.
	limited := netip.MustParseAddr("192.0.2.1")
	later := start.Add(time.Hour)
	p.Check(limited, later)
	for i := range 2 * policy.MaxTrackedClients {
		p.Check(netip.AddrFrom4([4]byte{172, byte(i >> 16), byte(i >> 8), byte(i)}), later)
	}
	if n := p.TrackedClients(); n > policy.MaxTrackedClients {
		t.Errorf("tracking %d clients, more than the bound %d", n, policy.MaxTrackedClients)
	}
}

func TestCheckAllocatesNothing(t *testing.T) {
	p := policy.New(&config.Route{
		Allow:     prefixes("10.0.0.0/8", "2001:db8::/32"),
		Deny:      prefixes("10.9.0.0/16"),
		RateLimit: &config.RateLimit{Requests: 1000000, Per: time.Millisecond, Burst: 1000000},
	})
	client := netip.MustParseAddr("10.1.2.3")
	now := start
	if allocs := testing.AllocsPerRun(1000, func() {
		if fe := p.Check(client, now); fe != nil {
			panic(errors.New(fe.Error()))
		}
	}); allocs != 0 {
		t.Errorf("Check allocates %.0f times per served request, want 0", allocs)
	}
}

func BenchmarkCheck(b *testing.B) {
	b.Run("no policy", func(b *testing.B) {
		var p *policy.Policy
		client := netip.MustParseAddr("10.1.2.3")
		b.ReportAllocs()
		for b.Loop() {
			p.Check(client, start)
		}
	})
	b.Run("rules and rate limit", func(b *testing.B) {
		p := policy.New(&config.Route{
			Allow:     prefixes("10.0.0.0/8", "2001:db8::/32"),
			Deny:      prefixes("10.9.0.0/16", "10.8.0.0/16"),
			RateLimit: &config.RateLimit{Requests: 1000000, Per: time.Millisecond, Burst: 1000000},
		})
		client := netip.MustParseAddr("10.1.2.3")
		now := start
		b.ReportAllocs()
		for b.Loop() {
			// A microsecond per request stays well inside the limit.
			now = now.Add(time.Microsecond)
			if p.Check(client, now) != nil {
				b.Fatal("refused")
			}
		}
	})
}
