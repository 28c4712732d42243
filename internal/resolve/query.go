package resolve

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/portico-proxy/portico/internal/failure"
)

// ednsUDPSize is the UDP payload size advertised with EDNS(0) (RFC 6891):
// the 1232 bytes of DNS Flag Day 2020, which avoid IP fragmentation. Larger
// answers come back truncated and are asked again over TCP.
const ednsUDPSize = 1232

// maxCNAMEs bounds the CNAME chain followed within one answer, so that a
// loop ends.
const maxCNAMEs = 8

// reply is the outcome of one question (A or AAAA) put to the servers.
type reply struct {
	addrs  []netip.Addr
	cnames []string
	ttl    uint32
	server string
	// err is nil when a server answered NOERROR, even with no addresses.
	err *failure.Error
}

// query asks the servers in order until one gives a definite answer: NOERROR
// or NXDOMAIN. Any other rcode, a network error or a timeout speaks only for
// that server, so the next one is tried, as the C library does. The first
// such failure that is not a timeout is reported; dns_timeout only when
// every server asked timed out.
func (r *Resolver) query(ctx context.Context, fqdn string, qtype uint16, servers []string) reply {
	name := strings.TrimSuffix(fqdn, ".")
	var firstErr *failure.Error
	var timedOut []string
	for _, server := range servers {
		m, err := r.ask(ctx, server, fqdn, qtype)
		switch {
		case errors.Is(err, context.Canceled):
			return reply{err: &failure.Error{Class: failure.DNSError, Phase: failure.PhaseResolve,
				Details: fmt.Sprintf("lookup %s: %v", name, err), Err: err}}
		case errors.Is(err, context.DeadlineExceeded):
			timedOut = append(timedOut, server)
			if ctx.Err() != nil {
				// The caller's deadline has passed: no later server
				// can answer in time.
				return reply{err: timeoutError(name, timedOut)}
			}
			continue
		case err != nil:
			if firstErr == nil {
				firstErr = &failure.Error{Class: failure.DNSError, Phase: failure.PhaseResolve,
					Details: fmt.Sprintf("lookup %s on %s: %v", name, server, err), Err: err}
			}
			continue
		}
		switch m.Rcode {
		case dns.RcodeSuccess:
			rep := follow(fqdn, qtype, m.Answer)
			rep.server = server
			return rep
		case dns.RcodeNameError:
			return reply{server: server, err: rcodeError(name, server, m)}
		}
		if firstErr == nil {
			firstErr = rcodeError(name, server, m)
		}
	}
	if firstErr != nil {
		return reply{err: firstErr}
	}
	return reply{err: timeoutError(name, timedOut)}
}

func timeoutError(name string, servers []string) *failure.Error {
	return &failure.Error{Class: failure.DNSTimeout, Phase: failure.PhaseResolve,
		Details: fmt.Sprintf("lookup %s on %s: timed out", name, strings.Join(servers, ", ")),
		Err:     context.DeadlineExceeded}
}

// rcodeError is the dns_error for a reply with an rcode other than NOERROR,
// carrying the parameters of RFC 9209 §2.3.2: rcode, and info-code when the
// server explained itself with an Extended DNS Error (RFC 8914).
func rcodeError(name, server string, m *dns.Msg) *failure.Error {
	rc, ok := dns.RcodeToString[m.Rcode]
	if !ok {
		rc = fmt.Sprintf("RCODE%d", m.Rcode)
	}
	details := fmt.Sprintf("lookup %s on %s: %s", name, server, rc)
	params := []failure.Param{failure.StringParam("rcode", rc)}
	if ede := extendedError(m); ede != nil {
		params = append(params, failure.IntParam("info-code", int64(ede.InfoCode)))
		details += " (" + extendedErrorText(ede.InfoCode) + ")"
	}
	e := failure.Newf(failure.DNSError, failure.PhaseResolve, details)
	e.Params = params
	return e
}

// extendedError returns the reply's Extended DNS Error option, if any. Its
// EXTRA-TEXT is left out of the details: it is free text from the server.
func extendedError(m *dns.Msg) *dns.EDNS0_EDE {
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if ede, ok := o.(*dns.EDNS0_EDE); ok {
				return ede
			}
		}
	}
	return nil
}

