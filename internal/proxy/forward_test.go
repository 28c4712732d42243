package proxy

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/portico-proxy/portico/internal/h1"
)

func TestForwardFilterDropsHopByHopAndListedFields(t *testing.T) {
	h := http.Header{
		"Connection":      {"keep-alive, X-Secret, x-other"},
		"X-Secret":        {"1"},
		"X-Other":         {"1"},
		"Keep-Alive":      {"timeout=5"},
		"Te":              {"trailers"},
		"Upgrade":         {"h2c"},
		"Via":             {"1.1 edge"},
		"X-Forwarded-For": {"203.0.113.9"},
		"Accept":          {"*/*"},
	}
	var f forwardFilter
	f.reset(h)
	for name := range h {
		want := name != "Accept"
		if got := f.Drop(name); got != want {
			t.Errorf("Drop(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestForwardedFieldsTrustOnlyTrustedClients(t *testing.T) {
	in := http.Header{"X-Forwarded-For": {"203.0.113.9"}, "Forwarded": {"for=203.0.113.9"}, "X-Forwarded-Proto": {"https"}}
	client := netip.MustParseAddr("::1")
	cases := []struct {
		name    string
		trusted bool
		want    map[string]string
	}{
		{"untrusted", false, map[string]string{
			"X-Forwarded-For":   "::1",
			"X-Forwarded-Proto": "http",
			"Forwarded":         `for="[::1]";proto=http;host="example.com:8080"`,
		}},
		{"trusted", true, map[string]string{
			"X-Forwarded-For":   "203.0.113.9, ::1",
			"X-Forwarded-Proto": "https",
			"Forwarded":         `for=203.0.113.9, for="[::1]";proto=http;host="example.com:8080"`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]string{}
			for _, f := range appendForwarded(nil, in, "::1", client, tc.trusted, "http", "example.com:8080") {
				got[f.Name] = f.Value
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// BenchmarkForwardFilter is the per-field cost of deciding what goes
// upstream, for a typical browser request.
func BenchmarkForwardFilter(b *testing.B) {
	h := http.Header{
		"Connection": {"keep-alive"}, "Accept": {"text/html"}, "Accept-Encoding": {"gzip"},
		"Accept-Language": {"en"}, "Cookie": {"a=b"}, "User-Agent": {"bench"}, "Referer": {"http://x/"},
	}
	var f forwardFilter
	b.ReportAllocs()
	for b.Loop() {
		f.reset(h)
		for name := range h {
			f.Drop(name)
		}
	}
}

func TestForwardFilterAllocatesNothing(t *testing.T) {
	h := http.Header{"Connection": {"keep-alive, X-A"}, "Accept": {"*/*"}}
	var f forwardFilter
	if n := testing.AllocsPerRun(100, func() {
		f.reset(h)
		f.Drop("Accept")
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

var _ h1.FieldFilter = (*forwardFilter)(nil)

func TestSeenViaFindsThisProxyAmongTheHops(t *testing.T) {
	for _, tc := range []struct {
		vias []string
		want bool
	}{
		{[]string{"1.1 portico"}, true},
		{[]string{"1.0 edge, 1.1 PORTICO (portico/1)"}, true},
		{[]string{"1.1\tportico\t(comment)"}, true},
		{[]string{"1.1 edge", "HTTP/1.1   portico  "}, true},
		{[]string{"1.1 porticoX", "1.1 edge (portico)"}, false},
		{[]string{"portico"}, false},
		{nil, false},
	} {
		if got := seenVia(tc.vias, "portico"); got != tc.want {
			t.Errorf("seenVia(%q) = %v, want %v", tc.vias, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { seenVia([]string{"1.1 a, 1.1 b (c)"}, "portico") }); n != 0 {
		t.Errorf("seenVia allocates %v times", n)
	}
}
