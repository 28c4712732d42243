// Package proxy is the request path: it routes each client request to an
// upstream, picks a target, forwards the request with the forwarding fields
// set, streams the response back, and hands every failure to the error
// response writer and every request to the access log.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-proxy/portico/internal/accesslog"
	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/h1"
	"github.com/portico-proxy/portico/internal/metrics"
	"github.com/portico-proxy/portico/internal/policy"
	"github.com/portico-proxy/portico/internal/proxystatus"
	"github.com/portico-proxy/portico/internal/resolve"
	"github.com/portico-proxy/portico/internal/respond"
	"github.com/portico-proxy/portico/internal/router"
	"github.com/portico-proxy/portico/internal/stale"
	"github.com/portico-proxy/portico/internal/transport"
	"github.com/portico-proxy/portico/internal/upstream"
)

// Proxy serves client requests for one configuration. It is immutable; a
// reload builds a new one and retires the old with Close.
type Proxy struct {
	cfg *config.Config
	// unrouted counts the requests no route takes; targets holds each
	// target's metrics, bound once here.
	unrouted  *metrics.RouteMetrics
	targets   map[*upstream.Target]*metrics.TargetMetrics
	router    *router.Router
	routes    []route
	pools     []*upstream.Pool
	errors    *respond.Writer
	log       *accesslog.Logger
	opLog     *slog.Logger
	trusted   []netip.Prefix
	name      string
	via       string
	detailAll proxystatus.Detail
	// detailSet is true when proxy_status applies to every client; else
	// trusted clients get Full and the rest ErrorOnly.
	detailSet bool
}

// route is a compiled route: its pool, its policy and how to rewrite the
// path.
type route struct {
	name    string
	pool    *upstream.Pool
	policy  *policy.Policy
	strip   string
	metrics *metrics.RouteMetrics
	// stale keeps last good responses (stale_if_error); nil when off.
	stale *stale.Store
	// redirect sends plain-HTTP requests to HTTPS (https_redirect), to
	// redirectPort (":8443"; "" for 443).
	redirect     bool
	redirectPort string
}

// Options carry what a Proxy needs beyond its configuration.
type Options struct {
	AccessLog *accesslog.Logger
	Resolver  *resolve.Resolver
	// Log receives what operators must see besides the access log: the
	// stack of an internal error.
	Log *slog.Logger
	// Metrics records requests and failures; it outlives the proxy.
	Metrics *metrics.Metrics
	// Previous is the proxy this one replaces on a reload, or nil. Routes
	// that stay the same keep its responses kept for stale_if_error.
	Previous *Proxy
}

// New builds the proxy for cfg: routes compiled, pools and their balancers
// built, error pages parsed. Everything that depends only on the
// configuration is done here, once.
func New(cfg *config.Config, o Options) (*Proxy, error) {
	pages, err := respond.New(respond.Options{ProxyName: cfg.ProxyName, Pages: cfg.ErrorPages})
	if err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{
		cfg:       cfg,
		unrouted:  o.Metrics.Route("", ""),
		targets:   make(map[*upstream.Target]*metrics.TargetMetrics),
		errors:    pages,
		log:       o.AccessLog,
		opLog:     o.Log,
		trusted:   cfg.TrustedNetworks,
		name:      cfg.ProxyName,
		via:       "1.1 " + cfg.ProxyName,
		detailAll: proxystatus.Detail(cfg.ProxyStatus),
		detailSet: cfg.ProxyStatusSet,
	}
	pools := make(map[string]*upstream.Pool, len(cfg.Upstreams))
	for _, u := range cfg.Upstreams {
		pool, err := upstream.New(u, upstream.Options{
			Resolver:   o.Resolver,
			Limits:     cfg.Limits,
			Prohibited: cfg.TargetPolicy.Deny,
			Logger:     o.Log,
		})
		if err != nil {
			p.Close()
			return nil, err
		}
		pools[u.Name] = pool
		p.pools = append(p.pools, pool)
		for _, t := range pool.Targets() {
			p.targets[t] = o.Metrics.Target(u.Name, t.Endpoint.Name())
		}
	}
	kept := o.Previous.keptByRoute()
	rules := make([]router.Route, len(cfg.Routes))
	for i, r := range cfg.Routes {
		rules[i] = router.Route{Host: r.Host, PathPrefix: r.PathPrefix, StripPrefix: r.StripPrefix}
		compiled := route{name: routeName(r), pool: pools[r.Upstream], policy: policy.New(r)}
		compiled.metrics = o.Metrics.Route(compiled.name, r.Upstream)
		if r.StripPrefix {
			compiled.strip = r.PathPrefix
		}
		if r.StaleIfError != nil {
			if prior := kept[compiled.identity()]; prior != nil {
				compiled.stale = prior.Reconfigured(r.StaleIfError, time.Now())
			} else {
				compiled.stale = stale.New(r.StaleIfError)
			}
		}
		if r.HTTPSRedirect && cfg.TLS != nil {
			compiled.redirect = true
			if _, port, err := net.SplitHostPort(cfg.TLS.Listen[0]); err == nil && port != "443" {
				compiled.redirectPort = ":" + port
			}
		}
		p.routes = append(p.routes, compiled)
	}
	p.router = router.New(rules)
	return p, nil
}

