// Package diagnose checks one upstream target the way an expert would by
// hand (DNS, then TCP, then TLS, then HTTP and keep-alive) and names the
// first broken link with the failure class a proxied request meeting it
// would get, plus the next step to take.
//
// Every check reuses the proxy's own code: internal/resolve for DNS, the
// transport's classifiers for connect, handshake and read errors, and
// internal/h1 for the response, so a verdict of http_protocol_error here is
// exactly the Proxy-Status a request through portico would carry. The
// result is a Report; rendering it is separate (Render, JSON), so that the
// checks stay free of presentation and the output can be pinned by tests.
package diagnose

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/h1"
	"github.com/portico-proxy/portico/internal/resolve"
)

// Defaults for the zero values of Options.
const (
	DefaultStepTimeout   = 5 * time.Second
	DefaultIdleProbe     = 2 * time.Second
	DefaultExpiryWarning = 14 * 24 * time.Hour
)

// Options configure a Diagnoser. The zero value checks with portico's
// defaults against the system's trust store and resolvers.
type Options struct {
	// CAFile holds PEM roots to trust instead of the system roots, as an
	// upstream's tls.ca_file does.
	CAFile string
	// ServerName is sent as SNI and verified; default: the target's host,
	// as an upstream's tls.server_name.
	ServerName string

	// Resolvers are the DNS servers to ask, as IP:port, in order; empty
	// means the nameserver lines of ResolvConf.
	Resolvers []string
	// ResolvConf and HostsFile default to resolve's defaults
	// (/etc/resolv.conf, /etc/hosts).
	ResolvConf string
	HostsFile  string

	// DNSTimeout, ConnectTimeout, TLSTimeout and HTTPTimeout bound each
	// step (default DefaultStepTimeout each). HTTPTimeout bounds the wait
	// for the response head and every gap between reads of the body.
	DNSTimeout     time.Duration
	ConnectTimeout time.Duration
	TLSTimeout     time.Duration
	HTTPTimeout    time.Duration
	// IdleProbe is how long an idle keep-alive connection is watched to
	// see whether the server closes it (default DefaultIdleProbe); a
	// negative value skips the probe.
	IdleProbe time.Duration
	// ExpiryWarning: a certificate expiring sooner than this is a warning
	// (default DefaultExpiryWarning).
	ExpiryWarning time.Duration

	// Proxy holds the settings of the upstream the target belongs to, to
	// compare what is observed with what portico would do; the zero value
	// means portico's defaults.
	Proxy *ProxySettings
}

// ProxySettings are what portico would use for the target: its upstream's
// name, timeouts, idle timeout and response limits.
type ProxySettings struct {
	// Upstream is the pool's name, "" when the target was given as a URL.
	Upstream       string
	ConnectTimeout time.Duration
	ResponseHeader time.Duration
	IdleTimeout    time.Duration
	Limits         h1.Limits
	// Prohibited is target_policy.deny: addresses portico never connects
	// to, which diagnose does not connect to either.
	Prohibited []netip.Prefix
}

// SettingsFor returns the settings of upstream u in cfg.
func SettingsFor(cfg *config.Config, u *config.Upstream) *ProxySettings {
	return &ProxySettings{
		Upstream:       u.Name,
		ConnectTimeout: u.Timeouts.Connect,
		ResponseHeader: u.Timeouts.ResponseHeader,
		IdleTimeout:    u.IdleTimeout,
		Limits: h1.Limits{
			HeaderSection: cfg.Limits.ResponseHeaderSectionBytes,
			HeaderLine:    cfg.Limits.ResponseHeaderBytes,
		},
		Prohibited: cfg.TargetPolicy.Deny,
	}
}

// DefaultSettings returns the settings of an upstream that sets nothing,
// read from the config package so that they follow its defaults.
func DefaultSettings() *ProxySettings {
	const minimal = "upstreams: {default: {targets: [\"http://127.0.0.1:1\"]}}\nroutes: [{upstream: default}]\n"
	cfg, err := config.Parse("defaults", []byte(minimal), nil)
	if err != nil {
		panic("diagnose: the minimal config does not load: " + err.Error())
	}
	s := SettingsFor(cfg, cfg.Upstreams[0])
	s.Upstream = ""
	return s
}

