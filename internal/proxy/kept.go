package proxy

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/h1"
	"github.com/portico-proxy/portico/internal/proxystatus"
	"github.com/portico-proxy/portico/internal/stale"
	"github.com/portico-proxy/portico/internal/transport"
)

// startKeeping begins keeping resp's body, for the route's store, when
// resp may be kept and its body fits.
func (x *exchange) startKeeping(resp *transport.Response, framing h1.Framing) {
	if framing == h1.NoBody || framing == h1.Tunnel || resp.ContentLength > x.stale.MaxBody() {
		return
	}
	until, ok := x.stale.Keepable(resp.Status, resp.Fields, time.Now())
	if !ok {
		return
	}
	x.keepUntil = until
	x.keeping = make([]byte, 0, max(0, min(resp.ContentLength, x.stale.MaxBody())))
}

// finishKeeping stores a body kept whole, with resp's head. The fields are
// copied: the response's own slice is reused once it is released.
func (x *exchange) finishKeeping(resp *transport.Response) {
	if x.keeping == nil || len(resp.Body.Trailers()) > 0 {
		return
	}
	x.stale.Put(x.staleKey, &stale.Response{
		Status: resp.Status,
		Reason: resp.Reason,
		Fields: slices.Clone(resp.Fields),
		Body:   x.keeping,
		Stored: time.Now(),
		Until:  x.keepUntil,
	})
	x.keeping = nil
}

// replaceable reports whether a failure answered with status may be
// replaced by a kept response: a 502, 503 or 504 saying the upstream
// cannot serve now, but not a proxy loop, nor maintenance, which an
// operator chose.
func replaceable(status int, class failure.Class) bool {
	return status >= 502 && status <= 504 &&
		class != failure.ProxyLoopDetected && class != failure.ProxyInternalResponse
}

// kept returns the response kept for this request if it may still serve,
// or nil.
func (x *exchange) kept() *stale.Response {
	if x.stale == nil || x.wroteHead {
		return nil
	}
	kept, ok := x.stale.Get(x.staleKey, time.Now())
	if !ok {
		return nil
	}
	return kept
}

// serveKept answers with a kept response in place of a failure, which
// member (portico's Proxy-Status member) names; the log keeps the
// failure's cause and says what was served.
func (x *exchange) serveKept(kept *stale.Response, member []byte) {
	h := x.w.Header()
	values := copyResponseHeader(h, kept.Fields, 5)
	proxystatus.Reduce(h, x.detail())
	if prior := h["Via"]; len(prior) > 0 {
		h["Via"] = append(prior, x.p.via)
	} else {
		values = setValue(h, "Via", x.p.via, values)
	}
	values = setValue(h, "X-Request-Id", x.entry.RequestID, values)
	age := max(0, int64(time.Since(kept.Stored)/time.Second))
	values = setValue(h, "Age", strconv.FormatInt(age, 10), values)
	setValue(h, "Content-Length", strconv.Itoa(len(kept.Body)), values)
	if len(member) > 0 {
		proxystatus.Append(h, string(member))
	}
	x.entry.Status = kept.Status
	x.entry.Details += "; answered with a kept response " + strconv.FormatInt(age, 10) + "s old (stale_if_error)"
	if rw, ok := x.w.(reasonWriter); ok {
		rw.WriteHeaderReason(kept.Status, kept.Reason)
	} else {
		x.w.WriteHeader(kept.Status)
	}
	x.wroteHead = true
	if x.r.Method != http.MethodHead {
		n, _ := x.w.Write(kept.Body)
		x.entry.BytesOut += int64(n)
	}
}
