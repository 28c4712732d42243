package config

import (
	"cmp"
	"crypto/tls"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// This file is the schema: one keyTable per mapping in the file. A new
// key is one table entry plus its field in config.go and docs/config.md.

// configDraft is the top level being decoded, with what the checks that
// span several keys need to know.
type configDraft struct {
	cfg       *Config
	listenPos map[string]Pos
	adminPos  Pos
	// tlsListenPos is where each tls.listen address is written.
	tlsListenPos map[string]Pos
	// upstreamNames holds every upstream named in the file, valid or not,
	// so that a broken upstream does not also make its routes fail.
	upstreamNames []string
	routes        []*routeDraft
	// targetDenyPos[i] is where TargetPolicy.Deny[i] is written.
	targetDenyPos []Pos
}

func newConfigDraft() *configDraft {
	return &configDraft{cfg: defaultConfig()}
}

var configKeys = keyTable[*configDraft]{
	"listen": decodeListen,
	"admin": func(d *decoder, v value, c *configDraft) {
		if addr, ok := d.hostPort(v); ok {
			c.cfg.Admin, c.adminPos = addr, v.pos()
		}
	},
	"proxy_status": func(d *decoder, v value, c *configDraft) {
		mode, ok := d.oneOf(v, "full", "error", "off")
		if !ok {
			return
		}
		c.cfg.ProxyStatus = map[string]ProxyStatusMode{
			"full": ProxyStatusFull, "error": ProxyStatusError, "off": ProxyStatusOff,
		}[mode]
		c.cfg.ProxyStatusSet = true
	},
	"trusted_networks": func(d *decoder, v value, c *configDraft) {
		c.cfg.TrustedNetworks, _ = d.networks(v)
	},
	"proxy_name": func(d *decoder, v value, c *configDraft) {
		name, ok := d.scalar(v)
		if !ok {
			return
		}
		if !validSFToken(name) {
			d.errorf(v.pos(), "%s %q is not an RFC 9651 token: start with a letter and use no spaces, quotes or commas", v.label(), name)
			return
		}
		c.cfg.ProxyName = name
	},
	"shutdown_grace": func(d *decoder, v value, c *configDraft) {
		d.setDuration(v, &c.cfg.ShutdownGrace)
	},
	"client_timeouts": func(d *decoder, v value, c *configDraft) {
		decodeKeys(d, v, clientTimeoutKeys, &c.cfg.ClientTimeouts)
	},
	"access_log": func(d *decoder, v value, c *configDraft) {
		decodeKeys(d, v, accessLogKeys, &c.cfg.AccessLog)
	},
	"limits": func(d *decoder, v value, c *configDraft) {
		decodeKeys(d, v, limitsKeys, &c.cfg.Limits)
	},
	"error_pages": decodeErrorPages,
	"upstreams":   decodeUpstreams,
	"routes":      decodeRoutes,
	"target_policy": func(d *decoder, v value, c *configDraft) {
		decodeKeys(d, v, targetPolicyKeys, c)
	},
	"resolvers": decodeResolvers,
	"tls":       decodeServerTLS,
	"resolve_timeout": func(d *decoder, v value, c *configDraft) {
		d.setPositiveDuration(v, &c.cfg.ResolveTimeout)
	},
}

var targetPolicyKeys = keyTable[*configDraft]{
	"deny": func(d *decoder, v value, c *configDraft) {
		c.cfg.TargetPolicy.Deny, c.targetDenyPos = d.networks(v)
	},
}

// decodeResolvers takes a list of DNS servers, each an IP address with an
// optional port (default 53). Names are refused: finding the resolver
// would need a resolver.
func decodeResolvers(d *decoder, v value, c *configDraft) {
	items, _ := d.list(v, "resolver")
	c.cfg.Resolvers = nil
	first := map[string]Pos{}
	for _, item := range items {
		s, ok := d.scalar(item)
		if !ok {
			continue
		}
		server, ok := resolverAddr(s)
		if !ok {
			d.errorf(item.pos(), "%s %q is not an IP address with an optional port, as in \"127.0.0.1:53\" or \"[::1]:53\"", item.label(), s)
			continue
		}
		if at, dup := first[server]; dup {
			d.errorf(item.pos(), "%s %q is already listed on line %d", item.label(), s, at.Line)
			continue
		}
		first[server] = item.pos()
		c.cfg.Resolvers = append(c.cfg.Resolvers, server)
	}
}

// decodeListen takes one address or a list of them.
func decodeListen(d *decoder, v value, c *configDraft) {
	items := []value{v}
	if seq, isList := v.node.(*ast.SequenceNode); isList {
		if len(seq.Values) == 0 {
			d.errorf(v.pos(), "listen must name at least one address")
		}
		items, _ = d.list(v, v.path)
	}
	c.cfg.Listen = nil
	c.listenPos = map[string]Pos{}
	for _, item := range items {
		addr, ok := d.hostPort(item)
		if !ok {
			continue
		}
		if first, dup := c.listenPos[addr]; dup {
			d.errorf(item.pos(), "listen %q is already listed on line %d", addr, first.Line)
			continue
		}
		// Port 0 asks the kernel for a free port each time, so two of
		// them never clash.
		if !strings.HasSuffix(addr, ":0") {
			c.listenPos[addr] = item.pos()
		}
		c.cfg.Listen = append(c.cfg.Listen, addr)
	}
}

// decodeServerTLS decodes tls: the HTTPS addresses and the certificates,
// which are loaded now so that a bad file is refused with its position.
func decodeServerTLS(d *decoder, v value, c *configDraft) {
	t := &ServerTLS{}
	errorsBefore := len(d.errs)
	if !decodeKeys(d, v, serverTLSKeys, &serverTLSDraft{tls: t, c: c}, "listen", "certificates") || len(d.errs) > errorsBefore {
		return
	}
	c.cfg.TLS = t
}

// serverTLSDraft is a tls mapping being decoded.
type serverTLSDraft struct {
	tls *ServerTLS
	c   *configDraft
}

var serverTLSKeys = keyTable[*serverTLSDraft]{
	"listen": func(d *decoder, v value, s *serverTLSDraft) {
		items := []value{v}
		if _, isList := v.node.(*ast.SequenceNode); isList {
			items, _ = d.list(v, v.path)
		}
		if len(items) == 0 {
			d.errorf(v.pos(), "%s must name at least one address", v.label())
		}
		s.c.tlsListenPos = map[string]Pos{}
		for _, item := range items {
			addr, ok := d.hostPort(item)
			if !ok {
				continue
			}
			if first, dup := s.c.tlsListenPos[addr]; dup {
				d.errorf(item.pos(), "%s %q is already listed on line %d", v.label(), addr, first.Line)
				continue
			}
			if !strings.HasSuffix(addr, ":0") {
				s.c.tlsListenPos[addr] = item.pos()
			}
			s.tls.Listen = append(s.tls.Listen, addr)
		}
	},
	"certificates": func(d *decoder, v value, s *serverTLSDraft) {
		items, _ := d.list(v, v.path)
		if len(items) == 0 {
			d.errorf(v.pos(), "%s must list at least one certificate", v.label())
		}
		for _, item := range items {
			var files CertificateFiles
			var certAt, keyAt value
			if !decodeKeys(d, item, certificateKeys, &certificateDraft{files: &files, certAt: &certAt, keyAt: &keyAt}, "cert_file", "key_file") || files.Cert == "" || files.Key == "" {
				continue
			}
			cert, err := tls.LoadX509KeyPair(files.Cert, files.Key)
			if err != nil {
				d.errorf(certAt.pos(), "%s: %v", item.label(), err)
				continue
			}
			s.tls.Certificates = append(s.tls.Certificates, cert)
			s.tls.Files = append(s.tls.Files, files)
		}
	},
}

// certificateDraft is one item of tls.certificates being decoded.
type certificateDraft struct {
	files         *CertificateFiles
	certAt, keyAt *value
}

var certificateKeys = keyTable[*certificateDraft]{
	"cert_file": func(d *decoder, v value, c *certificateDraft) {
		if file, ok := d.readableFile(v); ok {
			c.files.Cert, *c.certAt = file.path, v
		}
	},
	"key_file": func(d *decoder, v value, c *certificateDraft) {
		if file, ok := d.readableFile(v); ok {
			c.files.Key, *c.keyAt = file.path, v
		}
	},
}

var clientTimeoutKeys = keyTable[*ClientTimeouts]{
	"head": func(d *decoder, v value, t *ClientTimeouts) { d.setPositiveDuration(v, &t.Head) },
	"idle": func(d *decoder, v value, t *ClientTimeouts) { d.setPositiveDuration(v, &t.Idle) },
	"send": func(d *decoder, v value, t *ClientTimeouts) { d.setPositiveDuration(v, &t.Send) },
}

var accessLogKeys = keyTable[*AccessLog]{
	"path": func(d *decoder, v value, a *AccessLog) {
		path, ok := d.scalar(v)
		switch {
		case !ok:
		case path == "" || path == "-" || path == "off":
			a.Path = cmp.Or(path, "-")
		default:
			a.Path = d.localPath(path)
		}
	},
	"format": func(d *decoder, v value, a *AccessLog) {
		if format, ok := d.oneOf(v, "json", "text"); ok {
			a.Format = format
		}
	},
}

var limitsKeys = keyTable[*Limits]{
	"request_header_bytes": func(d *decoder, v value, l *Limits) {
		setIntSize(d, v, &l.RequestHeaderBytes)
	},
	"response_header_section_bytes": func(d *decoder, v value, l *Limits) {
		setIntSize(d, v, &l.ResponseHeaderSectionBytes)
	},
	"response_header_bytes": func(d *decoder, v value, l *Limits) {
		setIntSize(d, v, &l.ResponseHeaderBytes)
	},
	"response_body_bytes": func(d *decoder, v value, l *Limits) {
		if n, ok := d.size(v, true, math.MaxInt64); ok {
			l.ResponseBodyBytes = n
		}
	},
	"request_body_bytes": func(d *decoder, v value, l *Limits) {
		if n, ok := d.size(v, true, math.MaxInt64); ok {
			l.RequestBodyBytes = n
		}
	},
}

// setIntSize decodes a header limit: at least one byte, and at most 2GiB so
// that it fits an int on every platform.
func setIntSize(d *decoder, v value, dst *int) {
	if n, ok := d.size(v, false, math.MaxInt32); ok {
		*dst = int(n)
	}
}

func decodeErrorPages(d *decoder, v value, c *configDraft) {
	entries, _ := d.entries(v)
	pages := map[int]string{}
	for _, e := range entries {
		if e.broken {
			continue
		}
		status, err := strconv.Atoi(e.key)
		if err != nil || status < 400 || status > 599 {
			d.errorf(e.pos, "error_pages key %q is not a status code from 400 to 599", e.key)
			continue
		}
		if file, ok := d.readableFile(e.value); ok {
			pages[status] = file.path
		}
	}
	c.cfg.ErrorPages = pages
}

func decodeUpstreams(d *decoder, v value, c *configDraft) {
	entries, _ := d.entries(v)
	for _, e := range entries {
		c.upstreamNames = append(c.upstreamNames, e.key)
		if !validUpstreamName(e.key) {
			d.errorf(e.pos, "upstream name %q may use only letters, digits, \"-\", \"_\" and \".\"", e.key)
			continue
		}
		if e.broken {
			continue
		}
		scope := fmt.Sprintf("upstream %q", e.key)
		if isNull(e.value.node) {
			d.errorf(e.pos, "%s has no targets", scope)
			continue
		}
		u := &upstreamDraft{up: defaultUpstream(e.key, e.pos)}
		if decodeKeys(d, value{node: e.value.node, scope: scope}, upstreamKeys, u, "targets") && u.check(d, scope) {
			c.cfg.Upstreams = append(c.cfg.Upstreams, u.up)
		}
	}
}

// validUpstreamName keeps names safe to use as metric labels and in logs.
func validUpstreamName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		if !(c == '-' || c == '_' || c == '.' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// upstreamDraft is an upstream being decoded, with the positions its
// cross-key checks point at.
type upstreamDraft struct {
	up         *Upstream
	balancePos Pos
	// hashPos is where hash was given; hashKeys counts the keys it set.
	hashPos   Pos
	hashGiven bool
	hashKeys  int
}

var upstreamKeys = keyTable[*upstreamDraft]{
	"targets": decodeTargets,
	"balance": func(d *decoder, v value, u *upstreamDraft) {
		b, ok := d.oneOf(v, string(RoundRobin), string(LeastConn), string(RandomTwo), string(Hash))
		if ok {
			u.up.Balance, u.balancePos = Balance(b), v.pos()
		}
	},
	"hash": func(d *decoder, v value, u *upstreamDraft) {
		u.hashGiven, u.hashPos = true, v.pos()
		decodeKeys(d, v, hashKeys, u)
	},
	"tls": func(d *decoder, v value, u *upstreamDraft) {
		decodeKeys(d, v, tlsKeys, &u.up.TLS)
	},
	"timeouts": func(d *decoder, v value, u *upstreamDraft) {
		decodeKeys(d, v, timeoutKeys, &u.up.Timeouts)
	},
	"resolve_every": func(d *decoder, v value, u *upstreamDraft) {
		d.setDuration(v, &u.up.ResolveEvery)
	},
	"max_idle_per_target": func(d *decoder, v value, u *upstreamDraft) {
		if n, ok := d.integer(v, 0, 10000); ok {
			u.up.MaxIdlePerTarget = n
		}
	},
	"idle_timeout": func(d *decoder, v value, u *upstreamDraft) {
		d.setDuration(v, &u.up.IdleTimeout)
	},
	"max_in_flight": func(d *decoder, v value, u *upstreamDraft) {
		if n, ok := d.integer(v, 0, 1000000); ok {
			u.up.MaxInFlight = n
		}
	},
	"health_check": decodeHealthCheck,
	"outlier": func(d *decoder, v value, u *upstreamDraft) {
		decodeKeys(d, v, outlierKeys, &u.up.Outlier)
	},
	"retries": func(d *decoder, v value, u *upstreamDraft) {
		decodeKeys(d, v, retriesKeys, &u.up.Retries)
	},
}

// healthCheckDraft is a health_check being decoded, with where its timeout
// is written for the check against the interval.
type healthCheckDraft struct {
	check      *HealthCheck
	timeoutPos Pos
	timeoutSet bool
}

func decodeHealthCheck(d *decoder, v value, u *upstreamDraft) {
	h := &healthCheckDraft{check: defaultHealthCheck()}
	errorsBefore := len(d.errs)
	if !decodeKeys(d, v, healthCheckKeys, h) || len(d.errs) > errorsBefore {
		return
	}
	if c := h.check; h.timeoutSet && c.Timeout > c.Interval {
		d.errorf(h.timeoutPos, "%s: health_check.timeout %s is longer than the interval %s", v.scope, c.Timeout, c.Interval)
		return
	}
	u.up.HealthCheck = h.check
}

var healthCheckKeys = keyTable[*healthCheckDraft]{
	"path": func(d *decoder, v value, h *healthCheckDraft) {
		path, ok := d.scalar(v)
		switch {
		case !ok:
		case !strings.HasPrefix(path, "/"):
			d.errorf(v.pos(), "%s %q must start with \"/\"", v.label(), path)
		case strings.ContainsFunc(path, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '#' }):
			d.errorf(v.pos(), "%s %q must not contain spaces, control characters or \"#\"", v.label(), path)
		default:
			h.check.Path = path
		}
	},
	"interval": func(d *decoder, v value, h *healthCheckDraft) {
		d.setPositiveDuration(v, &h.check.Interval)
	},
	"timeout": func(d *decoder, v value, h *healthCheckDraft) {
		if d.setPositiveDuration(v, &h.check.Timeout) {
			h.timeoutPos, h.timeoutSet = v.pos(), true
		}
	},
	"healthy_after": func(d *decoder, v value, h *healthCheckDraft) {
		if n, ok := d.integer(v, 1, 1000); ok {
			h.check.HealthyAfter = n
		}
	},
	"unhealthy_after": func(d *decoder, v value, h *healthCheckDraft) {
		if n, ok := d.integer(v, 1, 1000); ok {
			h.check.UnhealthyAfter = n
		}
	},
	"expect_status": func(d *decoder, v value, h *healthCheckDraft) {
		if r, ok := d.statusRange(v); ok {
			h.check.ExpectStatus = r
		}
	},
}

var outlierKeys = keyTable[*Outlier]{
	"consecutive_failures": func(d *decoder, v value, o *Outlier) {
		if n, ok := d.integer(v, 0, 1000); ok {
			o.ConsecutiveFailures = n
		}
	},
	"eject_for": func(d *decoder, v value, o *Outlier) {
		d.setPositiveDuration(v, &o.EjectFor)
	},
}

var retriesKeys = keyTable[*Retries]{
	"attempts": func(d *decoder, v value, r *Retries) {
		if n, ok := d.integer(v, 1, 10); ok {
			r.Attempts = n
		}
	},
	"budget_percent": func(d *decoder, v value, r *Retries) {
		if n, ok := d.integer(v, 1, 100); ok {
			r.BudgetPercent = n
		}
	},
}

// check runs the upstream's cross-key checks and reports whether it is
// complete.
func (u *upstreamDraft) check(d *decoder, scope string) bool {
	ok := true
	switch {
	case u.up.Balance == Hash && !u.hashGiven:
		d.errorf(u.balancePos, "%s: balance hash needs hash.header, hash.cookie or hash.client_ip", scope)
		ok = false
	case u.up.Balance != Hash && u.hashGiven:
		d.errorf(u.hashPos, "%s: hash applies only with balance: hash", scope)
		ok = false
	case u.hashGiven && u.hashKeys != 1:
		d.errorf(u.hashPos, "%s: hash must set exactly one of header, cookie and client_ip", scope)
		ok = false
	}
	return ok
}

var hashKeys = keyTable[*upstreamDraft]{
	"header": func(d *decoder, v value, u *upstreamDraft) {
		name, ok := d.scalar(v)
		if ok && !validToken(name) {
			d.errorf(v.pos(), "%s %q is not a valid header name", v.label(), name)
		}
		u.up.HashOn.Header = name
		u.hashKeys++
	},
	"cookie": func(d *decoder, v value, u *upstreamDraft) {
		name, ok := d.scalar(v)
		if ok && !validToken(name) {
			d.errorf(v.pos(), "%s %q is not a valid cookie name", v.label(), name)
		}
		u.up.HashOn.Cookie = name
		u.hashKeys++
	},
	"client_ip": func(d *decoder, v value, u *upstreamDraft) {
		if on, ok := d.boolean(v); on || !ok {
			u.up.HashOn.ClientIP = on
			u.hashKeys++
		}
	},
}

var tlsKeys = keyTable[*TLS]{
	"ca_file": func(d *decoder, v value, t *TLS) {
		if path, ok := d.caFile(v); ok {
			t.CAFile = path
		}
	},
	"server_name": func(d *decoder, v value, t *TLS) {
		name, ok := d.scalar(v)
		if !ok {
			return
		}
		if !validHostName(name) && !validIP(name) {
			d.errorf(v.pos(), "%s %q is not a host name", v.label(), name)
			return
		}
		t.ServerName = name
	},
}

var timeoutKeys = keyTable[*Timeouts]{
	"connect":         func(d *decoder, v value, t *Timeouts) { d.setDuration(v, &t.Connect) },
	"response_header": func(d *decoder, v value, t *Timeouts) { d.setDuration(v, &t.ResponseHeader) },
	"read":            func(d *decoder, v value, t *Timeouts) { d.setDuration(v, &t.Read) },
	"write":           func(d *decoder, v value, t *Timeouts) { d.setDuration(v, &t.Write) },
	"request":         func(d *decoder, v value, t *Timeouts) { d.setDuration(v, &t.Request) },
}

// decodeTargets takes a list whose items are URLs or {url, weight}.
func decodeTargets(d *decoder, v value, u *upstreamDraft) {
	items, ok := d.list(v, "target")
	if ok && len(items) == 0 {
		d.errorf(v.pos(), "%s must list at least one target", v.label())
	}
	first := map[string]Pos{}
	for _, item := range items {
		t := &targetDraft{target: defaultTarget(item.pos())}
		switch item.node.(type) {
		case *ast.MappingNode, *ast.MappingValueNode:
			decodeKeys(d, item, targetKeys, t, "url")
		default:
			t.setURL(d, item)
		}
		if t.target.URL == nil {
			continue
		}
		key := t.target.URL.String()
		if at, dup := first[key]; dup {
			d.errorf(t.target.Pos, "%s %q is already listed on line %d", item.label(), t.written, at.Line)
			continue
		}
		first[key] = t.target.Pos
		u.up.Targets = append(u.up.Targets, t.target)
	}
}

// targetDraft is a target being decoded; written is its URL as the file
// spells it, for messages.
type targetDraft struct {
	target  Target
	written string
}

func (t *targetDraft) setURL(d *decoder, v value) {
	if u, ok := d.targetURL(v); ok {
		t.written, _ = d.scalar(v)
		t.target.URL, t.target.Pos = u, v.pos()
	}
}

var targetKeys = keyTable[*targetDraft]{
	"url": func(d *decoder, v value, t *targetDraft) {
		v.path = "target"
		t.setURL(d, v)
	},
	"weight": func(d *decoder, v value, t *targetDraft) {
		v.path = "weight"
		if w, ok := d.integer(v, 1, 1000); ok {
			t.target.Weight = w
		}
	},
}

func decodeRoutes(d *decoder, v value, c *configDraft) {
	items, _ := d.list(v, "route")
	for i, item := range items {
		r := &routeDraft{route: defaultRoute(item.pos())}
		errorsBefore := len(d.errs)
		decodeKeys(d, value{node: item.node, scope: fmt.Sprintf("route %d", i+1)}, routeKeys, r, "upstream")
		r.invalid = len(d.errs) > errorsBefore
		c.routes = append(c.routes, r)
	}
}

// routeDraft is a route being decoded. An invalid route has had its
// problems reported and is left out of the duplicate check, which would
// only repeat them; its upstream is still checked when it was read.
type routeDraft struct {
	route       *Route
	upstreamPos Pos
	invalid     bool
	// redirectPos is where https_redirect is written.
	redirectPos Pos
}

var routeKeys = keyTable[*routeDraft]{
	"host": func(d *decoder, v value, r *routeDraft) {
		s, ok := d.scalar(v)
		if !ok {
			return
		}
		host, problem := routeHost(s)
		if problem != "" {
			d.errorf(v.pos(), "%s %q %s", v.label(), s, problem)
			return
		}
		r.route.Host = host
	},
	"path_prefix": func(d *decoder, v value, r *routeDraft) {
		prefix, ok := d.scalar(v)
		switch {
		case !ok:
		case !strings.HasPrefix(prefix, "/"):
			d.errorf(v.pos(), "%s %q must start with \"/\"", v.label(), prefix)
		case strings.ContainsAny(prefix, "?#"):
			d.errorf(v.pos(), "%s %q must not contain \"?\" or \"#\"", v.label(), prefix)
		default:
			r.route.PathPrefix = prefix
		}
	},
	"strip_prefix": func(d *decoder, v value, r *routeDraft) {
		if strip, ok := d.boolean(v); ok {
			r.route.StripPrefix = strip
		}
	},
	"upstream": func(d *decoder, v value, r *routeDraft) {
		name, ok := d.scalar(v)
		switch {
		case !ok:
		case name == "":
			d.errorf(v.pos(), "%s must name an upstream", v.label())
		default:
			r.route.Upstream, r.upstreamPos = name, v.pos()
		}
	},
	"allow": func(d *decoder, v value, r *routeDraft) {
		r.route.Allow, _ = d.networks(v)
	},
	"deny": func(d *decoder, v value, r *routeDraft) {
		r.route.Deny, _ = d.networks(v)
	},
	"rate_limit": func(d *decoder, v value, r *routeDraft) {
		limit := defaultRateLimit()
		if decodeKeys(d, v, rateLimitKeys, limit, "requests") && limit.Requests > 0 {
			if limit.Burst == 0 {
				limit.Burst = limit.Requests
			}
			r.route.RateLimit = limit
		}
	},
	"maintenance": func(d *decoder, v value, r *routeDraft) {
		if on, ok := d.boolean(v); ok {
			r.route.Maintenance = on
		}
	},
	"maintenance_retry_after": func(d *decoder, v value, r *routeDraft) {
		d.setDuration(v, &r.route.MaintenanceRetryAfter)
	},
	"https_redirect": func(d *decoder, v value, r *routeDraft) {
		if on, ok := d.boolean(v); ok {
			r.route.HTTPSRedirect, r.redirectPos = on, v.pos()
		}
	},
	"stale_if_error": func(d *decoder, v value, r *routeDraft) {
		st := &StaleIfError{MaxAge: 10 * time.Minute, MaxBytes: 64 << 20, MaxBody: 1 << 20}
		errorsBefore := len(d.errs)
		if !decodeKeys(d, v, staleKeys, st) || len(d.errs) > errorsBefore {
			return
		}
		if st.MaxBody > st.MaxBytes {
			d.errorf(v.pos(), "%s.max_body %d is more than max_bytes %d", v.label(), st.MaxBody, st.MaxBytes)
			return
		}
		r.route.StaleIfError = st
	},
}

var staleKeys = keyTable[*StaleIfError]{
	"max_age": func(d *decoder, v value, st *StaleIfError) {
		d.setPositiveDuration(v, &st.MaxAge)
	},
	"max_bytes": func(d *decoder, v value, st *StaleIfError) {
		if n, ok := d.size(v, false, 1<<40); ok {
			st.MaxBytes = n
		}
	},
	"max_body": func(d *decoder, v value, st *StaleIfError) {
		if n, ok := d.size(v, false, 1<<40); ok {
			st.MaxBody = n
		}
	},
}

var rateLimitKeys = keyTable[*RateLimit]{
	"requests": func(d *decoder, v value, l *RateLimit) {
		if n, ok := d.integer(v, 1, 1000000); ok {
			l.Requests = n
		}
	},
	"per": func(d *decoder, v value, l *RateLimit) {
		per, ok := d.duration(v)
		switch {
		case !ok:
		case per < time.Millisecond || per > 24*time.Hour:
			written, _ := d.scalar(v)
			d.errorf(v.pos(), "%s %s is outside 1ms-24h", v.label(), written)
		default:
			l.Per = per
		}
	},
	"burst": func(d *decoder, v value, l *RateLimit) {
		if n, ok := d.integer(v, 1, 1000000); ok {
			l.Burst = n
		}
	},
}

// check runs the checks that span the whole file: routes name defined
// upstreams and do not repeat each other, admin is not a gateway address,
// and no target is an address target_policy denies.
func (c *configDraft) check(d *decoder) {
	if first, clash := c.listenPos[c.cfg.Admin]; clash && c.cfg.Admin != "" {
		d.errorf(c.adminPos, "admin %q is also a listen address, on line %d", c.cfg.Admin, first.Line)
	}
	for addr, at := range c.tlsListenPos {
		switch first, clash := c.listenPos[addr]; {
		case clash:
			d.errorf(at, "tls.listen %q is also a listen address, on line %d", addr, first.Line)
		case addr == c.cfg.Admin:
			d.errorf(at, "tls.listen %q is also the admin address, on line %d", addr, c.adminPos.Line)
		}
	}
	c.checkTargetPolicy(d)
	firstRoute := map[[2]string]Pos{}
	for i, r := range c.routes {
		scope := fmt.Sprintf("route %d", i+1)
		name := r.route.Upstream
		if name != "" && !slices.Contains(c.upstreamNames, name) {
			d.errorf(r.upstreamPos, "%s: upstream %q is not defined%s", scope, name, didYouMean(name, c.upstreamNames))
		}
		if r.route.HTTPSRedirect && c.cfg.TLS == nil {
			d.errorf(r.redirectPos, "%s: https_redirect needs tls, the HTTPS listeners to redirect to", scope)
		}
		if r.invalid {
			continue
		}
		key := [2]string{r.route.Host, r.route.PathPrefix}
		if at, dup := firstRoute[key]; dup {
			d.errorf(r.route.Pos, "%s matches %s and path_prefix %q, as the route on line %d already does",
				scope, describeHost(r.route.Host), r.route.PathPrefix, at.Line)
			continue
		}
		firstRoute[key] = r.route.Pos
		c.cfg.Routes = append(c.cfg.Routes, r.route)
	}
}

// checkTargetPolicy refuses IP-literal targets inside target_policy.deny:
// every request to them would fail. Targets named by host are checked
// when their addresses are known, before each connection.
func (c *configDraft) checkTargetPolicy(d *decoder) {
	for _, u := range c.cfg.Upstreams {
		for _, t := range u.Targets {
			addr, err := netip.ParseAddr(t.URL.Hostname())
			if err != nil {
				continue
			}
			for i, deny := range c.cfg.TargetPolicy.Deny {
				if deny.Contains(addr.Unmap()) {
					d.errorf(t.Pos, "upstream %q: target %q is in target_policy.deny %s on line %d",
						u.Name, t.URL.String(), deny, c.targetDenyPos[i].Line)
					break
				}
			}
		}
	}
}

// describeHost names a route's host for messages.
func describeHost(host string) string {
	if host == "" {
		return "any host"
	}
	return fmt.Sprintf("host %q", host)
}