// Target is what to check: a URL reduced to what the proxy uses.
type Target struct {
	// URL is the URL as given.
	URL string
	// TLS is true for https.
	TLS bool
	// Host is the host name or IP literal, without brackets; Port is
	// explicit or the scheme's default.
	Host string
	Port uint16
	// HostHeader is the URL's authority, sent as the Host field.
	HostHeader string
	// RequestTarget is the path and query in origin form ("/health?x=1").
	RequestTarget string
}

// Addr returns host:port.
func (t Target) Addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(int(t.Port))) }

// ParseTarget reads an http:// or https:// URL.
func ParseTarget(raw string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Target{}, fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	t := Target{URL: raw, Host: u.Hostname(), HostHeader: u.Host}
	switch u.Scheme {
	case "http":
		t.Port = 80
	case "https":
		t.TLS, t.Port = true, 443
	default:
		return Target{}, fmt.Errorf("%q is not an http:// or https:// URL", raw)
	}
	if t.Host == "" {
		return Target{}, fmt.Errorf("%q has no host", raw)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return Target{}, fmt.Errorf("%q has an invalid port %q", raw, p)
		}
		t.Port = uint16(n)
	}
	t.RequestTarget = u.EscapedPath()
	if t.RequestTarget == "" {
		t.RequestTarget = "/"
	}
	if u.RawQuery != "" {
		t.RequestTarget += "?" + u.RawQuery
	}
	return t, nil
}

// Diagnoser checks targets with one set of options. It is safe for
// concurrent use.
type Diagnoser struct {
	opts     Options
	proxy    *ProxySettings
	resolver *resolve.Resolver
	roots    *x509.CertPool // nil: the system roots
}

// New returns a Diagnoser for o. It fails when the CA file cannot be read
// or holds no certificate, or a resolver is not an IP:port.
func New(o Options) (*Diagnoser, error) {
	for _, d := range []*time.Duration{&o.DNSTimeout, &o.ConnectTimeout, &o.TLSTimeout, &o.HTTPTimeout} {
		if *d <= 0 {
			*d = DefaultStepTimeout
		}
	}
	if o.IdleProbe == 0 {
		o.IdleProbe = DefaultIdleProbe
	}
	if o.ExpiryWarning == 0 {
		o.ExpiryWarning = DefaultExpiryWarning
	}
	d := &Diagnoser{opts: o, proxy: o.Proxy}
	if d.proxy == nil {
		d.proxy = DefaultSettings()
	}
	r, err := resolve.New(resolve.Config{
		Servers:    o.Resolvers,
		ResolvConf: o.ResolvConf,
		HostsFile:  o.HostsFile,
		Timeout:    o.DNSTimeout,
	})
	if err != nil {
		return nil, err
	}
	d.resolver = r
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, err
		}
		d.roots = x509.NewCertPool()
		if !d.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", o.CAFile)
		}
	}
	return d, nil
}

// tlsConfig is the client configuration the proxy's pools use for https
// targets (upstream.clientTLS): TLS 1.2 or newer, HTTP/1.1 by ALPN.
func (d *Diagnoser) tlsConfig(t Target) *tls.Config {
	name := d.opts.ServerName
	if name == "" {
		name = t.Host
	}
	return &tls.Config{
		ServerName: name,
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		RootCAs:    d.roots,
	}
}

// Check runs the steps in order against t and stops at the first one that
// fails. ctx cancels the whole check.
func (d *Diagnoser) Check(ctx context.Context, t Target) *Report {
	r := &Report{URL: t.URL, Scheme: "http", Upstream: d.proxy.Upstream}
	if t.TLS {
		r.Scheme = "https"
	}
	run := &check{d: d, t: t, r: r}
	defer run.close()
	if run.dns(ctx) && run.tcp(ctx) && run.tls(ctx) && run.http(ctx) {
		run.keepAlive()
	}
	r.Verdict = run.verdict()
	return r
}

// check is one run of Check: the report being filled and the connection
// the steps pass along.
type check struct {
	d    *Diagnoser
	t    Target
	r    *Report
	conn net.Conn
	// br reads conn from the HTTP step on; head is the final response
	// head, which the keep-alive step reads.
	br   *bufio.Reader
	head h1.ResponseHead
}

func (c *check) close() {
	if c.conn != nil {
		c.conn.Close()
	}
}

// joinOr lists names as "a, b or c".
func joinOr(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
