// Package resolve turns an upstream target's host name into IP addresses,
// reporting every failure as a *failure.Error typed by the taxonomy
// (dns_error with the DNS rcode, or dns_timeout) and every success with the
// server that answered, the CNAME chain and the TTL.
//
// It exists because net.Resolver reports rcodes only as text and folds
// timeouts into other errors, while portico must answer 502 dns_error with
// rcode="SERVFAIL" (RFC 9209 §2.3.2) and 504 dns_timeout (§2.3.1) as
// distinct causes.
//
// A name is resolved in this order: an IP literal answers itself; a name in
// the hosts file answers from there; otherwise the A and AAAA questions go,
// in parallel, to the DNS servers in order. Names are always treated as
// fully qualified: there is no search-list expansion, because an upstream
// target must mean the same host on every machine. Nothing is cached: the
// TTL is reported so that callers can schedule their own re-resolution.
package resolve

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/portico-proxy/portico/internal/failure"
)

// Defaults for the zero values of Config.
const (
	DefaultResolvConf = "/etc/resolv.conf"
	DefaultHostsFile  = "/etc/hosts"
	DefaultTimeout    = 2 * time.Second
)

// Answer sources.
const (
	SourceLiteral = "literal"
	SourceHosts   = "hosts"
	SourceDNS     = "dns"
)

// Config configures a Resolver.
type Config struct {
	// Servers are the DNS servers as IP:port, asked in order. Empty means
	// the nameserver lines of ResolvConf, reread whenever it changes.
	Servers []string
	// ResolvConf is the resolver configuration file read when Servers is
	// empty (default "/etc/resolv.conf"). Only its nameserver lines are used.
	ResolvConf string
	// HostsFile is the hosts file consulted before DNS (default
	// "/etc/hosts"), reread whenever its modification time or size changes.
	// A missing file has no entries.
	HostsFile string
	// Timeout bounds each query attempt: one UDP exchange, or the TCP
	// exchange that follows a truncated reply (default 2s). The caller's
	// context deadline also applies.
	Timeout time.Duration
}

// Resolver resolves host names. It is safe for concurrent use and holds no
// cache.
type Resolver struct {
	// servers is Config.Servers, fixed at New; nil means resolvConf's.
	servers    []string
	resolvConf *watchedFile[[]string]
	hosts      *watchedFile[hostsTable]
	timeout    time.Duration
	dialer     net.Dialer
}

// New returns a Resolver for c. It fails if a server is not an IP:port, the
// timeout is negative, or the hosts or resolv.conf file exists but cannot be
// read.
func New(c Config) (*Resolver, error) {
	if c.Timeout < 0 {
		return nil, fmt.Errorf("resolve: negative timeout %v", c.Timeout)
	}
	r := &Resolver{timeout: c.Timeout}
	if r.timeout == 0 {
		r.timeout = DefaultTimeout
	}
	for _, s := range c.Servers {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return nil, fmt.Errorf("resolve: server %q is not an IP:port: %w", s, err)
		}
		r.servers = append(r.servers, ap.String())
	}
	hostsPath := orDefault(c.HostsFile, DefaultHostsFile)
	r.hosts = newWatchedFile(hostsPath, parseHosts)
	if _, err := r.hosts.current(); err != nil {
		return nil, fmt.Errorf("resolve: %w", err)
	}
	if len(r.servers) == 0 {
		r.resolvConf = newWatchedFile(orDefault(c.ResolvConf, DefaultResolvConf), parseResolvConf)
		if _, err := r.resolvConf.current(); err != nil {
			return nil, fmt.Errorf("resolve: %w", err)
		}
	}
	return r, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Answer is a successful lookup.
type Answer struct {
	// Name is the host name asked, as given.
	Name string
	// Addrs holds the addresses, deduplicated: the A records first, then the
	// AAAA records, each in the order the server (or hosts file) gave them.
	// Spreading load across them is the caller's business.
	Addrs []netip.Addr
	// TTL is the smallest TTL among the records that make up the answer,
	// CNAMEs included; 0 for hosts-file and literal answers.
	TTL time.Duration
	// CNAMEs is the chain followed from Name to the addresses' owner, in
	// order, without trailing dots.
	CNAMEs []string
	// Server is the DNS server (IP:port) that answered, "hosts" for the
	// hosts file, "" for a literal.
	Server string
	// Source is SourceLiteral, SourceHosts or SourceDNS.
	Source string
}

