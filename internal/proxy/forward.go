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
// (RFC 7239) for the client at ip (client, formatted). Values a client sent are kept only when the client is
// trusted; from anyone else they are replaced, since they would let a
// client forge its address.
func appendForwarded(extra []h1.Field, in http.Header, ip string, client netip.Addr, trusted bool, proto, host string) []h1.Field {
	xff, xfp, xfh := ip, proto, host
	fwd := "for=" + forwardedNode(client) + ";proto=" + proto
	if host != "" {
		fwd += ";host=" + quoteForwarded(host)
	}
	if trusted {
		if prior := in["X-Forwarded-For"]; len(prior) > 0 {
			xff = strings.Join(prior, ", ") + ", " + ip
		}
		if v := in["X-Forwarded-Proto"]; len(v) > 0 {
			xfp = v[0]
		}
		if v := in["X-Forwarded-Host"]; len(v) > 0 {
			xfh = v[0]
		}
		if prior := in["Forwarded"]; len(prior) > 0 {
			fwd = strings.Join(prior, ", ") + ", " + fwd
		}
	}
	return append(extra,
		h1.Field{Name: "X-Forwarded-For", Value: xff},
		h1.Field{Name: "X-Forwarded-Proto", Value: xfp},
		h1.Field{Name: "X-Forwarded-Host", Value: xfh},
		h1.Field{Name: "Forwarded", Value: fwd},
	)
}