// identity tells whether a route after a reload is the one before: the
// same requests (host, path prefix, the prefix stripped) to the same
// upstream, whose kept responses it may therefore serve.
func (r *route) identity() string {
	return r.name + "\x00" + r.pool.Name() + "\x00" + r.strip
}

// keptByRoute returns p's stores of kept responses by route identity;
// none for a nil p.
func (p *Proxy) keptByRoute() map[string]*stale.Store {
	if p == nil {
		return nil
	}
	kept := make(map[string]*stale.Store)
	for i := range p.routes {
		if rt := &p.routes[i]; rt.stale != nil {
			if _, dup := kept[rt.identity()]; !dup {
				kept[rt.identity()] = rt.stale
			}
		}
	}
	return kept
}

// routeName names a route in logs: its host and path prefix.
func routeName(r *config.Route) string {
	return r.Host + r.PathPrefix
}

// Close retires the proxy's pools: idle upstream connections close now,
// busy ones when their request ends.
func (p *Proxy) Close() {
	for _, pool := range p.pools {
		pool.Close()
	}
}

// Config returns the configuration the proxy was built from.
func (p *Proxy) Config() *config.Config { return p.cfg }

// Pools returns the upstream pools, in configuration order.
func (p *Proxy) Pools() []*upstream.Pool { return p.pools }

// exchange is one request's state on its way through the proxy.
type exchange struct {
	p       *Proxy
	w       http.ResponseWriter
	r       *http.Request
	entry   accesslog.Entry
	client  netip.Addr
	trusted bool
	// target is the target chosen, told how its response ended.
	target *upstream.Target
	// routeMetrics counts the request when it ends; targetMetrics is set
	// once a target is picked.
	routeMetrics  *metrics.RouteMetrics
	targetMetrics *metrics.TargetMetrics
	// upload is the request body on its way upstream, when there is one;
	// it points at uploadReader.
	upload       *countingReader
	uploadReader countingReader
	// fwd, extraBuf and treq hold the upstream request, kept in the
	// exchange so that forwarding allocates nothing of its own.
	fwd        forwardFilter
	respFilter responseFilter
	extraBuf   [8]h1.Field
	treq       transport.Request
	// wroteHead is set once the response head has gone to the client.
	wroteHead bool
	// tried has bit i set once the pool's target i was tried.
	tried uint64
	// staleKey is set when the route keeps last good responses and this
	// request may be answered with one, or its response kept.
	staleKey string
	stale    *stale.Store
	// keeping collects the body of a response being kept, until
	// keepUntil; nil when none is.
	keeping   []byte
	keepUntil time.Time
	// onInformational is the informational method bound once per pooled
	// exchange, so handing it to the transport allocates nothing.
	onInformational func(*h1.ResponseHead)
	// onAbortUpload is abortUpload, bound once like onInformational.
	onAbortUpload func()
}

// exchanges keeps exchange values between requests: one is large, and
// every request needs one.
var exchanges = sync.Pool{New: func() any {
	x := new(exchange)
	x.onInformational = x.informational
	x.onAbortUpload = x.abortUpload
	return x
}}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := p.newExchange(w, r)
	defer exchanges.Put(x)
	defer x.finish()
	defer x.recoverInternal()
	x.serve()
}

