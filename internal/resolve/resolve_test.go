package resolve

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/portico-proxy/portico/internal/failure"
)

// testTimeout is the per-attempt timeout where a timeout is what is tested.
// Elsewhere answers get a generous one, so that a loaded machine does not
// turn a slow answer into a failure.
// Where a timeout must be followed by an answer from another server, the
// timeout is a little longer for the same reason.
const (
	testTimeout     = 200 * time.Millisecond
	failoverTimeout = 500 * time.Millisecond
	answerTimeout   = 5 * time.Second
)

// newResolver builds a Resolver that never reads the machine's files: an
// unset hosts file or resolv.conf points at a missing file in a temporary
// directory.
func newResolver(t *testing.T, c Config) *Resolver {
	t.Helper()
	dir := t.TempDir()
	if c.HostsFile == "" {
		c.HostsFile = filepath.Join(dir, "hosts")
	}
	if c.ResolvConf == "" {
		c.ResolvConf = filepath.Join(dir, "resolv.conf")
	}
	if c.Timeout == 0 {
		c.Timeout = answerTimeout
	}
	r, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// wantFailure checks that err is a *failure.Error of class in the resolve
// phase, with the given rcode parameter ("" for none) and details.
func wantFailure(t *testing.T, err error, class failure.Class, rcode, details string) *failure.Error {
	t.Helper()
	var fe *failure.Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *failure.Error", err, err)
	}
	if fe.Class != class || fe.Phase != failure.PhaseResolve {
		t.Errorf("class, phase = %v, %v; want %v, resolve", fe.Class, fe.Phase, class)
	}
	p, ok := fe.Param("rcode")
	switch {
	case rcode == "" && ok:
		t.Errorf("rcode = %q; want none", p.Value)
	case rcode != "" && (p.Value != rcode || p.Kind != failure.String):
		t.Errorf("rcode = %+v; want string %q", p, rcode)
	}
	if details != "" && fe.Details != details {
		t.Errorf("details = %q; want %q", fe.Details, details)
	}
	return fe
}

func TestLookupAnswers(t *testing.T) {
	tests := []struct {
		name   string
		zone   *zone
		host   string
		want   []netip.Addr
		ttl    time.Duration
		cnames []string
	}{{
		name: "A only",
		zone: &zone{records: []string{"app.test. 60 IN A 10.0.0.1"}},
		host: "app.test",
		want: addrs("10.0.0.1"),
		ttl:  60 * time.Second,
	}, {
		name: "AAAA only",
		zone: &zone{records: []string{"app.test. 60 IN AAAA 2001:db8::1"}},
		host: "app.test",
		want: addrs("2001:db8::1"),
		ttl:  60 * time.Second,
	}, {
		name: "A then AAAA with the smallest TTL",
		zone: &zone{records: []string{
			"app.test. 30 IN AAAA 2001:db8::1",
			"app.test. 60 IN A 10.0.0.1",
			"app.test. 60 IN A 10.0.0.2",
		}},
		host: "app.test",
		want: addrs("10.0.0.1", "10.0.0.2", "2001:db8::1"),
		ttl:  30 * time.Second,
	}, {
		name: "duplicates removed",
		zone: &zone{records: []string{
			"app.test. 60 IN A 10.0.0.1",
			"app.test. 60 IN A 10.0.0.1",
		}},
		host: "app.test",
		want: addrs("10.0.0.1"),
		ttl:  60 * time.Second,
	}, {
		name: "CNAME chain followed",
		zone: &zone{records: []string{
			"www.test. 300 IN CNAME edge.test.",
			"edge.test. 20 IN CNAME lb.test.",
			"lb.test. 60 IN A 10.0.0.7",
		}},
		host:   "www.test",
		want:   addrs("10.0.0.7"),
		ttl:    20 * time.Second,
		cnames: []string{"edge.test", "lb.test"},
	}, {
		name: "trailing dot and case",
		zone: &zone{records: []string{"app.test. 60 IN A 10.0.0.1"}},
		host: "APP.Test.",
		want: addrs("10.0.0.1"),
		ttl:  60 * time.Second,
	}, {
		name: "any address wins over NXDOMAIN for the other type",
		zone: &zone{
			records: []string{"app.test. 60 IN AAAA 2001:db8::1"},
			behave:  map[string]int{"app.test. A": dns.RcodeNameError},
		},
		host: "app.test",
		want: addrs("2001:db8::1"),
		ttl:  60 * time.Second,
	}, {
		name: "any address wins over SERVFAIL for the other type",
		zone: &zone{
			records: []string{"app.test. 60 IN A 10.0.0.1"},
			behave:  map[string]int{"app.test. AAAA": dns.RcodeServerFailure},
		},
		host: "app.test",
		want: addrs("10.0.0.1"),
		ttl:  60 * time.Second,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := startServer(t, tt.zone)
			r := newResolver(t, Config{Servers: []string{server}})
			ans, err := r.Lookup(t.Context(), tt.host)
			if err != nil {
				t.Fatal(err)
			}
			want := &Answer{Name: tt.host, Addrs: tt.want, TTL: tt.ttl, CNAMEs: tt.cnames, Server: server, Source: SourceDNS}
			if !equalAnswers(ans, want) {
				t.Errorf("answer = %+v; want %+v", ans, want)
			}
			if n := tt.zone.udpQueries.Load(); n != 2 {
				t.Errorf("%d UDP queries; want 2 (A and AAAA)", n)
			}
		})
	}
}

