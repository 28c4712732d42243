// Package policy decides whether a route serves a request before any
// upstream is contacted: client address rules, a per-client rate limit and
// maintenance mode, each compiled once from the route's configuration.
package policy

import (
	"math"
	"net/http"
	"net/netip"
	"time"

	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/failure"
)

// Policy is one route's compiled policy. It is safe for concurrent use; a
// nil *Policy lets every request through.
type Policy struct {
	allow []netip.Prefix
	deny  []rule
	// notAllowed explains a refusal when allow is set and no rule matched.
	notAllowed string

	maintenance bool
	// maintenanceRetryAfter is in whole seconds; 0 leaves the error
	// writer's default.
	maintenanceRetryAfter int

	limiter *limiter
}

// rule is one client network with the sentence that explains a refusal.
type rule struct {
	network netip.Prefix
	details string
}

// New compiles the policy of r, or returns nil when r has none, so that a
// route without rules costs one nil check per request.
func New(r *config.Route) *Policy {
	if !r.HasPolicy() {
		return nil
	}
	p := &Policy{
		maintenance:           r.Maintenance,
		maintenanceRetryAfter: int(math.Ceil(r.MaintenanceRetryAfter.Seconds())),
		notAllowed:            "client address is outside every allow rule of the route",
		allow:                 r.Allow,
	}
	for _, n := range r.Deny {
		p.deny = append(p.deny, rule{network: n, details: "client address is inside deny rule " + n.String()})
	}
	if r.RateLimit != nil {
		p.limiter = newLimiter(*r.RateLimit)
	}
	return p
}

// Check returns the failure a request from client at now must be answered
// with, or nil when the route serves it. The checks run in a fixed order:
// address rules first (403; a refused client learns nothing more), then
// maintenance (503), then the rate limit (429), so that requests refused
// for another reason spend no tokens. A passing check allocates nothing.
func (p *Policy) Check(client netip.Addr, now time.Time) *failure.Error {
	if p == nil {
		return nil
	}
	client = client.Unmap().WithZone("")
	if fe := p.checkAddress(client); fe != nil {
		return fe
	}
	if p.maintenance {
		fe := failure.Newf(failure.ProxyInternalResponse, failure.PhasePolicy, "route is in maintenance")
		fe.RetryAfterSeconds = p.maintenanceRetryAfter
		return fe
	}
	if p.limiter != nil {
		if wait := p.limiter.take(client, now.UnixNano()); wait > 0 {
			// RFC 6585 §4: 429, with Retry-After saying when to come back.
			fe := failure.Newf(failure.HTTPRequestDenied, failure.PhasePolicy, "rate limited")
			fe.StatusCode = http.StatusTooManyRequests
			fe.RetryAfterSeconds = int(math.Ceil(wait.Seconds()))
			return fe
		}
	}
	return nil
}

// checkAddress applies allow and deny: a client must be inside an allow
// rule when there are any, and inside no deny rule.
func (p *Policy) checkAddress(client netip.Addr) *failure.Error {
	if len(p.allow) > 0 {
		allowed := false
		for _, n := range p.allow {
			if n.Contains(client) {
				allowed = true
				break
			}
		}
		if !allowed {
			return failure.Newf(failure.HTTPRequestDenied, failure.PhasePolicy, p.notAllowed)
		}
	}
	for i := range p.deny {
		if p.deny[i].network.Contains(client) {
			return failure.Newf(failure.HTTPRequestDenied, failure.PhasePolicy, p.deny[i].details)
		}
	}
	return nil
}

// TrackedClients returns how many client addresses the rate limiter holds
// state for now, at most MaxTrackedClients; 0 without a rate limit.
func (p *Policy) TrackedClients() int {
	if p == nil || p.limiter == nil {
		return 0
	}
	return p.limiter.size()
}
