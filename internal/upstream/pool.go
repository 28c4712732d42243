// Package upstream holds the runtime form of each configured upstream: its
// targets with their connections, addresses, load and health, and the
// balancer that picks one of them for a request.
package upstream

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/portico-proxy/portico/internal/balancer"
	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/h1"
	"github.com/portico-proxy/portico/internal/health"
	"github.com/portico-proxy/portico/internal/resolve"
	"github.com/portico-proxy/portico/internal/transport"
)

// Pool is one upstream: its targets and how to choose among them. It is
// built once per configuration and never changes; a reload builds a new one.
type Pool struct {
	name     string
	targets  []*Target
	balancer *balancer.Balancer
	hashOn   config.HashKey
	timeouts config.Timeouts
	health   *health.Monitor
	// check is the active health check, nil when there is none.
	check *config.HealthCheck

	// maxInFlight is max_in_flight (0: no limit); inFlight counts the
	// requests admitted and not yet released.
	maxInFlight int64
	inFlight    atomic.Int64
	// release is p.leave, made once so that Admit allocates nothing.
	release func()

	// attempts is retries.attempts; retryBudget holds what retries may
	// still be spent, in thousandths, and retryDeposit is what each
	// request adds (retry.go).
	attempts     int
	retryBudget  atomic.Int64
	retryDeposit int64
}

// Target is one server of a pool.
type Target struct {
	// Endpoint carries requests to the target.
	Endpoint *transport.Endpoint
	url      string
	inFlight atomic.Int64
	addrs    *addresses
	pool     *Pool
	index    int
	// authority is the Host a health check sends: the target's host, and
	// its port unless it is the scheme's default.
	authority string
}

// URL returns the target's URL as configured.
func (t *Target) URL() string { return t.url }

// InFlight returns how many requests the target is serving now.
func (t *Target) InFlight() int64 { return t.inFlight.Load() }

// Acquire counts a request as in flight on t; Release ends it.
func (t *Target) Acquire() { t.inFlight.Add(1) }

// Release ends a request counted by Acquire.
func (t *Target) Release() { t.inFlight.Add(-1) }

// Health returns the target's current health.
func (t *Target) Health() health.Status { return t.pool.health.Status(t.index) }

// Report records the outcome of one attempt on the target, for passive
// ejection: class is the attempt's failure (failure.None when a response
// head arrived) and status the response's status (0 when none). Report
// every attempt, retries included; health.IsTargetFailure says which
// outcomes count.
func (t *Target) Report(class failure.Class, status int) {
	t.pool.health.Report(t.index, class, status)
}

// Options carry what pools share.
type Options struct {
	// Resolver resolves target host names.
	Resolver *resolve.Resolver
	Limits   config.Limits
	// Prohibited lists the networks no connection may go to
	// (Config.TargetPolicy.Deny).
	Prohibited []netip.Prefix
	// Logger receives the targets' changes of health; nil discards them.
	Logger *slog.Logger
	// Now is the clock ejections are timed by (default time.Now).
	Now func() time.Time
}

