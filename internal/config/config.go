// Package config loads portico's YAML configuration: it decodes the file
// keeping every value's line and column, expands ${VAR} references, validates
// everything at once and returns an immutable, fully typed Config, or the
// sorted list of every problem found.
package config

import (
	"crypto/tls"
	"net/netip"
	"net/url"
	"time"
)

// ProxyStatusMode says how much a Proxy-Status header reveals.
type ProxyStatusMode uint8

// The Proxy-Status modes (failure-taxonomy.md, "The header").
const (
	// ProxyStatusError sends only the error type (the default for clients
	// outside trusted_networks).
	ProxyStatusError ProxyStatusMode = iota
	// ProxyStatusFull adds next-hop, details and class parameters.
	ProxyStatusFull
	// ProxyStatusOff sends no Proxy-Status header.
	ProxyStatusOff
)

func (m ProxyStatusMode) String() string {
	switch m {
	case ProxyStatusFull:
		return "full"
	case ProxyStatusOff:
		return "off"
	}
	return "error"
}

// Balance names a load-balancing algorithm.
type Balance string

// The balancing algorithms.
const (
	RoundRobin Balance = "round_robin"
	LeastConn  Balance = "least_conn"
	RandomTwo  Balance = "random_two"
	Hash       Balance = "hash"
)

// Config is a validated configuration. It is never modified after Load
// returns; a reload builds a new one.
type Config struct {
	// Path is the file it was loaded from ("" for an embedded config): Load
	// sets it, Parse does not.
	Path string

	// Listen holds the gateway's listen addresses (host:port), at least
	// one, without repeats (default ["127.0.0.1:8080"]).
	Listen []string
	// Admin is the admin API's listen address (host:port); "" (the
	// default) means off. It is never one of Listen.
	Admin string
	// TLS serves clients HTTPS on its own addresses; nil (the default)
	// serves none.
	TLS *ServerTLS

	// ProxyStatus is the mode for clients outside TrustedNetworks (default
	// error); ProxyStatusSet is true when the file set it explicitly, in
	// which case it applies to every client.
	ProxyStatus    ProxyStatusMode
	ProxyStatusSet bool
	// TrustedNetworks are the client networks whose X-Forwarded-*,
	// Forwarded and X-Request-ID headers are believed, and which get full
	// Proxy-Status detail. A bare IP in the file becomes a /32 or /128.
	// Default: none.
	TrustedNetworks []netip.Prefix
	// ProxyName is the pseudonym used in Via and as the Proxy-Status member
	// name (default "portico"); it must be an RFC 9651 token.
	ProxyName string

	// ClientTimeouts bound how long a client connection may keep portico
	// waiting.
	ClientTimeouts ClientTimeouts
	// ShutdownGrace is how long a drain waits for in-flight requests
	// (default 30s; 0 stops at once).
	ShutdownGrace time.Duration

	AccessLog AccessLog
	Limits    Limits
	// ErrorPages maps a status code (400-599) to an HTML template file that
	// replaces the built-in error page for that status. The paths are
	// resolved against the config file's directory, and each file was
	// readable when the config was loaded. Default: none (nil).
	ErrorPages map[int]string

	// Upstreams in file order; every route's upstream is among them.
	Upstreams []*Upstream
	// Routes in file order.
	Routes []*Route

	// TargetPolicy says which addresses no upstream connection may go to.
	TargetPolicy TargetPolicy
	// Resolvers are the DNS servers asked for target host names, as
	// IP:port, in order. Default: none, meaning the nameserver lines of
	// /etc/resolv.conf.
	Resolvers []string
	// ResolveTimeout bounds each DNS query attempt (default 2s; more than
	// 0).
	ResolveTimeout time.Duration
}

// Upstream returns the pool named name, or nil.
func (c *Config) Upstream(name string) *Upstream {
	for _, u := range c.Upstreams {
		if u.Name == name {
			return u
		}
	}
	return nil
}

// AccessLog configures the one-line-per-request log.
type AccessLog struct {
	// Path is the file to append to, resolved against the config file's
	// directory; "-" (the default) or "" is standard output, "off"
	// disables the log.
	Path string
	// Format is "json" (default) or "text".
	Format string
}

// Limits bound what portico accepts. Sizes are in bytes and accept the
// suffixes KiB, MiB and GiB in the file ("64KiB"). The header limits are
// at least 1 byte and at most 2GiB.
type Limits struct {
	// RequestHeaderBytes bounds a client's request head (default 64KiB);
	// past it the answer is 431.
	RequestHeaderBytes int
	// ResponseHeaderSectionBytes bounds an upstream's whole response head
	// (default 256KiB).
	ResponseHeaderSectionBytes int
	// ResponseHeaderBytes bounds one response header line (default 64KiB).
	ResponseHeaderBytes int
	// ResponseBodyBytes bounds a response body; 0 (default) is no limit.
	ResponseBodyBytes int64
	// RequestBodyBytes bounds a client's request body; past it the answer
	// is 413. 0 (default) is no limit.
	RequestBodyBytes int64
}