func equalAnswers(a, b *Answer) bool {
	return a.Name == b.Name && slices.Equal(a.Addrs, b.Addrs) && a.TTL == b.TTL &&
		slices.Equal(a.CNAMEs, b.CNAMEs) && a.Server == b.Server && a.Source == b.Source
}

func TestLookupFailures(t *testing.T) {
	both := func(name string, rcode int) map[string]int {
		return map[string]int{name + " A": rcode, name + " AAAA": rcode}
	}
	tests := []struct {
		name    string
		zone    *zone
		host    string
		class   failure.Class
		rcode   string
		details string // with SERVER for the server's address
		timeout time.Duration
	}{{
		name:    "NXDOMAIN",
		zone:    &zone{},
		host:    "missing.test",
		class:   failure.DNSError,
		rcode:   "NXDOMAIN",
		details: "lookup missing.test on SERVER: NXDOMAIN",
	}, {
		name:    "NXDOMAIN at the end of a CNAME chain",
		zone:    &zone{records: []string{"www.test. 60 IN CNAME gone.test."}},
		host:    "www.test",
		class:   failure.DNSError,
		rcode:   "NXDOMAIN",
		details: "lookup www.test on SERVER: NXDOMAIN",
	}, {
		name:    "NOERROR without addresses",
		zone:    &zone{records: []string{`txt.test. 60 IN TXT "only text"`}},
		host:    "txt.test",
		class:   failure.DNSError,
		rcode:   "NOERROR",
		details: "no addresses for txt.test on SERVER",
	}, {
		name: "NOERROR with a CNAME chain leading to no addresses",
		zone: &zone{records: []string{
			"www.test. 60 IN CNAME txt.test.",
			`txt.test. 60 IN TXT "only text"`,
		}},
		host:    "www.test",
		class:   failure.DNSError,
		rcode:   "NOERROR",
		details: "no addresses for www.test on SERVER (CNAME chain ends at txt.test)",
	}, {
		name:    "SERVFAIL",
		zone:    &zone{behave: both("app.test.", dns.RcodeServerFailure)},
		host:    "app.test",
		class:   failure.DNSError,
		rcode:   "SERVFAIL",
		details: "lookup app.test on SERVER: SERVFAIL",
	}, {
		name:    "REFUSED",
		zone:    &zone{behave: both("app.test.", dns.RcodeRefused)},
		host:    "app.test",
		class:   failure.DNSError,
		rcode:   "REFUSED",
		details: "lookup app.test on SERVER: REFUSED",
	}, {
		name:    "other rcode",
		zone:    &zone{behave: both("app.test.", dns.RcodeNotImplemented)},
		host:    "app.test",
		class:   failure.DNSError,
		rcode:   "NOTIMP",
		details: "lookup app.test on SERVER: NOTIMP",
	}, {
		name: "NXDOMAIN for one type outranks SERVFAIL for the other",
		zone: &zone{behave: map[string]int{
			"app.test. A":    dns.RcodeServerFailure,
			"app.test. AAAA": dns.RcodeNameError,
		}},
		host:  "app.test",
		class: failure.DNSError,
		rcode: "NXDOMAIN",
	}, {
		name: "SERVFAIL for one type outranks NOERROR for the other",
		zone: &zone{
			records: []string{`app.test. 60 IN TXT "x"`},
			behave:  map[string]int{"app.test. AAAA": dns.RcodeServerFailure},
		},
		host:  "app.test",
		class: failure.DNSError,
		rcode: "SERVFAIL",
	}, {
		name: "a timeout for one type outranks NOERROR for the other",
		zone: &zone{
			records: []string{`app.test. 60 IN TXT "x"`},
			behave:  map[string]int{"app.test. A": drop},
		},
		host:    "app.test",
		class:   failure.DNSTimeout,
		details: "lookup app.test on SERVER: timed out",
		timeout: testTimeout,
	}, {
		name:    "invalid name",
		zone:    &zone{},
		host:    "a..test",
		class:   failure.DNSError,
		details: `lookup "a..test": invalid host name`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := startServer(t, tt.zone)
			r := newResolver(t, Config{Servers: []string{server}, Timeout: tt.timeout})
			ans, err := r.Lookup(t.Context(), tt.host)
			if err == nil {
				t.Fatalf("answer %+v; want an error", ans)
			}
			wantFailure(t, err, tt.class, tt.rcode, strings.ReplaceAll(tt.details, "SERVER", server))
		})
	}
}