// RequestError answers a request the server could not read (malformed,
// ambiguous or oversize): it is never forwarded, but it is answered and
// logged like every other failure.
func (p *Proxy) RequestError(w http.ResponseWriter, r *http.Request, fe *failure.Error) {
	x := p.newExchange(w, r)
	defer exchanges.Put(x)
	defer x.finish()
	x.fail(fe)
}

// newExchange takes an exchange from the pool and sets it up for r; it
// goes back once the request is logged.
func (p *Proxy) newExchange(w http.ResponseWriter, r *http.Request) *exchange {
	x := exchanges.Get().(*exchange)
	*x = exchange{p: p, w: w, r: r, routeMetrics: p.unrouted, onInformational: x.onInformational, onAbortUpload: x.onAbortUpload}
	x.entry = accesslog.Entry{
		Start:      time.Now(),
		ClientAddr: r.RemoteAddr,
		Method:     r.Method,
		Host:       r.Host,
		Path:       r.URL.Path,
		Proto:      r.Proto,
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		x.client = ap.Addr().Unmap()
		x.entry.ClientAddr = addrString(r.RemoteAddr, ap, x.client)
		x.trusted = p.isTrusted(x.client)
	}
	x.entry.RequestID = requestID(r, x.trusted)
	return x
}

// addrString is client formatted; where the remote address already holds
// that text before its port, it is reused rather than formatted again.
func addrString(remote string, ap netip.AddrPort, client netip.Addr) string {
	host := remote[:strings.LastIndexByte(remote, ':')]
	if ap.Addr() == client && client.Zone() == "" {
		if client.Is4() {
			return host
		}
		if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' && !strings.Contains(host, ".") {
			return host[1 : len(host)-1]
		}
	}
	return client.String()
}

