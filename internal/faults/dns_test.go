package faults

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func startDNS(t *testing.T, zone map[string]DNSAnswer) *DNSServer {
	t.Helper()
	d, err := StartDNS(zone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

func query(d *DNSServer, network, name string, qtype uint16) (*dns.Msg, error) {
	client := &dns.Client{Net: network, Timeout: 300 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	reply, _, err := client.Exchange(m, d.Addr())
	return reply, err
}

// summary renders the answer section as "name TYPE value/ttl" strings.
func summary(reply *dns.Msg) []string {
	var out []string
	for _, rr := range reply.Answer {
		h := rr.Header()
		var value string
		switch rr := rr.(type) {
		case *dns.A:
			value = rr.A.String()
		case *dns.AAAA:
			value = rr.AAAA.String()
		case *dns.CNAME:
			value = rr.Target
		}
		out = append(out, h.Name+" "+dns.TypeToString[h.Rrtype]+" "+value+"/"+strconv.FormatUint(uint64(h.Ttl), 10))
	}
	return out
}

func TestDNSAnswers(t *testing.T) {
	zone := map[string]DNSAnswer{
		"app.test":     {Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}, TTL: 30},
		"www.test.":    {CNAME: "edge.test", TTL: 60},
		"edge.test.":   {CNAME: "app.test", TTL: 5},
		"gone.test.":   {Result: DNSNXDomain},
		"broken.test.": {Result: DNSServFail},
		"empty.test.":  {Result: DNSNoAnswer},
		"loop.test.":   {CNAME: "loop.test"},
	}
	tests := []struct {
		name      string
		qtype     uint16
		wantRcode int
		want      []string
	}{
		{"app.test", dns.TypeA, dns.RcodeSuccess, []string{"app.test. A 127.0.0.1/30"}},
		{"APP.test", dns.TypeAAAA, dns.RcodeSuccess, []string{"app.test. AAAA ::1/30"}},
		{"www.test", dns.TypeA, dns.RcodeSuccess, []string{
			"www.test. CNAME edge.test./60", "edge.test. CNAME app.test./5", "app.test. A 127.0.0.1/30"}},
		{"gone.test", dns.TypeA, dns.RcodeNameError, nil},
		{"unknown.test", dns.TypeA, dns.RcodeNameError, nil},
		{"broken.test", dns.TypeA, dns.RcodeServerFailure, nil},
		{"empty.test", dns.TypeA, dns.RcodeSuccess, nil},
		{"loop.test", dns.TypeA, dns.RcodeSuccess, slices.Repeat([]string{"loop.test. CNAME loop.test./0"}, maxCNAMEChain)},
	}
	d := startDNS(t, zone)
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(network+"/"+tt.name+"/"+dns.TypeToString[tt.qtype], func(t *testing.T) {
				reply, err := query(d, network, tt.name, tt.qtype)
				if err != nil {
					t.Fatal(err)
				}
				if reply.Rcode != tt.wantRcode {
					t.Errorf("rcode %s, want %s", dns.RcodeToString[reply.Rcode], dns.RcodeToString[tt.wantRcode])
				}
				if got := summary(reply); !slices.Equal(got, tt.want) {
					t.Errorf("answer %q, want %q", got, tt.want)
				}
			})
		}
	}
	if got, want := d.QueryCount(), int64(2*len(tests)); got != want {
		t.Errorf("QueryCount = %d, want %d", got, want)
	}
}

func TestDNSTimeoutNeverAnswers(t *testing.T) {
	d := startDNS(t, map[string]DNSAnswer{"slow.test": {Result: DNSTimeout}})
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			_, err := query(d, network, "slow.test", dns.TypeA)
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("error %v, want a timeout", err)
			}
		})
	}
}

func TestDNSSetChangesAnswer(t *testing.T) {
	d := startDNS(t, map[string]DNSAnswer{"app.test": {Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}})
	d.Set("app.test", DNSAnswer{Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.2")}})
	reply, err := query(d, "udp", "app.test", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if got := summary(reply); !slices.Equal(got, []string{"app.test. A 127.0.0.2/0"}) {
		t.Errorf("answer %q after Set", got)
	}
	if q := <-d.Queries(); q != "app.test. A" {
		t.Errorf("query seen as %q", q)
	}
}
