package proxy

import (
	"net/http"
	"strconv"
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

// responseFilter decides which of an upstream's response fields reach
// the client as they came: not the hop-by-hop ones, not those its
// Connection field lists, and not X-Request-Id, which portico sets. Names
// are matched as the upstream spelled them.
type responseFilter struct {
	listed connectionListed
}

func (f *responseFilter) reset(fields []h1.Field) {
	f.listed = connectionListed{}
	for _, fl := range fields {
		if len(fl.Name) == len("Connection") && strings.EqualFold(fl.Name, "Connection") {
			f.listed.addFrom(fl.Value)
		}
	}
}

// Drop implements h1.FieldFilter.
func (f *responseFilter) Drop(name string) bool {
	return hopByHop(name) || len(name) == len("X-Request-Id") && strings.EqualFold(name, "X-Request-Id") || f.listed.hasFold(name)
}

// hopByHop reports whether name, in any case, is one of notForwarded,
// without the canonicalization a map lookup would need.
func hopByHop(name string) bool {
	switch len(name) {
	case 2:
		return strings.EqualFold(name, "Te")
	case 4:
		return strings.EqualFold(name, "Host")
	case 7:
		return strings.EqualFold(name, "Upgrade")
	case 10:
		return strings.EqualFold(name, "Connection") || strings.EqualFold(name, "Keep-Alive")
	case 14:
		return strings.EqualFold(name, "Content-Length")
	case 16:
		return strings.EqualFold(name, "Proxy-Connection")
	case 17:
		return strings.EqualFold(name, "Transfer-Encoding")
	}
	return false
}

// copyResponseHeader copies an upstream response's end-to-end fields to
// the client's response. The values share one backing array with room for
// extra more, which the caller may use for the fields it adds; it is
// returned for that.
func copyResponseHeader(dst http.Header, fields []h1.Field, extra int) []string {
	var listed connectionListed
	for _, f := range fields {
		if strings.EqualFold(f.Name, "Connection") {
			listed.addFrom(f.Value)
		}
	}
	values := make([]string, 0, len(fields)+extra)
	for _, f := range fields {
		k := http.CanonicalHeaderKey(f.Name)
		if notForwarded[k] || listed.has(k) {
			continue
		}
		if prior, ok := dst[k]; ok {
			dst[k] = append(prior, f.Value)
			continue
		}
		values = setValue(dst, k, f.Value, values)
	}
	return values
}

// setValue sets dst[k] to the one value v, taking its slice from values.
func setValue(dst http.Header, k, v string, values []string) []string {
	values = append(values, v)
	n := len(values)
	dst[k] = values[n-1 : n : n]
	return values
}

// seenVia reports whether a Via field names this proxy's pseudonym: the
// request has come round to us again (RFC 9110 §7.6.3).
func seenVia(vias []string, pseudonym string) bool {
	for _, v := range vias {
		for hop := range strings.SplitSeq(v, ",") {
			// A hop is "protocol RWS received-by [RWS comment]".
			_, rest, ok := cutRWS(strings.Trim(hop, " \t"))
			receivedBy, _, _ := cutRWS(rest)
			if ok && strings.EqualFold(receivedBy, pseudonym) {
				return true
			}
		}
	}
	return false
}

// cutRWS splits s around its first run of spaces and tabs.
func cutRWS(s string) (before, after string, found bool) {
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, "", false
	}
	return s[:i], strings.TrimLeft(s[i:], " \t"), true
}

// containsToken reports whether a comma-separated field holds token,
// ignoring case and parameters ("trailers;q=1").
func containsToken(values []string, token string) bool {
	for _, v := range values {
		for item := range strings.SplitSeq(v, ",") {
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

// contentLengthValue is the Content-Length to send for a body of n bytes:
// the upstream's own text when it is that plain number, which spares
// formatting it again.
func contentLengthValue(fields []h1.Field, n int64) string {
	for _, f := range fields {
		if len(f.Name) == len("Content-Length") && strings.EqualFold(f.Name, "Content-Length") {
			if v := f.Value; v != "" && (v[0] != '0' || v == "0") && strings.Trim(v, "0123456789") == "" {
				if parsed, err := strconv.ParseInt(v, 10, 64); err == nil && parsed == n {
					return v
				}
			}
			break
		}
	}
	return strconv.FormatInt(n, 10)
}