// recoverInternal turns a panic (a bug, or a state that should be
// impossible) into a 500 proxy_internal_error for this request alone,
// with the stack in the operator log. An abort is passed on: it is how a
// broken response is cut.
func (x *exchange) recoverInternal() {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	err := fmt.Errorf("internal error: %v", v)
	x.p.opLog.Error("internal error serving a request", "request_id", x.entry.RequestID, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	if x.wroteHead {
		x.abort(failure.New(failure.ProxyInternalError, failure.PhaseInternal, err))
		return
	}
	x.fail(failure.New(failure.ProxyInternalError, failure.PhaseInternal, err))
}

func (p *Proxy) isTrusted(a netip.Addr) bool {
	for _, n := range p.trusted {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// detail is how much Proxy-Status tells this client.
func (x *exchange) detail() proxystatus.Detail {
	switch {
	case x.p.detailSet:
		return x.p.detailAll
	case x.trusted:
		return proxystatus.Full
	}
	return proxystatus.ErrorOnly
}

func (x *exchange) serve() {
	p, r := x.p, x.r
	if seenVia(r.Header["Via"], p.name) {
		x.fail(failure.Newf(failure.ProxyLoopDetected, failure.PhasePolicy,
			"request already passed through "+p.name+" (Via: "+strings.Join(r.Header["Via"], ", ")+")"))
		return
	}
	idx, ok := p.router.Match(r.Host, r.URL.Path)
	if !ok {
		x.fail(failure.Newf(failure.DestinationNotFound, failure.PhaseRoute,
			"no route for host "+quote(r.Host)+" and path "+quote(r.URL.Path)))
		return
	}
	rt := &p.routes[idx]
	x.routeMetrics = rt.metrics
	if rt.stale != nil {
		if key, ok := stale.Key(r); ok {
			x.staleKey, x.stale = key, rt.stale
		}
	}
	x.entry.Route = rt.name
	x.entry.Upstream = rt.pool.Name()
	if rt.redirect && !x.cameOverHTTPS() {
		x.redirectToHTTPS(rt.redirectPort)
		return
	}
	if fe := rt.policy.Check(x.client, x.entry.Start); fe != nil {
		x.fail(fe)
		return
	}
	if limit := p.cfg.Limits.RequestBodyBytes; limit > 0 && r.ContentLength > limit {
		x.fail(bodyTooLarge(limit, "of "+strconv.FormatInt(r.ContentLength, 10)+" bytes"))
		return
	}
	release, err := rt.pool.Admit()
	if err != nil {
		x.fail(err)
		return
	}
	defer release()

	key := rt.pool.HashKey(r, x.entry.ClientAddr)
	target, err := rt.pool.Pick(key, nil)
	if err != nil {
		x.fail(err)
		return
	}

	ctx := r.Context()
	if t := rt.pool.Timeouts().Request; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	protocol := upgradeRequested(r)
	treq := x.upstreamRequest(rt, protocol)
	for {
		x.target = target
		x.targetMetrics = p.targets[target]
		x.entry.Target = target.Endpoint.Name()
		x.entry.Attempts++
		x.tried |= 1 << target.Index()
		target.Acquire()
		// Offsets from the request's start read only the monotonic clock.
		started := time.Since(x.entry.Start)
		resp, err := target.Endpoint.RoundTrip(ctx, treq)
		if err == nil {
			x.respond(rt, target, protocol, resp, started)
			return
		}
		target.Release()
		fe, ok := failure.As(err)
		if ok {
			target.Report(fe.Class, 0)
		}
		next, why := rt.pool.RetryOn(err, r.Method, treq.Body != nil, x.entry.Attempts, target, x.triedTarget)
		if next == nil {
			x.fail(err)
			if why != "" {
				x.entry.Details += "; " + why
			}
			return
		}
		x.targetMetrics.Retry(x.retryRecord(fe))
		target = next
	}
}

// triedTarget reports whether the target at index i was tried for this
// request; pools beyond 64 targets retry without that memory past it.
func (x *exchange) triedTarget(i int) bool { return i < 64 && x.tried&(1<<i) != 0 }

// retryRecord is a failure a retry on another target hides from the
// client, as the metrics keep it.
func (x *exchange) retryRecord(fe *failure.Error) metrics.Failure {
	return metrics.Failure{
		RequestID: x.entry.RequestID,
		Route:     x.entry.Route,
		Cause:     fe.Class,
		Details:   fe.Error(),
	}
}

// respond relays target's response, or fails the request when it is not
// the switch of protocols asked for; target's request is done after.
func (x *exchange) respond(rt *route, target *upstream.Target, protocol string, resp *transport.Response, started time.Duration) {
	defer target.Release()
	defer resp.Release()
	if fe := checkUpgrade(x.r, protocol, resp); fe != nil {
		resp.Body.Close()
		fe.Upstream, fe.Target, fe.RequestWritten = rt.pool.Name(), x.entry.Target, true
		target.Report(fe.Class, resp.Status)
		x.fail(fe)
		return
	}
	x.targetMetrics.Response(time.Since(x.entry.Start) - started)
	if resp.Status == http.StatusSwitchingProtocols {
		target.Report(failure.None, resp.Status)
		x.tunnel(resp)
		return
	}
	x.relay(resp)
}

// cameOverHTTPS reports whether the client used HTTPS: to portico, or,
// for a trusted client (a load balancer in front), as its
// X-Forwarded-Proto says, so that a redirect cannot loop.
func (x *exchange) cameOverHTTPS() bool {
	if x.r.TLS != nil {
		return true
	}
	if !x.trusted {
		return false
	}
	v := x.r.Header["X-Forwarded-Proto"]
	return len(v) > 0 && strings.EqualFold(strings.TrimSpace(v[len(v)-1]), "https")
}

// redirectToHTTPS answers with a permanent redirect to the same URL over
// HTTPS on port (":8443", or "" for 443). 308 keeps the method and body
// (RFC 9110 §15.4.9).
func (x *exchange) redirectToHTTPS(port string) {
	host := x.r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
		if strings.Contains(h, ":") {
			host = "[" + h + "]"
		}
	}
	h := x.w.Header()
	h["Location"] = []string{"https://" + host + port + x.r.RequestURI}
	h["X-Request-Id"] = []string{x.entry.RequestID}
	h["Content-Length"] = []string{"0"}
	x.entry.Status = http.StatusPermanentRedirect
	x.w.WriteHeader(http.StatusPermanentRedirect)
	x.wroteHead = true
}

// upstreamRequest builds what is sent upstream for the client's request.
func (x *exchange) upstreamRequest(rt *route, upgrade string) *transport.Request {
	r := x.r
	x.fwd.reset(r.Header)
	extra := x.forwardingFields(upgrade)
	target := r.RequestURI
	if rt.strip != "" {
		target = stripPrefix(r.URL, rt.strip)
	}
	treq := &x.treq
	*treq = transport.Request{
		Method:        r.Method,
		Target:        target,
		Host:          r.Host,
		Header:        r.Header,
		Drop:          &x.fwd,
		Extra:         extra,
		ContentLength: r.ContentLength,
	}
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		x.uploadReader = countingReader{r: r.Body, n: &x.entry.BytesIn, limit: x.p.cfg.Limits.RequestBodyBytes}
		x.upload = &x.uploadReader
		treq.Body = x.upload
		// The body streams upstream while the response streams back; by
		// default net/http stops reading a request body once the response
		// has begun.
		if err := http.NewResponseController(x.w).EnableFullDuplex(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			x.entry.Details = "full duplex: " + err.Error()
		}
		treq.AbortBody = x.onAbortUpload
	} else {
		treq.ContentLength = 0
	}
	treq.Informational = x.onInformational
	return treq
}

// stripPrefix removes prefix from the request's path, keeping the client's
// percent-encoding where the prefix appears in it literally.
func stripPrefix(u *url.URL, prefix string) string {
	escaped := u.EscapedPath()
	var path string
	if strings.HasPrefix(escaped, prefix) {
		path = escaped[len(prefix):]
	} else {
		path = (&url.URL{Path: strings.TrimPrefix(u.Path, prefix)}).EscapedPath()
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	if u.RawQuery != "" || u.ForceQuery {
		path += "?" + u.RawQuery
	}
	return path
}

// abortUpload makes a pending read of the client's request body fail at
// once, for an upload the upstream no longer reads.
func (x *exchange) abortUpload() {
	http.NewResponseController(x.w).SetReadDeadline(time.Unix(1, 0))
}

// informational forwards a 1xx response (e.g. 103 Early Hints) to the
// client before the final one.
func (x *exchange) informational(head *h1.ResponseHead) {
	h := x.w.Header()
	copyResponseHeader(h, head.Fields, 0)
	x.w.WriteHeader(head.Status)
	// A 1xx's fields must not carry over into the final response; the
	// ResponseWriter keeps them in the map otherwise.
	clear(h)
}

// relay sends the upstream's response to the client, streaming its body.
func (x *exchange) relay(resp *transport.Response) {
	defer resp.Body.Close()
	framing := resp.Framing(x.r.Method)
	if framing == h1.NoBody {
		x.target.Report(failure.None, resp.Status)
	}
	contentLength := int64(-1)
	if resp.ContentLength >= 0 && (framing == h1.Length || x.r.Method == http.MethodHead) {
		contentLength = resp.ContentLength
	}
	// The upstream answers before it has the whole request body (RFC 9112
	// §9.3). Once the answer ends, the rest of the upload is cut, which
	// leaves the client's connection unusable: say so now, so the client
	// does not send its next request on it.
	closeAfter := x.upload != nil && x.r.ProtoMajor == 1 && !x.upload.done.Load()
	x.entry.Status = resp.Status
	if x.stale != nil {
		// An upstream's own 500, 502, 503 or 504 is replaced by the kept
		// response too (RFC 5861 §4).
		if resp.Status >= 500 && resp.Status <= 504 {
			if kept := x.kept(); kept != nil {
				resp.Body.Close()
				if framing != h1.NoBody {
					x.target.Report(failure.None, resp.Status)
				}
				x.entry.Details = "upstream answered " + strconv.Itoa(resp.Status)
				x.serveKept(kept, proxystatus.AppendReceived(nil, x.p.name, resp.Status))
				return
			}
		}
		x.startKeeping(resp, framing)
	}
	detail := x.detail()
	// A 5xx gains portico's Proxy-Status member, and members from proxies
	// behind portico are cut to what this client may see: both through the
	// header map.
	plain := (resp.Status < 500 || detail == proxystatus.Off) &&
		(detail == proxystatus.Full || !hasField(resp.Fields, "Proxy-Status"))
	if hw, ok := x.w.(headFieldsWriter); ok && plain {
		// The common case: the head goes out as it came, less what is
		// hop-by-hop, without building a header map.
		x.respFilter.reset(resp.Fields)
		extra := append(x.extraBuf[:0], h1.Field{Name: "Via", Value: x.p.via}, h1.Field{Name: "X-Request-Id", Value: x.entry.RequestID})
		hw.WriteHeadFields(resp.Status, resp.Reason, resp.Fields, &x.respFilter, extra, contentLength, closeAfter)
	} else {
		x.writeHead(resp, contentLength, closeAfter)
	}
	x.wroteHead = true
	if framing == h1.NoBody {
		return
	}
	if err := x.copyBody(resp.Body); err != nil {
		x.keeping = nil
		// Closing first ends any upload still running, so the log line
		// counts the bytes that really went up.
		resp.Body.Close()
		if fe, ok := failure.As(err); ok {
			x.target.Report(fe.Class, resp.Status)
		}
		x.abort(err)
		return
	}
	x.target.Report(failure.None, resp.Status)
	x.finishKeeping(resp)
	if trailers := resp.Body.Trailers(); len(trailers) > 0 {
		h := x.w.Header()
		for _, f := range trailers {
			k := http.TrailerPrefix + http.CanonicalHeaderKey(f.Name)
			h[k] = append(h[k], f.Value)
		}
	}
}

// writeHead sends the response head through the ResponseWriter's header
// map: for HTTP/2, for a 5xx answer, whose Proxy-Status gains portico's
// member, and for an answer whose upstream Proxy-Status is cut for this
// client.
func (x *exchange) writeHead(resp *transport.Response, contentLength int64, closeAfter bool) {
	h := x.w.Header()
	values := copyResponseHeader(h, resp.Fields, 3)
	if prior := h["Via"]; len(prior) > 0 {
		h["Via"] = append(prior, x.p.via)
	} else {
		values = setValue(h, "Via", x.p.via, values)
	}
	values = setValue(h, "X-Request-Id", x.entry.RequestID, values)
	proxystatus.Reduce(h, x.detail())
	if resp.Status >= 500 && x.detail() != proxystatus.Off {
		member := string(proxystatus.AppendReceived(nil, x.p.name, resp.Status))
		if dropped := proxystatus.Append(h, member); dropped != "" {
			x.entry.Details = "dropped invalid upstream Proxy-Status: " + dropped
		}
	}
	if closeAfter {
		h["Connection"] = []string{"close"}
	}
	if contentLength >= 0 {
		setValue(h, "Content-Length", contentLengthValue(resp.Fields, contentLength), values)
	}
	if rw, ok := x.w.(reasonWriter); ok {
		rw.WriteHeaderReason(resp.Status, resp.Reason)
	} else {
		x.w.WriteHeader(resp.Status)
	}
}

// hasField reports whether fields hold one named name.
func hasField(fields []h1.Field, name string) bool {
	for _, f := range fields {
		if len(f.Name) == len(name) && strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

// headFieldsWriter is a ResponseWriter that writes a head straight from
// a field list, as portico's HTTP/1.1 server does.
type headFieldsWriter interface {
	WriteHeadFields(code int, reason string, fields []h1.Field, drop h1.FieldFilter, extra []h1.Field, contentLength int64, closeAfter bool)
}

// reasonWriter is a ResponseWriter that can send an upstream's own reason
// phrase; HTTP/2 has none, and net/http's HTTP/1 writer always sends the
// standard one.
type reasonWriter interface {
	WriteHeaderReason(code int, reason string)
}

// errClientGone marks a response the client stopped reading.
var errClientGone = errors.New("client closed the connection")

// errClientStalled marks a response the client stopped reading while
// keeping its connection open, until the server's send timeout cut it.
var errClientStalled = fmt.Errorf("%w: client stopped reading the response", errClientGone)

// clientWriteError says why writing to the client failed.
func clientWriteError(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errClientStalled
	}
	return errClientGone
}

// copyBody streams the body to the client. Whenever the upstream has no
// more bytes ready, what was received is flushed, so streamed responses
// (server-sent events, long polls) reach the client as they arrive.
func (x *exchange) copyBody(body *transport.Body) error {
	rc := http.NewResponseController(x.w)
	for {
		// The bytes come straight from the upstream connection's buffer.
		p, rerr := body.Next()
		if len(p) > 0 {
			if _, err := x.w.Write(p); err != nil {
				return clientWriteError(err)
			}
			if x.keeping != nil {
				if int64(len(x.keeping)+len(p)) > x.stale.MaxBody() {
					x.keeping = nil
				} else {
					x.keeping = append(x.keeping, p...)
				}
			}
			x.entry.BytesOut += int64(len(p))
			if rerr == nil && !body.Buffered() {
				if err := rc.Flush(); err != nil {
					return clientWriteError(err)
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// abort ends a response whose body failed after the head was sent. The
// status can no longer change, so the only honest signal left is to break
// the stream: HTTP/1.1 loses the connection before the final chunk or short
// of Content-Length, HTTP/2 resets the stream.
func (x *exchange) abort(err error) {
	if errors.Is(err, errClientGone) {
		x.entry.Status = statusClientClosed
		x.entry.Cause = ""
		x.entry.Details = err.Error()
	} else {
		fe := x.record(err)
		if x.targetMetrics != nil {
			x.targetMetrics.Abort(x.failureRecord(fe))
		}
	}
	x.finish()
	x.entry = accesslog.Entry{} // logged; finish must not log again
	panic(http.ErrAbortHandler)
}

// statusClientClosed is logged when the client went away before its
// answer was complete; it is never sent (nginx's convention).
const statusClientClosed = 499

// fail answers the client with the error response for err.
func (x *exchange) fail(err error) {
	if errors.Is(err, context.Canceled) {
		x.entry.Status = statusClientClosed
		x.entry.Details = errClientGone.Error()
		return
	}
	switch {
	case errors.Is(err, errRequestBodyTooLarge):
		err = bodyTooLarge(x.p.cfg.Limits.RequestBodyBytes, "stream")
	case errors.Is(err, transport.ErrClientBody):
		err = failure.New(failure.HTTPRequestError, failure.PhaseWriteRequest, err)
	}
	fe := x.record(err)
	x.entry.Status = fe.Status()
	var kept *stale.Response
	if replaceable(fe.Status(), fe.Class) {
		kept = x.kept()
	}
	if kept != nil {
		x.entry.Status = kept.Status
	}
	if x.targetMetrics != nil {
		x.targetMetrics.Fail(x.failureRecord(fe))
	} else {
		x.routeMetrics.Fail(x.failureRecord(fe))
	}
	if kept != nil {
		x.serveKept(kept, proxystatus.AppendMember(nil, x.p.name, fe, x.detail()))
		return
	}
	x.entry.BytesOut += int64(x.p.errors.Write(x.w, x.r, fe, x.entry.RequestID, x.detail()))
}

// record puts a failure's cause in the log entry.
func (x *exchange) record(err error) *failure.Error {
	fe, ok := failure.As(err)
	if !ok {
		fe = failure.New(failure.ProxyInternalError, failure.PhaseInternal, err)
	}
	x.entry.Cause = fe.Class.String()
	x.entry.Details = fe.Error()
	return fe
}

// failureRecord is fe as the metrics keep it, with the log entry's words.
func (x *exchange) failureRecord(fe *failure.Error) metrics.Failure {
	return metrics.Failure{
		RequestID: x.entry.RequestID,
		Route:     x.entry.Route,
		Status:    x.entry.Status,
		Cause:     fe.Class,
		Details:   x.entry.Details,
	}
}

// finish writes the access-log line and counts the request.
func (x *exchange) finish() {
	if x.entry.Start.IsZero() {
		return
	}
	x.entry.Duration = time.Since(x.entry.Start)
	x.routeMetrics.Finished(x.entry.Status)
	x.p.log.Log(&x.entry)
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

// countingReader counts the bytes read through it and notes the end of
// the stream, which another goroutine may ask about.
type countingReader struct {
	r    io.Reader
	n    *int64
	done atomic.Bool
	// limit, when more than 0, is the most it lets through
	// (limits.request_body_bytes): past it, reads fail.
	limit int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	if c.limit > 0 && *c.n > c.limit {
		c.done.Store(true)
		return 0, errRequestBodyTooLarge
	}
	if err != nil {
		c.done.Store(true)
	}
	return n, err
}

// errRequestBodyTooLarge is a request body that grew past
// limits.request_body_bytes while it streamed.
var errRequestBodyTooLarge = errors.New("request body exceeds limits.request_body_bytes")

// bodyTooLarge is the failure for a request body over limit bytes.
func bodyTooLarge(limit int64, cause string) *failure.Error {
	fe := failure.Newf(failure.HTTPRequestError, failure.PhaseReadRequest,
		"request body "+cause+" exceeds the limit of "+strconv.FormatInt(limit, 10)+" bytes (limits.request_body_bytes)")
	fe.StatusCode = http.StatusRequestEntityTooLarge
	return fe
}