func TestLookupExtendedError(t *testing.T) {
	tests := []struct {
		name    string
		code    uint16
		details string
	}{
		{"known code", dns.ExtendedErrorCodeDNSBogus, "lookup app.test on SERVER: SERVFAIL (DNSSEC Bogus)"},
		{"unknown code", 4000, "lookup app.test on SERVER: SERVFAIL (extended error 4000)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := startServer(t, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
				resp := new(dns.Msg).SetRcode(req, dns.RcodeServerFailure)
				resp.SetEdns0(ednsUDPSize, false)
				opt := resp.IsEdns0()
				opt.Option = append(opt.Option, &dns.EDNS0_EDE{InfoCode: tt.code, ExtraText: "free text"})
				w.WriteMsg(resp)
			}))
			r := newResolver(t, Config{Servers: []string{server}})
			_, err := r.Lookup(t.Context(), "app.test")
			fe := wantFailure(t, err, failure.DNSError, "SERVFAIL", strings.ReplaceAll(tt.details, "SERVER", server))
			if p, ok := fe.Param("info-code"); !ok || p.Kind != failure.Integer || p.Int != int64(tt.code) {
				t.Errorf("info-code = %+v, %v; want integer %d", p, ok, tt.code)
			}
		})
	}
}

func TestLookupTimeout(t *testing.T) {
	t.Run("every server silent", func(t *testing.T) {
		a, b := silentServer(t), silentServer(t)
		r := newResolver(t, Config{Servers: []string{a, b}, Timeout: testTimeout})
		start := time.Now()
		_, err := r.Lookup(t.Context(), "app.test")
		elapsed := time.Since(start)
		wantFailure(t, err, failure.DNSTimeout, "", "lookup app.test on "+a+", "+b+": timed out")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%v does not wrap context.DeadlineExceeded", err)
		}
		// One attempt per server, A and AAAA in parallel.
		if elapsed < 2*testTimeout || elapsed > 10*testTimeout {
			t.Errorf("took %v; want about %v", elapsed, 2*testTimeout)
		}
	})
	t.Run("caller's deadline shorter than the timeout", func(t *testing.T) {
		r := newResolver(t, Config{Servers: []string{silentServer(t), silentServer(t)}, Timeout: time.Minute})
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := r.Lookup(ctx, "app.test")
		wantFailure(t, err, failure.DNSTimeout, "", "")
		if elapsed := time.Since(start); elapsed > 10*testTimeout {
			t.Errorf("took %v; want about 50ms", elapsed)
		}
	})
}

