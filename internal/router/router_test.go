package router

import (
	"fmt"
	"strings"
	"testing"
)

// site is a route table exercising every precedence rule.
var site = []Route{
	{Host: "", PathPrefix: "/"},                       // 0 catch-all
	{Host: "", PathPrefix: "/static/"},                // 1
	{Host: "example.com", PathPrefix: "/"},            // 2
	{Host: "example.com", PathPrefix: "/api/"},        // 3
	{Host: "example.com", PathPrefix: "/api/v2/"},     // 4
	{Host: "*.example.com", PathPrefix: "/"},          // 5
	{Host: "*.example.com", PathPrefix: "/admin"},     // 6
	{Host: "*.eu.example.com", PathPrefix: "/shop/"},  // 7
	{Host: "api.example.com", PathPrefix: "/v1/"},     // 8
	{Host: "::1", PathPrefix: "/"},                    // 9
	{Host: "Mixed.Example.ORG.", PathPrefix: "/"},     // 10
	{Host: "*.internal", PathPrefix: "/health"},       // 11
	{Host: "files.example.net", PathPrefix: "/pub/"},  // 12
	{Host: "*.example.net", PathPrefix: "/pub/cache"}, // 13
}

func TestMatchPrecedence(t *testing.T) {
	r := New(site)
	tests := []struct {
		name string
		host string
		path string
		want int // -1: no route
	}{
		{"exact host beats wildcard and any", "example.com", "/", 2},
		{"longest prefix within exact host", "example.com", "/api/v2/users", 4},
		{"shorter prefix within exact host", "example.com", "/api/v1", 3},
		{"prefix is a plain byte prefix", "example.com", "/api/v2/", 4},
		{"no boundary: /admin matches /administrator", "shop.example.com", "/administrator", 6},
		{"wildcard matches one level", "www.example.com", "/", 5},
		{"wildcard matches any depth", "a.b.c.example.com", "/admin/x", 6},
		{"longer wildcard beats shorter", "de.eu.example.com", "/shop/cart", 7},
		{"longer wildcard without matching prefix falls back to shorter", "de.eu.example.com", "/other", 5},
		{"wildcard does not match its apex", "example.com", "/admin", 2},
		{"exact host without matching prefix falls back to wildcard", "api.example.com", "/admin", 6},
		{"exact host without matching prefix falls back to any host", "files.example.net", "/static/app.js", 1},
		{"exact falls to wildcard before any host", "files.example.net", "/pub/cached", 12},
		{"wildcard beats any host with longer prefix", "x.example.net", "/pub/cache/1", 13},
		{"wildcard without match falls back to any host", "x.example.net", "/static/a", 1},
		{"unknown host uses any-host routes", "other.org", "/static/a.css", 1},
		{"unknown host catch-all", "other.org", "/", 0},
		{"host is case-insensitive", "WWW.Example.COM", "/admin", 6},
		{"route host is case-insensitive", "mixed.example.org", "/", 10},
		{"port is ignored", "example.com:8080", "/api/x", 3},
		{"trailing dot is ignored", "example.com.", "/api/x", 3},
		{"trailing dot and port", "example.com.:443", "/", 2},
		{"bracketed IPv6 with port", "[::1]:80", "/", 9},
		{"bracketed IPv6", "[::1]", "/", 9},
		{"bare IPv6", "::1", "/", 9},
		{"IPv4 with port", "127.0.0.1:8080", "/", 0},
		{"empty host", "", "/", 0},
		{"wildcard needs a label before the suffix", ".internal", "/health", 0},
		{"wildcard suffix must start at a dot", "xinternal", "/health", 0},
		{"wildcard matches with its prefix", "y.internal", "/healthz", 11},
		{"wildcard without matching prefix falls to catch-all", "y.internal", "/metrics", 0},
		{"path not starting with a slash", "other.org", "*", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i, ok := r.Match(tt.host, tt.path)
			if tt.want < 0 {
				if ok {
					t.Fatalf("Match(%q, %q) = route %d %+v, want none", tt.host, tt.path, i, site[i])
				}
				return
			}
			if !ok || i != tt.want {
				t.Fatalf("Match(%q, %q) = %d, %v; want route %d %+v", tt.host, tt.path, i, ok, tt.want, site[tt.want])
			}
		})
	}
}