func extendedErrorText(code uint16) string {
	if text, ok := dns.ExtendedErrorCodeToString[code]; ok {
		return text
	}
	return fmt.Sprintf("extended error %d", code)
}

// follow collects the addresses of type qtype owned by fqdn in answer,
// following CNAMEs from owner to target (RFC 1034 §3.6.2). Records owned by
// names off the chain are ignored: only the chain vouches for them.
func follow(fqdn string, qtype uint16, answer []dns.RR) reply {
	rep := reply{ttl: math.MaxUint32}
	owner := fqdn
	for range maxCNAMEs + 1 {
		var cname *dns.CNAME
		for _, rr := range answer {
			if !strings.EqualFold(rr.Header().Name, owner) {
				continue
			}
			var addr netip.Addr
			var ok bool
			switch rr := rr.(type) {
			case *dns.A:
				addr, ok = netip.AddrFromSlice(rr.A.To4())
				ok = ok && qtype == dns.TypeA
			case *dns.AAAA:
				addr, ok = netip.AddrFromSlice(rr.AAAA.To16())
				ok = ok && qtype == dns.TypeAAAA
			case *dns.CNAME:
				cname = rr
			}
			if ok {
				rep.addrs = append(rep.addrs, addr)
				rep.ttl = min(rep.ttl, rr.Header().Ttl)
			}
		}
		if len(rep.addrs) > 0 || cname == nil {
			break
		}
		rep.cnames = append(rep.cnames, strings.TrimSuffix(cname.Target, "."))
		rep.ttl = min(rep.ttl, cname.Hdr.Ttl)
		owner = cname.Target
	}
	return rep
}

// ask puts one question to one server over UDP, and again over TCP if the
// reply was truncated (RFC 7766 §5).
func (r *Resolver) ask(ctx context.Context, server, fqdn string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(fqdn, qtype)
	q.SetEdns0(ednsUDPSize, false)
	m, err := r.exchange(ctx, "udp", server, q)
	if err != nil || !m.Truncated {
		return m, err
	}
	q.Id = dns.Id()
	return r.exchange(ctx, "tcp", server, q)
}

// errMalformed wraps replies that cannot be used.
var errMalformed = errors.New("malformed reply")

// exchange sends q to server and reads its reply within one attempt's
// timeout. When the attempt ends by timeout or cancellation, the context's
// error is returned, so callers tell the two apart with errors.Is.
func (r *Resolver) exchange(ctx context.Context, network, server string, q *dns.Msg) (*dns.Msg, error) {
	attempt, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	m, err := r.roundTrip(attempt, network, server, q)
	if err != nil && attempt.Err() != nil {
		return nil, attempt.Err()
	}
	return m, err
}

func (r *Resolver) roundTrip(ctx context.Context, network, server string, q *dns.Msg) (*dns.Msg, error) {
	conn, err := r.dialer.DialContext(ctx, network, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// Unblock a pending read or write as soon as the attempt ends.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	co := &dns.Conn{Conn: conn, UDPSize: ednsUDPSize}
	if err := co.WriteMsg(q); err != nil {
		return nil, err
	}
	udp := network == "udp"
	for {
		m, err := co.ReadMsg()
		if m == nil {
			return nil, err
		}
		if m.Id != q.Id || !m.Response {
			if udp {
				// A late reply to an earlier query, or forged: keep
				// waiting for ours (RFC 5452 §9.1).
				continue
			}
			return nil, fmt.Errorf("%w: id or QR bit does not match the query", errMalformed)
		}
		if err != nil {
			if m.Truncated {
				// Only the header matters: the question goes to TCP.
				return m, nil
			}
			return nil, fmt.Errorf("%w: %v", errMalformed, err)
		}
		if !answersQuestion(m, q) {
			if udp {
				continue
			}
			return nil, fmt.Errorf("%w: question section does not match the query", errMalformed)
		}
		return m, nil
	}
}

// answersQuestion reports whether m's question is q's. A header-only reply
// is accepted for rcodes other than NOERROR, which some servers send with
// REFUSED.
func answersQuestion(m, q *dns.Msg) bool {
	if len(m.Question) == 0 {
		return m.Rcode != dns.RcodeSuccess
	}
	a, b := m.Question[0], q.Question[0]
	return len(m.Question) == 1 && a.Qtype == b.Qtype && a.Qclass == b.Qclass &&
		strings.EqualFold(a.Name, b.Name)
}