func TestLookupCanceled(t *testing.T) {
	r := newResolver(t, Config{Servers: []string{silentServer(t)}, Timeout: time.Minute})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := r.Lookup(ctx, "app.test")
	wantFailure(t, err, failure.DNSError, "", "lookup app.test: context canceled")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("%v does not wrap context.Canceled", err)
	}
}

func TestLookupTriesNextServer(t *testing.T) {
	good := func(t *testing.T) string {
		return startServer(t, &zone{records: []string{"app.test. 60 IN A 10.0.0.1"}})
	}
	tests := []struct {
		name  string
		first func(t *testing.T) string
	}{
		{"after a timeout", silentServer},
		{"after SERVFAIL", func(t *testing.T) string {
			return startServer(t, &zone{behave: map[string]int{
				"app.test. A": dns.RcodeServerFailure, "app.test. AAAA": dns.RcodeServerFailure,
			}})
		}},
		{"after REFUSED", func(t *testing.T) string {
			return startServer(t, &zone{behave: map[string]int{
				"app.test. A": dns.RcodeRefused, "app.test. AAAA": dns.RcodeRefused,
			}})
		}},
		{"after port unreachable", closedUDPPort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			second := good(t)
			r := newResolver(t, Config{Servers: []string{tt.first(t), second}, Timeout: failoverTimeout})
			ans, err := r.Lookup(t.Context(), "app.test")
			if err != nil {
				t.Fatal(err)
			}
			if ans.Server != second || !slices.Equal(ans.Addrs, addrs("10.0.0.1")) {
				t.Errorf("answer %+v; want 10.0.0.1 from %s", ans, second)
			}
		})
	}
	t.Run("NXDOMAIN is final", func(t *testing.T) {
		first := startServer(t, &zone{})
		second := &zone{records: []string{"app.test. 60 IN A 10.0.0.1"}}
		r := newResolver(t, Config{Servers: []string{first, startServer(t, second)}})
		_, err := r.Lookup(t.Context(), "app.test")
		wantFailure(t, err, failure.DNSError, "NXDOMAIN", "lookup app.test on "+first+": NXDOMAIN")
		if n := second.udpQueries.Load(); n != 0 {
			t.Errorf("second server asked %d times after NXDOMAIN", n)
		}
	})
	t.Run("first non-timeout failure reported", func(t *testing.T) {
		servfail := startServer(t, &zone{behave: map[string]int{
			"app.test. A": dns.RcodeServerFailure, "app.test. AAAA": dns.RcodeServerFailure,
		}})
		r := newResolver(t, Config{Servers: []string{silentServer(t), servfail, closedUDPPort(t)}, Timeout: failoverTimeout})
		_, err := r.Lookup(t.Context(), "app.test")
		wantFailure(t, err, failure.DNSError, "SERVFAIL", "lookup app.test on "+servfail+": SERVFAIL")
	})
}

