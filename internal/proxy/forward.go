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
	// listed holds the names Connection lists: a handful at most in
	// practice, so a small array beats a map.
	listed   [4]string
	nListed  int
	overflow map[string]bool
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
	f.nListed, f.overflow = 0, nil
	for _, v := range h["Connection"] {
		for item := range strings.SplitSeq(v, ",") {
			item = strings.Trim(item, " \t")
			if item == "" || strings.EqualFold(item, "keep-alive") || strings.EqualFold(item, "close") {
				continue
			}
			f.add(http.CanonicalHeaderKey(item))
		}
	}
}

func (f *forwardFilter) add(name string) {
	if f.nListed < len(f.listed) {
		f.listed[f.nListed] = name
		f.nListed++
		return
	}
	if f.overflow == nil {
		f.overflow = make(map[string]bool)
	}
	f.overflow[name] = true
}

// Drop implements h1.FieldFilter.
func (f *forwardFilter) Drop(name string) bool {
	if notForwarded[name] || rewritten[name] {
		return true
	}
	for _, l := range f.listed[:f.nListed] {
		if l == name {
			return true
		}
	}
	return f.overflow[name]
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
	extra = appendForwarded(extra, r.Header, x.client, x.trusted, proto, r.Host)
	via := x.p.via
	if prior := r.Header["Via"]; len(prior) > 0 {
		via = strings.Join(prior, ", ") + ", " + via
	}
	return append(extra, h1.Field{Name: "Via", Value: via}, h1.Field{Name: "X-Request-Id", Value: x.entry.RequestID})
}

// appendForwarded appends X-Forwarded-For/-Proto/-Host and Forwarded
// (RFC 7239). Values a client sent are kept only when the client is
// trusted; from anyone else they are replaced, since they would let a
// client forge its address.
func appendForwarded(extra []h1.Field, in http.Header, client netip.Addr, trusted bool, proto, host string) []h1.Field {
	ip := client.Unmap().String()
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