// Lookup resolves host, which may be an IP literal (IPv6 optionally in
// brackets) or a host name with or without a trailing dot. Every error is a
// *failure.Error in failure.PhaseResolve: failure.DNSTimeout when no server
// answered in time or ctx's deadline passed, failure.DNSError otherwise, with
// an rcode parameter when a server answered with one. A ctx cancelled before
// an answer gives failure.DNSError wrapping context.Canceled.
//
// The A and AAAA questions are asked separately; if either yields an
// address, the lookup succeeds with what was found. Otherwise the reported
// failure is, in order of preference: NXDOMAIN from either (the name does not
// exist, whatever the type); another error from the A question, then from
// the AAAA question; a timeout; and last NOERROR with no addresses.
func (r *Resolver) Lookup(ctx context.Context, host string) (*Answer, error) {
	addr, isLiteral, err := parseLiteral(host)
	if isLiteral {
		return &Answer{Name: host, Addrs: []netip.Addr{addr}, Source: SourceLiteral}, nil
	}
	name := strings.TrimSuffix(host, ".")
	if _, ok := dns.IsDomainName(host); err != nil || !ok || name == "" || strings.HasPrefix(host, ".") {
		return nil, failure.Newf(failure.DNSError, failure.PhaseResolve,
			fmt.Sprintf("lookup %q: invalid host name", host))
	}

	table, err := r.hosts.current()
	if err != nil {
		return nil, &failure.Error{Class: failure.DNSError, Phase: failure.PhaseResolve,
			Details: fmt.Sprintf("lookup %s: %v", name, err), Err: err}
	}
	if addrs, ok := table[strings.ToLower(name)]; ok {
		return &Answer{Name: host, Addrs: slices.Clone(addrs), Server: SourceHosts, Source: SourceHosts}, nil
	}

	servers := r.servers
	if servers == nil {
		if servers, err = r.resolvConf.current(); err != nil {
			return nil, &failure.Error{Class: failure.DNSError, Phase: failure.PhaseResolve,
				Details: fmt.Sprintf("lookup %s: %v", name, err), Err: err}
		}
	}
	return r.lookupDNS(ctx, host, name, servers)
}

// parseLiteral reports whether host is an IP address, bare or, for IPv6, in
// the brackets of a URL authority (RFC 3986 §3.2.2). Brackets around
// anything else are an error: no host name contains them.
func parseLiteral(host string) (addr netip.Addr, ok bool, err error) {
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		addr, err = netip.ParseAddr(host[1 : len(host)-1])
		if err == nil && !addr.Is6() {
			err = errors.New("bracketed address is not IPv6")
		}
		return addr, err == nil, err
	}
	addr, err = netip.ParseAddr(host)
	return addr, err == nil, nil
}

// familyOrder returns addrs deduplicated, IPv4 first, each family in its
// original order.
func familyOrder(addrs []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(addrs))
	for _, want4 := range []bool{true, false} {
		for _, a := range addrs {
			if a.Is4() == want4 && !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// lookupDNS asks the A and AAAA questions in parallel and combines the
// replies by the rule documented on Lookup.
func (r *Resolver) lookupDNS(ctx context.Context, host, name string, servers []string) (*Answer, error) {
	fqdn := dns.Fqdn(name)
	aaaa := make(chan reply, 1)
	go func() { aaaa <- r.query(ctx, fqdn, dns.TypeAAAA, servers) }()
	replies := [2]reply{r.query(ctx, fqdn, dns.TypeA, servers), <-aaaa}

	ans := &Answer{Name: host, Source: SourceDNS}
	ttl := uint32(math.MaxUint32)
	for _, rep := range replies {
		if len(rep.addrs) == 0 {
			continue
		}
		if ans.Server == "" {
			ans.Server, ans.CNAMEs = rep.server, rep.cnames
		}
		ttl = min(ttl, rep.ttl)
		for _, a := range rep.addrs {
			if !slices.Contains(ans.Addrs, a) {
				ans.Addrs = append(ans.Addrs, a)
			}
		}
	}
	if len(ans.Addrs) > 0 {
		ans.TTL = time.Duration(ttl) * time.Second
		return ans, nil
	}

	for _, rep := range replies {
		if rep.err != nil && rep.err.Class == failure.DNSError && rcodeOf(rep.err) == "NXDOMAIN" {
			return nil, rep.err
		}
	}
	for _, rep := range replies {
		if rep.err != nil && rep.err.Class == failure.DNSError {
			return nil, rep.err
		}
	}
	for _, rep := range replies {
		if rep.err != nil {
			return nil, rep.err
		}
	}
	return nil, noAddresses(name, replies[0])
}

func rcodeOf(e *failure.Error) string {
	p, _ := e.Param("rcode")
	return p.Value
}

// noAddresses is the NOERROR-but-nothing failure: the name exists but has no
// A or AAAA records, or its CNAME chain leads nowhere within the answer.
func noAddresses(name string, rep reply) *failure.Error {
	details := fmt.Sprintf("no addresses for %s on %s", name, rep.server)
	if n := len(rep.cnames); n > 0 {
		details += " (CNAME chain ends at " + rep.cnames[n-1] + ")"
	}
	e := failure.Newf(failure.DNSError, failure.PhaseResolve, details)
	e.Params = []failure.Param{failure.StringParam("rcode", "NOERROR")}
	return e
}
