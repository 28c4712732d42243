package proxy

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/portico-proxy/portico/internal/h1"
)

// forwardFilter decides which of a client's fields go upstream as they
// are: not the hop-by-hop ones (RFC 9110 §7.6.1), not those the Connection
// field names, and not those portico writes itself. The client's header is
// written straight from its map; nothing is copied.
type forwardFilter struct {
	listed connectionListed
}

// connectionListed holds the field names a Connection field lists, which
// are hop-by-hop too (RFC 9110 §7.6.1): a handful at most in practice, so
// a small array beats a map.
type connectionListed struct {
	names    [4]string
	n        int
	overflow map[string]bool
}

// addFrom adds the names one Connection value lists; keep-alive and close
// name no field.
func (l *connectionListed) addFrom(connection string) {
	for item := range strings.SplitSeq(connection, ",") {
		item = strings.Trim(item, " \t")
		if item == "" || strings.EqualFold(item, "keep-alive") || strings.EqualFold(item, "close") {
			continue
		}
		name := http.CanonicalHeaderKey(item)
		if l.n < len(l.names) {
			l.names[l.n] = name
			l.n++
			continue
		}
		if l.overflow == nil {
			l.overflow = make(map[string]bool)
		}
		l.overflow[name] = true
	}
}

// hasFold is has for a name in any case.
func (l *connectionListed) hasFold(name string) bool {
	for _, n := range l.names[:l.n] {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return l.overflow != nil && l.overflow[http.CanonicalHeaderKey(name)]
}

func (l *connectionListed) has(name string) bool {
	for _, n := range l.names[:l.n] {
		if n == name {
			return true
		}
	}
	return l.overflow[name]
}

// rewritten are the fields portico sets itself on every forwarded request.
var rewritten = map[string]bool{
	"X-Forwarded-For":   true,
	"X-Forwarded-Proto": true,
	"X-Forwarded-Host":  true,
	"Forwarded":         true,
	"Via":               true,
	"X-Request-Id":      true,
}

func (f *forwardFilter) reset(h http.Header) {
	f.listed = connectionListed{}
	for _, v := range h["Connection"] {
		f.listed.addFrom(v)
	}
}

// Drop implements h1.FieldFilter.
func (f *forwardFilter) Drop(name string) bool {
	return notForwarded[name] || rewritten[name] || f.listed.has(name)
}

// forwardingFields returns the fields portico adds to a forwarded request:
// the upgrade being asked for, "TE: trailers" when the client sent it, the
// forwarding fields, Via and the request ID.
func (x *exchange) forwardingFields(upgrade string) []h1.Field {
	r := x.r
	extra := x.extraBuf[:0]
	if upgrade != "" {
		// Upgrade is hop-by-hop, so it is asked for again on the upstream
		// connection rather than forwarded (RFC 9110 §7.8).
		extra = append(extra, h1.Field{Name: "Connection", Value: "Upgrade"}, h1.Field{Name: "Upgrade", Value: upgrade})
	}
	// "TE: trailers" is the one TE value a proxy passes on: it tells the
	// upstream the client accepts trailers (RFC 9110 §10.1.4).
	if containsToken(r.Header["Te"], "trailers") {
		extra = append(extra, h1.Field{Name: "Te", Value: "trailers"})
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	extra = appendForwarded(extra, r.Header, x.entry.ClientAddr, x.client, x.trusted, proto, r.Host)
	via := x.p.via
	if prior := r.Header["Via"]; len(prior) > 0 {
		via = strings.Join(prior, ", ") + ", " + via
	}
	return append(extra, h1.Field{Name: "Via", Value: via}, h1.Field{Name: "X-Request-Id", Value: x.entry.RequestID})
}

// appendForwarded appends X-Forwarded-For/-Proto/-Host and Forwarded
// (RFC 7239) for the client at ip (client, formatted). Values a client sent
// are kept only when the client is trusted; from anyone else they are
// replaced, since they would let a client forge its address. The values
// are built in one buffer and share one string.
func appendForwarded(extra []h1.Field, in http.Header, ip string, client netip.Addr, trusted bool, proto, host string) []h1.Field {
	var scratch [256]byte
	b := scratch[:0]
	var ends [4]int

	if prior := in["X-Forwarded-For"]; trusted && len(prior) > 0 {
		b = appendJoined(b, prior)
		b = append(b, ", "...)
	}
	b = append(b, ip...)
	ends[0] = len(b)
	if v := in["X-Forwarded-Proto"]; trusted && len(v) > 0 {
		b = append(b, v[0]...)
	} else {
		b = append(b, proto...)
	}
	ends[1] = len(b)
	if v := in["X-Forwarded-Host"]; trusted && len(v) > 0 {
		b = append(b, v[0]...)
	} else {
		b = append(b, host...)
	}
	ends[2] = len(b)
	if prior := in["Forwarded"]; trusted && len(prior) > 0 {
		b = appendJoined(b, prior)
		b = append(b, ", "...)
	}
	b = append(b, "for="...)
	b = appendForwardedNode(b, client)
	b = append(b, ";proto="...)
	b = append(b, proto...)
	if host != "" {
		b = append(b, ";host="...)
		b = appendForwardedValue(b, host)
	}
	ends[3] = len(b)

	s := string(b)
	return append(extra,
		h1.Field{Name: "X-Forwarded-For", Value: s[:ends[0]]},
		h1.Field{Name: "X-Forwarded-Proto", Value: s[ends[0]:ends[1]]},
		h1.Field{Name: "X-Forwarded-Host", Value: s[ends[1]:ends[2]]},
		h1.Field{Name: "Forwarded", Value: s[ends[2]:ends[3]]},
	)
}

// appendJoined appends a field's lines joined as one list (RFC 9110 §5.3).
func appendJoined(b []byte, values []string) []byte {
	for i, v := range values {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, v...)
	}
	return b
}

// appendForwardedNode appends a node for Forwarded: IPv6 addresses are
// bracketed and quoted (RFC 7239 §6).
func appendForwardedNode(b []byte, a netip.Addr) []byte {
	a = a.Unmap()
	if a.Is6() {
		b = append(b, `"[`...)
		b = a.AppendTo(b)
		return append(b, `]"`...)
	}
	return a.AppendTo(b)
}

// appendForwardedValue appends v, quoted unless it is a token (RFC 7239 §4).
func appendForwardedValue(b []byte, v string) []byte {
	token := v != ""
	for i := 0; i < len(v); i++ {
		if !isTokenChar(v[i]) {
			token = false
			break
		}
	}
	if token {
		return append(b, v...)
	}
	b = append(b, '"')
	for i := 0; i < len(v); i++ {
		if v[i] == '"' || v[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, v[i])
	}
	return append(b, '"')
}