// Upstream is one pool of targets.
type Upstream struct {
	// Name is the key under upstreams: letters, digits, "-", "_" and ".".
	Name string
	// Targets in file order, at least one, no URL twice.
	Targets []Target
	// Balance is the algorithm (default round_robin).
	Balance Balance
	// HashOn is what the hash balancer keys on; set only when Balance is
	// Hash.
	HashOn HashKey
	TLS    TLS
	// Timeouts bound each phase of a request to this pool.
	Timeouts Timeouts
	// ResolveEvery is how often host names among the targets are
	// re-resolved (default 30s).
	ResolveEvery time.Duration
	// MaxIdlePerTarget bounds idle keep-alive connections kept to each
	// target (default 64, at most 10000; 0 keeps none).
	MaxIdlePerTarget int
	// IdleTimeout closes idle upstream connections after this long
	// (default 60s, 0 never); keep it below the upstream's own keep-alive
	// timeout.
	IdleTimeout time.Duration
	// MaxInFlight bounds the requests in flight to the whole pool at once;
	// one more is answered 503 connection_limit_reached without contacting
	// a target (default 0, no limit; at most 1000000).
	MaxInFlight int
	// HealthCheck configures active health checks; nil (the default) runs
	// none.
	HealthCheck *HealthCheck
	// Outlier configures passive ejection of failing targets (default 5
	// consecutive failures eject a target for 30s).
	Outlier Outlier
	// Retries configures sending a failed request again to another target
	// (default 2 attempts, within a 20% budget).
	Retries Retries
	// Pos is where the upstream's name is written.
	Pos Pos
}

// HealthCheck configures the active checks of an upstream's targets: each
// target is asked for Path every Interval.
type HealthCheck struct {
	// Path is the request target asked for, starting with "/" and
	// optionally carrying a query (default "/").
	Path string
	// Interval is the time between the starts of two checks of a target
	// (default 5s; more than 0).
	Interval time.Duration
	// Timeout bounds one check, connection included (default 1s; more
	// than 0 and at most Interval).
	Timeout time.Duration
	// HealthyAfter is how many checks in a row must pass for a down target
	// to come back (default 2, 1-1000).
	HealthyAfter int
	// UnhealthyAfter is how many checks in a row must fail for a target to
	// go down (default 3, 1-1000).
	UnhealthyAfter int
	// ExpectStatus is the range of statuses that pass (default 200-399).
	ExpectStatus StatusRange
}

// StatusRange is an inclusive range of HTTP status codes, 100-599.
type StatusRange struct {
	Min, Max int
}

// Contains reports whether status is in the range.
func (r StatusRange) Contains(status int) bool {
	return r.Min <= status && status <= r.Max
}

// Outlier configures passive ejection: a target whose requests fail
// ConsecutiveFailures times in a row is taken out of balancing for
// EjectFor, twice as long on each repeat ejection (docs/health.md).
type Outlier struct {
	// ConsecutiveFailures is the run of failures that ejects a target
	// (default 5, 0-1000; 0 disables ejection).
	ConsecutiveFailures int
	// EjectFor is how long a first ejection lasts (default 30s; more than
	// 0).
	EjectFor time.Duration
}

// ClientTimeouts bound the waits on a client connection. Each is more
// than 0.
type ClientTimeouts struct {
	// Head is the wait for a request head once a connection is open,
	// its TLS handshake included (default 10s).
	Head time.Duration
	// Idle is the wait for the next request on a kept-alive connection,
	// and the longest pause inside a request body (default 75s).
	Idle time.Duration
	// Send is how long a client may take none of a response write before
	// it is disconnected (default 60s).
	Send time.Duration
}

// ServerTLS is HTTPS for clients: the addresses it is served on and the
// certificates it presents.
type ServerTLS struct {
	// Listen holds the HTTPS addresses (host:port), at least one, none of
	// them a plain listen address or the admin one.
	Listen []string
	// Certificates are loaded when the file is; each is presented to the
	// clients whose server name (SNI) it is valid for, and the first to
	// the others.
	Certificates []tls.Certificate
	// Files name the certificate and key files, in the same order.
	Files []CertificateFiles
}

// CertificateFiles are the PEM files of one certificate.
type CertificateFiles struct {
	// Cert holds the certificate chain, leaf first; Key its private key.
	Cert, Key string
}

// StaleIfError configures a route's store of last good responses, served
// in place of a 502, 503 or 504 (RFC 9111 §4.2.4, RFC 5861).
type StaleIfError struct {
	// MaxAge is how long after it was stored a response may be served
	// (default 10m; more than 0). A response's own stale-if-error may
	// shorten it.
	MaxAge time.Duration
	// MaxBytes bounds the memory of the route's store (default 64MiB);
	// the least recently used responses go first.
	MaxBytes int64
	// MaxBody is the largest body kept (default 1MiB; at most MaxBytes).
	MaxBody int64
}

