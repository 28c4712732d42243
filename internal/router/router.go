// Package router matches a request's host and path to the most specific
// configured route.
//
// Routes are compiled once, when the configuration loads, into lookup tables
// keyed by host, so Match does no parsing beyond splitting off a port and
// allocates nothing.
package router

import (
	"slices"
	"strings"
)

// Route is one routing rule.
type Route struct {
	// Host is "" (any host), an exact host such as "example.com", or a
	// wildcard "*.example.com" matching subdomains at any depth but not
	// example.com itself. It is compared case-insensitively (ASCII), with
	// any port and trailing dot removed.
	Host string
	// PathPrefix is compared as a plain byte prefix of the path: "/api"
	// matches "/api", "/api/x" and "/apix"; write "/api/" to match only
	// below /api/. "" and "/" match every path that starts with "/".
	PathPrefix string
	// StripPrefix removes PathPrefix from the path before forwarding.
	StripPrefix bool
}

// Router finds the route for a request. It is immutable and safe for
// concurrent use.
type Router struct {
	routes []Route
	// exact maps a lower-case host to its routes; wildcard maps the suffix
	// of a wildcard host (".example.com") to its routes; anyHost holds the
	// routes without a host. Each list is ordered longest PathPrefix first.
	exact    map[string][]int
	wildcard map[string][]int
	anyHost  []int
}

// New compiles routes. They are expected to be validated already: two
// routes with the same host and path prefix make the later one unreachable.
func New(routes []Route) *Router {
	r := &Router{
		routes:   slices.Clone(routes),
		exact:    make(map[string][]int),
		wildcard: make(map[string][]int),
	}
	for i, route := range r.routes {
		host := lowerASCII(hostOnly(route.Host))
		switch {
		case host == "":
			r.anyHost = append(r.anyHost, i)
		case strings.HasPrefix(host, "*."):
			r.wildcard[host[1:]] = append(r.wildcard[host[1:]], i)
		default:
			r.exact[host] = append(r.exact[host], i)
		}
	}
	longestFirst := func(a, b int) int {
		return len(r.routes[b].PathPrefix) - len(r.routes[a].PathPrefix)
	}
	for _, group := range r.exact {
		slices.SortStableFunc(group, longestFirst)
	}
	for _, group := range r.wildcard {
		slices.SortStableFunc(group, longestFirst)
	}
	slices.SortStableFunc(r.anyHost, longestFirst)
	return r
}

// maxHostLen is the longest host Match lowers on the stack; DNS names are at
// most 253 bytes, so longer hosts are rare enough to take an allocation.
const maxHostLen = 256

// Match returns the index, in the slice given to New, of the route for host
// (a Host header or :authority value) and path. An exact host beats a
// wildcard, a longer wildcard beats a shorter one, and any wildcard beats a
// route without a host; within one host the longest PathPrefix wins, and
// when none of that host's prefixes match, the next less specific host is
// tried.
func (r *Router) Match(host, path string) (index int, ok bool) {
	host = hostOnly(host)
	var buf [maxHostLen]byte
	var lower []byte
	if len(host) <= len(buf) {
		lower = buf[:len(host)]
	} else {
		lower = make([]byte, len(host))
	}
	for i := range len(host) {
		lower[i] = lowerByte(host[i])
	}

	if len(r.exact) > 0 {
		if i, ok := r.matchPrefix(r.exact[string(lower)], path); ok {
			return i, true
		}
	}
	if len(r.wildcard) > 0 {
		// Each dot after the first byte starts a candidate suffix; scanning
		// left to right tries the longest, most specific, first.
		for d := 1; d < len(lower); d++ {
			if lower[d] != '.' {
				continue
			}
			if i, ok := r.matchPrefix(r.wildcard[string(lower[d:])], path); ok {
				return i, true
			}
		}
	}
	return r.matchPrefix(r.anyHost, path)
}

func (r *Router) matchPrefix(group []int, path string) (int, bool) {
	for _, i := range group {
		if strings.HasPrefix(path, r.routes[i].PathPrefix) {
			return i, true
		}
	}
	return -1, false
}

// Rewrite returns the path to forward for a request that matched route
// index: unchanged unless the route strips its prefix. A stripped path keeps
// its leading "/": stripping "/api/" from "/api/x" gives "/x", and from
// "/api/" or "/api" from "/api" gives "/".
func (r *Router) Rewrite(index int, path string) string {
	prefix := r.routes[index].PathPrefix
	if !r.routes[index].StripPrefix || !strings.HasPrefix(path, prefix) {
		return path
	}
	rest := path[len(prefix):]
	switch {
	case strings.HasPrefix(rest, "/"):
		return rest
	case strings.HasSuffix(prefix, "/"):
		// Keep the prefix's own slash, which saves building a new string.
		return path[len(prefix)-1:]
	}
	return "/" + rest
}

// hostOnly removes a port and one trailing dot from a host, and the
// brackets around an IPv6 literal: "[::1]:80" gives "::1". A name with
// several colons and no brackets is a bare IPv6 literal and is kept whole.
func hostOnly(host string) string {
	if end := strings.IndexByte(host, ']'); end > 0 && host[0] == '[' {
		host = host[1:end]
	} else if colon := strings.IndexByte(host, ':'); colon >= 0 && strings.IndexByte(host[colon+1:], ':') < 0 {
		host = host[:colon]
	}
	return strings.TrimSuffix(host, ".")
}

// lowerByte folds ASCII letters only: hosts on the wire are ASCII (IDNA
// A-labels), and Unicode folding would let look-alike bytes match.
func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lowerByte(c)
	}
	return string(b)
}
