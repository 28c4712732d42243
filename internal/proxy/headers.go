package proxy

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/portico-proxy/portico/internal/h1"
)

// notForwarded are the fields that describe one connection, not the
// message (RFC 9110 §7.6.1), and the framing fields each side writes
// itself.
var notForwarded = map[string]bool{
	"Connection":        true,
	"Proxy-Connection":  true,
	"Keep-Alive":        true,
	"Te":                true,
	"Transfer-Encoding": true,
	"Upgrade":           true,
	"Content-Length":    true,
	"Host":              true,
}

// addConnectionListed adds the fields a Connection value names, which are
// hop-by-hop too (RFC 9110 §7.6.1), to listed.
func addConnectionListed(listed map[string]bool, connection string) map[string]bool {
	for _, f := range strings.Split(connection, ",") {
		if f = strings.Trim(f, " \t"); f != "" {
			if listed == nil {
				listed = make(map[string]bool)
			}
			listed[http.CanonicalHeaderKey(f)] = true
		}
	}
	return listed
}

// copyResponseHeader copies an upstream response's end-to-end fields to
// the client's response.
func copyResponseHeader(dst http.Header, fields []h1.Field) {
	var listed map[string]bool
	for _, f := range fields {
		if strings.EqualFold(f.Name, "Connection") {
			listed = addConnectionListed(listed, f.Value)
		}
	}
	for _, f := range fields {
		k := http.CanonicalHeaderKey(f.Name)
		if notForwarded[k] || listed[k] {
			continue
		}
		dst[k] = append(dst[k], f.Value)
	}
}

// forwardedNode formats a node for Forwarded: IPv6 addresses are bracketed
// and quoted (RFC 7239 §6).
func forwardedNode(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		return `"[` + a.String() + `]"`
	}
	return a.String()
}

// quoteForwarded quotes a value unless it is a token (RFC 7239 §4).
func quoteForwarded(v string) string {
	for i := 0; i < len(v); i++ {
		if !isTokenChar(v[i]) {
			return `"` + forwardedEscaper.Replace(v) + `"`
		}
	}
	return v
}

// forwardedEscaper escapes a quoted-string's specials (RFC 9110 §5.6.4).
var forwardedEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// seenVia reports whether a Via field names this proxy's pseudonym: the
// request has come round to us again (RFC 9110 §7.6.3).
func seenVia(vias []string, pseudonym string) bool {
	for _, v := range vias {
		for _, hop := range strings.Split(v, ",") {
			fields := strings.Fields(hop)
			if len(fields) >= 2 && strings.EqualFold(fields[1], pseudonym) {
				return true
			}
		}
	}
	return false
}

// containsToken reports whether a comma-separated field holds token,
// ignoring case and parameters ("trailers;q=1").
func containsToken(values []string, token string) bool {
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			item, _, _ = strings.Cut(item, ";")
			if strings.EqualFold(strings.Trim(item, " \t"), token) {
				return true
			}
		}
	}
	return false
}

// isTokenChar reports whether c may appear in a token (RFC 9110 §5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return c < 0x7f && strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