func TestLookupTruncatedRetriesOverTCP(t *testing.T) {
	z := &zone{
		records: []string{"big.test. 60 IN A 10.0.0.1", "big.test. 60 IN AAAA 2001:db8::1"},
		behave:  map[string]int{"big.test. A": truncateUDP, "big.test. AAAA": truncateUDP},
	}
	r := newResolver(t, Config{Servers: []string{startServer(t, z)}})
	ans, err := r.Lookup(t.Context(), "big.test")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ans.Addrs, addrs("10.0.0.1", "2001:db8::1")) {
		t.Errorf("addrs = %v", ans.Addrs)
	}
	if u, c := z.udpQueries.Load(), z.tcpQueries.Load(); u != 2 || c != 2 {
		t.Errorf("%d UDP and %d TCP queries; want 2 and 2", u, c)
	}
}

func TestLookupNetworkErrors(t *testing.T) {
	tests := []struct {
		name   string
		server func(t *testing.T) string
		cause  error // wrapped by the failure, if not nil
	}{
		{"UDP port unreachable", closedUDPPort, nil},
		{"TCP refused after truncation", func(t *testing.T) string {
			return startUDPServer(t, &zone{behave: map[string]int{"app.test. A": truncateUDP, "app.test. AAAA": truncateUDP}})
		}, nil},
		{"malformed reply", garbageServer, errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := tt.server(t)
			r := newResolver(t, Config{Servers: []string{server}})
			_, err := r.Lookup(t.Context(), "app.test")
			fe := wantFailure(t, err, failure.DNSError, "", "")
			if prefix := "lookup app.test on " + server + ": "; !strings.HasPrefix(fe.Details, prefix) {
				t.Errorf("details = %q; want prefix %q", fe.Details, prefix)
			}
			if fe.Err == nil || (tt.cause != nil && !errors.Is(err, tt.cause)) {
				t.Errorf("cause = %v; want %v", fe.Err, tt.cause)
			}
		})
	}
}

func TestLookupLiteral(t *testing.T) {
	tests := []struct {
		host string
		want netip.Addr
	}{
		{"192.0.2.1", netip.MustParseAddr("192.0.2.1")},
		{"2001:db8::1", netip.MustParseAddr("2001:db8::1")},
		{"[2001:db8::1]", netip.MustParseAddr("2001:db8::1")},
		{"fe80::1%eth0", netip.MustParseAddr("fe80::1%eth0")},
		{"::ffff:192.0.2.1", netip.MustParseAddr("::ffff:192.0.2.1")},
	}
	z := &zone{}
	r := newResolver(t, Config{Servers: []string{startServer(t, z)}})
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			ans, err := r.Lookup(t.Context(), tt.host)
			if err != nil {
				t.Fatal(err)
			}
			want := &Answer{Name: tt.host, Addrs: []netip.Addr{tt.want}, Source: SourceLiteral}
			if !equalAnswers(ans, want) {
				t.Errorf("answer = %+v; want %+v", ans, want)
			}
		})
	}
	t.Run("brackets hold only IPv6", func(t *testing.T) {
		_, err := r.Lookup(t.Context(), "[192.0.2.1]")
		wantFailure(t, err, failure.DNSError, "", `lookup "[192.0.2.1]": invalid host name`)
	})
	if n := z.udpQueries.Load(); n != 0 {
		t.Errorf("%d queries sent for literals", n)
	}
}

