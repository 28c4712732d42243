// Package proxystatus writes and reads the RFC 9209 Proxy-Status header, an
// RFC 9651 structured-field list in which every intermediary on the path
// names the error it met.
//
// Writing is append-style and cheap because it happens on every error
// response; reading is a strict RFC 9651 list parser used by the tests and by
// portico diagnose to decode what proxies on the path reported.
package proxystatus

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/portico-proxy/portico/internal/failure"
)

// Detail is how much portico's Proxy-Status member reveals. Its order
// matches config.ProxyStatusMode, and its zero value is the safe default.
type Detail uint8

// The detail levels (failure-taxonomy.md, "The header").
const (
	// ErrorOnly sends only error=, because next-hop addresses and error text
	// describe internal topology.
	ErrorOnly Detail = iota
	// Full adds next-hop, details and the class parameters.
	Full
	// Off sends no Proxy-Status member at all.
	Off
)

func (d Detail) String() string {
	switch d {
	case Full:
		return "full"
	case Off:
		return "off"
	}
	return "error"
}

// maxDetailsLen bounds the details parameter. Details often quote the
// upstream (a malformed header line, a certificate subject), so without a
// bound a hostile upstream could make portico send a header larger than
// clients accept.
const maxDetailsLen = 512

// AppendMember appends portico's Proxy-Status member for fe to dst, e.g.
//
//	portico; error=connection_refused; next-hop="10.0.3.7:8080"; details="dial tcp 10.0.3.7:8080: connect: connection refused"
//
// At ErrorOnly only error= follows the name; at Off nothing is appended. The
// result is always a valid RFC 9651 list member: a name that is not a token
// is written as a string, text is made printable ASCII, parameters whose key
// is not a valid key (after lowercasing, §3.1.2) or repeats an earlier one
// are left out, and a token parameter that is not a token becomes a string.
// A nil fe, or one without a class, is reported as proxy_internal_error.
func AppendMember(dst []byte, name string, fe *failure.Error, d Detail) []byte {
	if d == Off {
		return dst
	}
	dst = appendName(dst, name)
	dst = append(dst, "; error="...)
	if fe == nil || fe.Class.String() == "" {
		return append(dst, failure.ProxyInternalError.String()...)
	}
	dst = append(dst, fe.Class.String()...)
	if d != Full {
		return dst
	}
	if fe.Target != "" {
		dst = append(dst, `; next-hop=`...)
		dst = appendString(dst, fe.Target)
	}
	if fe.Details != "" {
		dst = append(dst, `; details=`...)
		if len(fe.Details) > maxDetailsLen {
			dst = appendString(dst, fe.Details[:maxDetailsLen]+"...")
		} else {
			dst = appendString(dst, fe.Details)
		}
	}
	for i, p := range fe.Params {
		if repeatsKey(fe.Params[:i], p.Key) {
			continue
		}
		dst = appendParam(dst, p)
	}
	return dst
}

// AppendReceived appends a member that marks an upstream's own 5xx passed
// through unchanged, e.g. "portico; received-status=502" (RFC 9209 §2.1.4),
// so an origin's 502 is never mistaken for one portico generated. It has no
// error parameter: portico met no error.
func AppendReceived(dst []byte, name string, status int) []byte {
	dst = appendName(dst, name)
	dst = append(dst, "; received-status="...)
	return strconv.AppendInt(dst, int64(status), 10)
}

// Append adds member as the last Proxy-Status member of h, after any the
// upstream sent; the list runs from origin to client (RFC 9209 §2). It adds a
// new field line rather than rewriting the existing ones: RFC 9651 §4.2 has
// recipients join all lines of a list field with commas (RFC 9110 §5.3), so
// a new line is a new last member and the upstream's bytes go on unchanged.
//
// That only holds if the existing lines parse, since a recipient must drop the
// whole field on any syntax error, portico's member included. So when they do
// not, Append removes them, keeps only member, and returns the dropped value
// (lines joined with ", ") for the caller to log; otherwise it returns "". An
// empty member leaves h alone.
func Append(h http.Header, member string) (dropped string) {
	if member == "" {
		return ""
	}
	existing := h.Values("Proxy-Status")
	if len(existing) == 0 {
		h["Proxy-Status"] = []string{member}
		return ""
	}
	joined := strings.Join(existing, ", ")
	if members, err := Parse(joined); err != nil || len(members) == 0 {
		h["Proxy-Status"] = []string{member}
		if err != nil {
			return joined
		}
		return ""
	}
	h["Proxy-Status"] = append(existing[:len(existing):len(existing)], member)
	return ""
}

// Reduce cuts the members an upstream sent in h to what d reveals to this
// client, as portico's own member is cut: proxies behind portico describe
// the same internal network. Full keeps them whole; ErrorOnly keeps each
// member's name and error type; Off removes the field. A value that does
// not parse is removed, since a recipient would have to drop it anyway.
// It reports whether h changed.
func Reduce(h http.Header, d Detail) bool {
	existing := h["Proxy-Status"]
	if len(existing) == 0 || d == Full {
		return false
	}
	delete(h, "Proxy-Status")
	if d == Off {
		return true
	}
	members, err := Parse(strings.Join(existing, ", "))
	if err != nil || len(members) == 0 {
		return true
	}
	for i := range members {
		kept := members[i].Params[:0]
		for _, p := range members[i].Params {
			if p.Key == "error" {
				kept = append(kept, p)
			}
		}
		members[i].Params = kept
	}
	if v, err := Format(members); err == nil {
		h["Proxy-Status"] = []string{v}
	}
	return true
}

// appendName writes the member name as a token when it is one and as a
// string otherwise; RFC 9209 §2 allows either.
func appendName(dst []byte, name string) []byte {
	if isToken(name) {
		return append(dst, name...)
	}
	return appendString(dst, name)
}

// reservedKey reports keys AppendMember writes itself; a class parameter of
// the same name would otherwise silently replace them (§4.2.3.2).
func reservedKey(key string) bool {
	switch key {
	case "error", "next-hop", "details", "received-status":
		return true
	}
	return false
}

func repeatsKey(earlier []failure.Param, key string) bool {
	for _, p := range earlier {
		if strings.EqualFold(p.Key, key) {
			return true
		}
	}
	return false
}

func appendParam(dst []byte, p failure.Param) []byte {
	mark := len(dst)
	dst = append(dst, "; "...)
	keyStart := len(dst)
	for i := 0; i < len(p.Key); i++ {
		c := p.Key[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	if key := dst[keyStart:]; !isKey(key) || reservedKey(string(key)) {
		return dst[:mark]
	}
	dst = append(dst, '=')
	switch p.Kind {
	case failure.Integer:
		if p.Int < -maxInteger || p.Int > maxInteger {
			// Out of the sf-integer range (§3.3.1): keep the number as text.
			return appendString(dst, strconv.FormatInt(p.Int, 10))
		}
		return strconv.AppendInt(dst, p.Int, 10)
	case failure.Token:
		if isToken(p.Value) {
			return append(dst, p.Value...)
		}
	}
	return appendString(dst, p.Value)
}