// New builds the pool for u.
func New(u *config.Upstream, o Options) (*Pool, error) {
	tlsConf, err := clientTLS(u.TLS)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %w", u.Name, err)
	}
	p := &Pool{name: u.Name, hashOn: u.HashOn, timeouts: u.Timeouts, check: u.HealthCheck, maxInFlight: int64(u.MaxInFlight)}
	p.release = p.leave
	p.attempts = max(1, u.Retries.Attempts)
	p.retryDeposit = int64(u.Retries.BudgetPercent) * retryCost / 100
	p.retryBudget.Store(retryReserve)
	weighted := make([]balancer.Target, len(u.Targets))
	names := make([]string, len(u.Targets))
	for i, tc := range u.Targets {
		weighted[i] = balancer.Target{Name: tc.URL.String(), Weight: tc.Weight}
		host := tc.URL.Hostname()
		port, err := strconv.ParseUint(tc.URL.Port(), 10, 16)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: target %q has no valid port", u.Name, tc.URL)
		}
		var tconf *tls.Config
		if tc.URL.Scheme == "https" {
			tconf = tlsConf.Clone()
			if tconf.ServerName == "" {
				tconf.ServerName = host
			}
		}
		addrs := newAddresses(host, u.ResolveEvery, o.Resolver)
		t := &Target{url: tc.URL.String(), addrs: addrs, pool: p, index: i, authority: authority(tc.URL.Scheme, host, tc.URL.Port())}
		names[i] = t.url
		t.Endpoint = transport.NewEndpoint(transport.EndpointOptions{
			Upstream:    u.Name,
			Name:        net.JoinHostPort(host, tc.URL.Port()),
			Host:        host,
			Port:        uint16(port),
			Addrs:       addrs.get,
			TLS:         tconf,
			Timeouts:    u.Timeouts,
			Limits:      h1.Limits{HeaderSection: o.Limits.ResponseHeaderSectionBytes, HeaderLine: o.Limits.ResponseHeaderBytes},
			MaxIdle:     u.MaxIdlePerTarget,
			IdleTimeout: u.IdleTimeout,
			MaxBody:     o.Limits.ResponseBodyBytes,
			Prohibited:  o.Prohibited,
		})
		addrs.changed = t.Endpoint.DropIdle
		p.targets = append(p.targets, t)
	}
	b, err := balancer.New(balancer.Algorithm(u.Balance), weighted, func(i int) int64 { return p.targets[i].inFlight.Load() })
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %w", u.Name, err)
	}
	p.balancer = b
	for _, t := range p.targets {
		t.addrs.start()
	}
	p.health = health.NewMonitor(health.Options{
		Upstream: u.Name,
		Targets:  names,
		Check:    u.HealthCheck,
		Probe:    p.probe,
		Outlier:  u.Outlier,
		Logger:   o.Logger,
		Now:      o.Now,
	})
	return p, nil
}

// authority is a target's host with its port, leaving out the scheme's
// default port as clients do (RFC 9110 §7.2).
func authority(scheme, host, port string) string {
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() {
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, port)
}

// clientTLS builds the TLS settings shared by a pool's https targets.
func clientTLS(c config.TLS) (*tls.Config, error) {
	conf := &tls.Config{
		ServerName: c.ServerName,
		MinVersion: tls.VersionTLS12,
		// Upstream connections speak HTTP/1.1 only.
		NextProtos: []string{"http/1.1"},
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, err
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", c.CAFile)
		}
		conf.RootCAs = roots
	}
	return conf, nil
}

// Name returns the pool's name.
func (p *Pool) Name() string { return p.name }

// Targets returns the pool's targets in configuration order.
func (p *Pool) Targets() []*Target { return p.targets }

// Timeouts returns the pool's timeouts.
func (p *Pool) Timeouts() config.Timeouts { return p.timeouts }

// Pick chooses a target for a request with hash key key, among the targets
// that are neither down nor ejected and that usable accepts (nil: all). It
// fails with destination_unavailable, naming the targets out and why, when
// none is left; no connection is attempted then. It allocates nothing
// when it finds a target.
func (p *Pool) Pick(key uint64, usable func(i int) bool) (*Target, error) {
	var i int
	if p.health.AllUsable() {
		i = p.balancer.Pick(key, usable)
	} else {
		i = p.balancer.Pick(key, func(i int) bool {
			return p.health.Usable(i) && (usable == nil || usable(i))
		})
	}
	if i < 0 {
		return nil, p.unavailable()
	}
	return p.targets[i], nil
}

// HashKey returns the key the hash balancer uses for r: the configured
// header, cookie or client address. Other algorithms ignore it.
func (p *Pool) HashKey(r *http.Request, clientIP string) uint64 {
	switch {
	case p.hashOn.Header != "":
		return balancer.HashKey(r.Header.Get(p.hashOn.Header))
	case p.hashOn.Cookie != "":
		if c, err := r.Cookie(p.hashOn.Cookie); err == nil {
			return balancer.HashKey(c.Value)
		}
		return balancer.HashKey(clientIP)
	case p.hashOn.ClientIP:
		return balancer.HashKey(clientIP)
	}
	return 0
}

// Close retires the pool: health checks stop, idle connections close now,
// busy ones when their request ends.
func (p *Pool) Close() {
	p.health.Close()
	for _, t := range p.targets {
		t.addrs.close()
		t.Endpoint.CloseIdle()
	}
}