func writeFile(t *testing.T, path, content string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	// Set the time explicitly: two writes within the file system's
	// timestamp granularity would otherwise look alike.
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func TestLookupHostsFile(t *testing.T) {
	hosts := filepath.Join(t.TempDir(), "hosts")
	mtime := time.Now().Add(-time.Hour)
	writeFile(t, hosts, `# static targets
::1        localhost ip6-localhost
127.0.0.1  localhost
10.1.0.5   api.internal API   # trailing comment
10.1.0.6   api.internal
bogus      broken.internal
`, mtime)
	z := &zone{records: []string{"api.internal. 60 IN A 10.9.9.9"}}
	r := newResolver(t, Config{Servers: []string{startServer(t, z)}, HostsFile: hosts})

	tests := []struct {
		host string
		want []netip.Addr
	}{
		{"localhost", addrs("127.0.0.1", "::1")},
		{"ip6-localhost", addrs("::1")},
		{"api.internal", addrs("10.1.0.5", "10.1.0.6")},
		{"API.Internal.", addrs("10.1.0.5", "10.1.0.6")},
		{"api", addrs("10.1.0.5")},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			ans, err := r.Lookup(t.Context(), tt.host)
			if err != nil {
				t.Fatal(err)
			}
			want := &Answer{Name: tt.host, Addrs: tt.want, Server: SourceHosts, Source: SourceHosts}
			if !equalAnswers(ans, want) {
				t.Errorf("answer = %+v; want %+v", ans, want)
			}
		})
	}
	if n := z.udpQueries.Load(); n != 0 {
		t.Errorf("%d DNS queries for names in the hosts file", n)
	}

	t.Run("reread after a change", func(t *testing.T) {
		writeFile(t, hosts, "10.2.0.1 api.internal\n", mtime.Add(time.Minute))
		ans, err := r.Lookup(t.Context(), "api.internal")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ans.Addrs, addrs("10.2.0.1")) {
			t.Errorf("addrs = %v; want the new entry", ans.Addrs)
		}
		// localhost is gone from the file, so DNS is asked, and has none.
		_, err = r.Lookup(t.Context(), "localhost")
		wantFailure(t, err, failure.DNSError, "NXDOMAIN", "")
	})
	t.Run("answers are copies", func(t *testing.T) {
		ans, _ := r.Lookup(t.Context(), "api.internal")
		ans.Addrs[0] = netip.IPv4Unspecified()
		again, _ := r.Lookup(t.Context(), "api.internal")
		if again.Addrs[0] != netip.MustParseAddr("10.2.0.1") {
			t.Errorf("a caller's change leaked into the table: %v", again.Addrs)
		}
	})
}

func TestLookupResolvConf(t *testing.T) {
	z := &zone{records: []string{"app. 60 IN A 10.0.0.1", "app.corp.test. 60 IN A 10.0.0.2"}}
	server := startServer(t, z)
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	ap := netip.MustParseAddrPort(server)
	writeFile(t, conf, "search corp.test\noptions ndots:5\nnameserver ["+ap.Addr().String()+"]:"+
		strconv.Itoa(int(ap.Port()))+"\n", time.Now())
	r := newResolver(t, Config{ResolvConf: conf})
	ans, err := r.Lookup(t.Context(), "app")
	if err != nil {
		t.Fatal(err)
	}
	// No search list: "app" is "app.", never "app.corp.test.".
	if ans.Server != server || !slices.Equal(ans.Addrs, addrs("10.0.0.1")) {
		t.Errorf("answer = %+v; want 10.0.0.1 from %s", ans, server)
	}
}

func TestLookupConcurrent(t *testing.T) {
	z := &zone{records: []string{"app.test. 60 IN A 10.0.0.1"}}
	r := newResolver(t, Config{Servers: []string{startServer(t, z)}})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := r.Lookup(t.Context(), "app.test"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestNewRejects(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		c    Config
	}{
		{"server without port", Config{Servers: []string{"127.0.0.1"}}},
		{"server by name", Config{Servers: []string{"dns.test:53"}}},
		{"negative timeout", Config{Servers: []string{"127.0.0.1:53"}, Timeout: -time.Second}},
		{"unreadable hosts file", Config{Servers: []string{"127.0.0.1:53"}, HostsFile: dir}},
		{"unreadable resolv.conf", Config{HostsFile: filepath.Join(dir, "hosts"), ResolvConf: dir}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.c); err == nil {
				t.Error("New succeeded")
			}
		})
	}
}
