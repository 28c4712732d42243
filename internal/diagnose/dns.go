package diagnose

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/resolve"
)

// ednsUDPSize is the EDNS(0) buffer advertised, as internal/resolve does.
const ednsUDPSize = 1232

// dns resolves the target's host with the proxy's resolver, which gives
// the verdict, then asks the answering server the A and AAAA questions one
// by one, which the proxy's combined answer hides: each family's rcode,
// records and TTLs.
func (c *check) dns(ctx context.Context) bool {
	step := &DNSStep{Step: newStep(), Host: c.t.Host, Addresses: []string{}, Questions: []Question{}}
	c.r.DNS = step
	start := time.Now()
	defer func() { step.Duration = Millis(time.Since(start)) }()

	lookupCtx, cancel := context.WithTimeout(ctx, c.d.opts.DNSTimeout)
	defer cancel()
	ans, err := c.d.resolver.Lookup(lookupCtx, c.t.Host)
	if err != nil {
		fe, _ := failure.As(err)
		step.fail(fe)
		return false
	}
	step.Source, step.Server = ans.Source, ans.Server
	var denied []string
	for _, a := range ans.Addrs {
		if rule, ok := c.prohibited(a); ok {
			denied = append(denied, a.String()+" (target_policy.deny "+rule.String()+")")
			continue
		}
		step.Addresses = append(step.Addresses, a.String())
	}
	switch {
	case len(denied) > 0 && len(step.Addresses) == 0:
		step.fail(failure.Newf(failure.DestinationIPProhibited, failure.PhaseConnect,
			c.t.Host+" resolves only to addresses portico may not connect to: "+strings.Join(denied, ", ")))
		return false
	case len(denied) > 0:
		step.warn("portico skips " + strings.Join(denied, ", ") + " and uses only " + strings.Join(step.Addresses, ", "))
	}
	if ans.Source != resolve.SourceDNS {
		return true
	}

	questionCtx, cancel := context.WithTimeout(ctx, c.d.opts.DNSTimeout)
	defer cancel()
	step.Questions = askBoth(questionCtx, ans.Server, dns.Fqdn(strings.TrimSuffix(c.t.Host, ".")))
	compareFamilies(step)
	return true
}

// prohibited returns the target_policy.deny rule that covers a, if any.
func (c *check) prohibited(a netip.Addr) (netip.Prefix, bool) {
	for _, p := range c.d.proxy.Prohibited {
		if p.Contains(a.Unmap()) {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// askBoth asks server the A and AAAA questions for fqdn in parallel.
func askBoth(ctx context.Context, server, fqdn string) []Question {
	aaaa := make(chan Question, 1)
	go func() { aaaa <- ask(ctx, server, fqdn, dns.TypeAAAA) }()
	return []Question{ask(ctx, server, fqdn, dns.TypeA), <-aaaa}
}

// ask puts one question to server over UDP, and again over TCP when the
// reply is truncated (RFC 7766 §5).
func ask(ctx context.Context, server, fqdn string, qtype uint16) Question {
	q := Question{Type: dns.TypeToString[qtype], CNAMEs: []string{}, Records: []Record{}}
	m := new(dns.Msg)
	m.SetQuestion(fqdn, qtype)
	m.SetEdns0(ednsUDPSize, false)
	client := &dns.Client{Net: "udp", UDPSize: ednsUDPSize}
	reply, _, err := client.ExchangeContext(ctx, m, server)
	if err == nil && reply.Truncated {
		client.Net = "tcp"
		reply, _, err = client.ExchangeContext(ctx, m, server)
	}
	if err != nil {
		q.Error = err.Error()
		return q
	}
	q.Rcode = dns.RcodeToString[reply.Rcode]
	if q.Rcode == "" {
		q.Rcode = fmt.Sprintf("RCODE%d", reply.Rcode)
	}
	for _, rr := range reply.Answer {
		switch rr := rr.(type) {
		case *dns.CNAME:
			q.CNAMEs = append(q.CNAMEs, strings.TrimSuffix(rr.Target, "."))
		case *dns.A:
			q.Records = append(q.Records, Record{Address: rr.A.String(), TTL: rr.Hdr.Ttl})
		case *dns.AAAA:
			q.Records = append(q.Records, Record{Address: rr.AAAA.String(), TTL: rr.Hdr.Ttl})
		}
	}
	return q
}

// compareFamilies warns when the name resolves differently over IPv4 and
// IPv6: one question fails while the other answers, or the two follow
// different CNAME chains. Either way, clients and proxies that prefer one
// family see another service than those that prefer the other.
func compareFamilies(step *DNSStep) {
	a, aaaa := step.Questions[0], step.Questions[1]
	for _, pair := range [][2]Question{{a, aaaa}, {aaaa, a}} {
		q, other := pair[0], pair[1]
		if !answered(other) || len(other.Records) == 0 {
			continue
		}
		switch {
		case q.Error != "":
			step.warn(fmt.Sprintf("the %s question failed (%s) while %s answered: the name resolves differently over IPv4 and IPv6", q.Type, q.Error, other.Type))
		case q.Rcode != "NOERROR":
			step.warn(fmt.Sprintf("the %s question got %s while %s answered: the name resolves differently over IPv4 and IPv6", q.Type, q.Rcode, other.Type))
		}
	}
	if answered(a) && answered(aaaa) && len(a.Records) > 0 && len(aaaa.Records) > 0 && !slices.Equal(a.CNAMEs, aaaa.CNAMEs) {
		step.warn(fmt.Sprintf("A follows the CNAME chain %s but AAAA follows %s: IPv4 and IPv6 clients reach different names",
			chain(a.CNAMEs), chain(aaaa.CNAMEs)))
	}
	for _, q := range step.Questions {
		if answered(q) && len(q.Records) == 0 {
			step.note("no " + q.Type + " records")
		}
	}
}

func answered(q Question) bool { return q.Error == "" && q.Rcode == "NOERROR" }

func chain(cnames []string) string {
	if len(cnames) == 0 {
		return "(none)"
	}
	return strings.Join(cnames, " → ")
}