func TestMatchFindsNoRoute(t *testing.T) {
	r := New([]Route{
		{Host: "example.com", PathPrefix: "/"},
		{Host: "*.internal", PathPrefix: "/health"},
		{PathPrefix: "/static/"},
	})
	tests := []struct{ name, host, path string }{
		{"other host outside any-host prefixes", "other.com", "/"},
		{"wildcard apex", "internal", "/health"},
		{"wildcard host, other path", "db.internal", "/metrics"},
		{"exact host, path without slash", "example.com", "*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if i, ok := r.Match(tt.host, tt.path); ok {
				t.Errorf("Match(%q, %q) = route %d, want none", tt.host, tt.path, i)
			}
		})
	}
	if _, ok := New(nil).Match("example.com", "/"); ok {
		t.Error("empty router matched")
	}
}

func TestNewDoesNotKeepCallersSlice(t *testing.T) {
	routes := []Route{{Host: "", PathPrefix: "/a/", StripPrefix: true}}
	r := New(routes)
	routes[0].PathPrefix = "/b/"
	if got := r.Rewrite(0, "/a/x"); got != "/x" {
		t.Errorf("Rewrite after caller edited its slice = %q, want /x", got)
	}
}

func TestRewrite(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		strip  bool
		path   string
		want   string
	}{
		{"no strip keeps the path", "/api/", false, "/api/x", "/api/x"},
		{"slash prefix from its own path", "/api/", true, "/api/", "/"},
		{"slash prefix keeps a leading slash", "/api/", true, "/api/x", "/x"},
		{"slash prefix keeps the rest", "/api/", true, "/api/x/y?", "/x/y?"},
		{"bare prefix from its own path", "/api", true, "/api", "/"},
		{"bare prefix before a slash", "/api", true, "/api/x", "/x"},
		{"bare prefix mid-segment", "/api", true, "/apix", "/x"},
		{"root prefix strips nothing", "/", true, "/x", "/x"},
		{"root prefix from root", "/", true, "/", "/"},
		{"empty prefix", "", true, "/x", "/x"},
		{"path without the prefix is unchanged", "/api/", true, "/other", "/other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New([]Route{{PathPrefix: tt.prefix, StripPrefix: tt.strip}})
			if got := r.Rewrite(0, tt.path); got != tt.want {
				t.Errorf("Rewrite(%q) with prefix %q = %q, want %q", tt.path, tt.prefix, got, tt.want)
			}
		})
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	r := New(site)
	tests := []struct{ name, host, path string }{
		{"exact host", "example.com", "/api/v2/users"},
		{"mixed case with port", "WWW.Example.COM:8443", "/admin"},
		{"deep wildcard", "a.b.de.eu.example.com", "/shop/cart"},
		{"IPv6", "[::1]:80", "/"},
		{"fall back to any host", "unknown.example.org", "/static/x"},
		{"no match", "y.internal", "/metrics"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if allocs := testing.AllocsPerRun(1000, func() { r.Match(tt.host, tt.path) }); allocs != 0 {
				t.Errorf("Match allocates %.1f times", allocs)
			}
		})
	}
}