// Retries configures sending a failed request again to another target of
// the pool. Which failures qualify is fixed, since only some are safe: one
// before any byte of the request was sent, for every request; a
// connection closed, or a response head not come in time, after it was
// sent, only for an idempotent request without a body.
type Retries struct {
	// Attempts bounds the tries per request, the first included, each on
	// a target not tried before (default 2, 1-10; 1 turns retries off).
	Attempts int
	// BudgetPercent bounds retries to this share of the pool's requests,
	// beyond a reserve of 10, so that a failing pool is not sent more
	// load by its own retries (default 20, 1-100).
	BudgetPercent int
}

// TargetPolicy restricts the addresses upstream connections may go to.
type TargetPolicy struct {
	// Deny lists the networks no upstream connection may go to, such as
	// the cloud metadata address 169.254.169.254; a bare IP in the file
	// becomes a /32 or /128. Default: none.
	Deny []netip.Prefix
}

// Target is one server of a pool.
type Target struct {
	// URL is http://host:port or https://host:port with the port always
	// written out (80 and 443 filled in), and no path.
	URL *url.URL
	// Weight is the target's share for weighted algorithms (default 1,
	// 1-1000).
	Weight int
	// Pos is where the target's URL is written.
	Pos Pos
}

// HashKey says what the hash balancer hashes: exactly one field is set.
type HashKey struct {
	// Header is a request header name (an RFC 9110 token).
	Header string
	// Cookie is a cookie name.
	Cookie string
	// ClientIP hashes the client's address.
	ClientIP bool
}

// TLS configures connections to https:// targets.
type TLS struct {
	// CAFile holds PEM roots to trust instead of the system roots
	// (default "": system roots). It is resolved against the config file's
	// directory and held at least one certificate when the config was
	// loaded.
	CAFile string
	// ServerName is sent as SNI and verified; default: the target's host.
	ServerName string
}

// Timeouts bound the phases of an upstream exchange. Zero means no limit.
type Timeouts struct {
	// Connect covers DNS, TCP and the TLS handshake (default 2s).
	Connect time.Duration
	// ResponseHeader runs from the request sent to the response head
	// received (default 30s).
	ResponseHeader time.Duration
	// Read is the longest gap between two reads of the response body
	// (default 60s).
	Read time.Duration
	// Write is the longest the upstream may stall reading the request body
	// (default 30s).
	Write time.Duration
	// Request is the whole-request deadline (default 0, none).
	Request time.Duration
}

// Route sends matching requests to an upstream.
type Route struct {
	// Host is "" (any), an exact host, or "*.example.com"; lower case,
	// without port.
	Host string
	// PathPrefix starts with "/" (default "/").
	PathPrefix string
	// StripPrefix removes PathPrefix before forwarding (default false).
	StripPrefix bool
	// Upstream names the pool; it is always one of Config.Upstreams.
	Upstream string
	// Allow, when not empty, lists the only client networks the route
	// serves; Deny lists client networks it refuses. A bare IP in the file
	// becomes a /32 or /128. Default: none (every client is served).
	Allow []netip.Prefix
	Deny  []netip.Prefix
	// RateLimit bounds each client address's request rate; nil (the
	// default) is no limit.
	RateLimit *RateLimit
	// Maintenance answers every request 503 without contacting the
	// upstream (default false).
	Maintenance bool
	// MaintenanceRetryAfter is the Retry-After sent while in maintenance
	// (default 0: the error writer's default).
	MaintenanceRetryAfter time.Duration
	// Pos is where the route's first key is written.
	Pos Pos
	// StaleIfError keeps the last good response to each storable GET, to
	// answer with when the upstream fails; nil (the default) keeps none.
	StaleIfError *StaleIfError
	// HTTPSRedirect answers a request that did not come over HTTPS with a
	// 308 to the same URL over HTTPS (default false); it needs tls.
	HTTPSRedirect bool
}

// HasPolicy reports whether the route restricts who may use it or when:
// an access rule, a rate limit or maintenance.
func (r *Route) HasPolicy() bool {
	return len(r.Allow) > 0 || len(r.Deny) > 0 || r.RateLimit != nil || r.Maintenance
}

// RateLimit allows each client address Requests requests per Per, with
// bursts of up to Burst requests at once (a token bucket).
type RateLimit struct {
	// Requests is the sustained number of requests allowed per Per
	// (required, 1-1000000).
	Requests int
	// Per is the period Requests are counted over (default 1s, 1ms-24h).
	Per time.Duration
	// Burst is how many requests may arrive at once after a quiet spell
	// (default Requests, 1-1000000).
	Burst int
}

// Pos is a place in a config file, for error messages. Both count from 1;
// the column counts characters.
type Pos struct {
	Line, Column int
}