// referenceMatch is the obvious, slow reading of the precedence rules: among
// all routes whose host and prefix match, take the best by host kind, then
// wildcard length, then prefix length.
func referenceMatch(routes []Route, host, path string) (int, bool) {
	normalize := func(h string) string {
		if strings.HasPrefix(h, "[") && strings.Contains(h, "]") {
			h = h[1:strings.Index(h, "]")]
		} else if strings.Count(h, ":") == 1 {
			h = h[:strings.Index(h, ":")]
		}
		h = strings.TrimSuffix(h, ".")
		// Byte-wise, not strings.Map, which would turn invalid UTF-8 into
		// U+FFFD and make distinct hosts equal.
		b := []byte(h)
		for i, c := range b {
			if c >= 'A' && c <= 'Z' {
				b[i] = c + 32
			}
		}
		return string(b)
	}
	host = normalize(host)
	best, bestRank := -1, [3]int{}
	for i, route := range routes {
		if !strings.HasPrefix(path, route.PathPrefix) {
			continue
		}
		var rank [3]int
		switch rh := normalize(route.Host); {
		case rh == "":
			rank = [3]int{1, 0, len(route.PathPrefix)}
		case strings.HasPrefix(rh, "*."):
			suffix := rh[1:]
			if len(host) <= len(suffix) || !strings.HasSuffix(host, suffix) {
				continue
			}
			rank = [3]int{2, len(suffix), len(route.PathPrefix)}
		case rh == host:
			rank = [3]int{3, 0, len(route.PathPrefix)}
		default:
			continue
		}
		if best < 0 || rank[0] > bestRank[0] ||
			rank[0] == bestRank[0] && (rank[1] > bestRank[1] || rank[1] == bestRank[1] && rank[2] > bestRank[2]) {
			best, bestRank = i, rank
		}
	}
	return best, best >= 0
}

func FuzzMatch(f *testing.F) {
	// Seeds: an extra route (host, prefix) and a request (host, path).
	f.Add("", "/", "example.com", "/api/")                     // extra catch-all
	f.Add("*.eu.example.com", "/", "X.EU.example.com:80", "/") // wildcard vs wildcard
	f.Add("Example.com.", "/api", "example.com", "/apix")      // duplicate host spelled differently
	f.Add("[::1]", "/", "::1", "/")                            // IPv6 forms
	f.Add("*.", "/", "*", "/")                                 // degenerate wildcard
	f.Add("a:b", "/x", "a:b:c", "/x/y")                        // colons
	f.Add("*.com", "", ".com", "")                             // suffix without a label
	f.Add("host.example.com", "/h", "[host.example.com]:1", "/h")
	f.Fuzz(func(t *testing.T, routeHost, routePrefix, host, path string) {
		routes := append(site[:len(site):len(site)], Route{Host: routeHost, PathPrefix: routePrefix})
		// Validated configs have no duplicates; skip the fuzz route when it
		// repeats one of the table's.
		extraHost := lowerASCII(hostOnly(routeHost))
		for _, r := range site {
			if lowerASCII(hostOnly(r.Host)) == extraHost && r.PathPrefix == routePrefix {
				routes = routes[:len(site)]
				break
			}
		}
		got, gotOK := New(routes).Match(host, path)
		want, wantOK := referenceMatch(routes, host, path)
		if got != want || gotOK != wantOK {
			t.Fatalf("Match(%q, %q) = %d, %v; reference says %d, %v (routes %+v)", host, path, got, gotOK, want, wantOK, routes)
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	// Fifty routes: ten exact hosts with three prefixes each, five wildcard
	// hosts with two prefixes each, and ten any-host prefixes.
	var routes []Route
	for h := range 10 {
		for _, p := range []string{"/", "/api/", "/api/v2/"} {
			routes = append(routes, Route{Host: fmt.Sprintf("svc%d.example.com", h), PathPrefix: p})
		}
	}
	for h := range 5 {
		for _, p := range []string{"/", "/assets/"} {
			routes = append(routes, Route{Host: fmt.Sprintf("*.tenant%d.example.com", h), PathPrefix: p})
		}
	}
	for p := range 10 {
		routes = append(routes, Route{PathPrefix: fmt.Sprintf("/app%d/", p)})
	}
	r := New(routes)
	requests := []struct{ name, host, path string }{
		{"exact", "svc7.example.com", "/api/v2/orders/42"},
		{"mixed case and port", "SVC7.Example.com:443", "/api/v2/orders/42"},
		{"wildcard", "shop.tenant3.example.com", "/assets/app.css"},
		{"any host", "unknown.example.org", "/app9/index.html"},
	}
	for _, req := range requests {
		b.Run(req.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.Match(req.host, req.path)
			}
		})
	}
}
