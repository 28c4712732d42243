package faults

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// DNSResult is how a DNSServer answers queries for a name.
type DNSResult uint8

// The DNS results.
const (
	// DNSRecords answers NOERROR with the name's addresses, or its CNAME.
	DNSRecords DNSResult = iota
	// DNSNXDomain answers NXDOMAIN: the name does not exist.
	DNSNXDomain
	// DNSServFail answers SERVFAIL.
	DNSServFail
	// DNSNoAnswer answers NOERROR with no records.
	DNSNoAnswer
	// DNSTimeout never answers.
	DNSTimeout
)

// DNSAnswer is what a DNSServer answers for one name.
type DNSAnswer struct {
	Result DNSResult
	// Addrs are answered as A records to A queries (IPv4 addresses) and as
	// AAAA records to AAAA queries (IPv6 addresses).
	Addrs []netip.Addr
	// CNAME, when set, is answered instead of Addrs as an alias for this
	// target, and the server then answers for the target too, from the same
	// zone, so aliases can chain.
	CNAME string
	// TTL is every record's time to live in seconds; 0 means do not cache.
	TTL uint32
}

// maxCNAMEChain bounds how many aliases one answer follows, so a zone with
// a CNAME loop still gets an answer.
const maxCNAMEChain = 8

// DNSServer is an authoritative DNS server on 127.0.0.1, answering UDP and
// TCP on the same port from a zone that can change while it runs. Names not
// in the zone get NXDOMAIN.
type DNSServer struct {
	addr    string
	udp     *dns.Server
	tcp     *dns.Server
	count   atomic.Int64
	queries chan string

	mu   sync.RWMutex
	zone map[string]DNSAnswer // keyed by canonical name; guarded by mu

	closeOnce sync.Once
	closeErr  error
}

// StartDNS starts a DNS server answering from zone, whose keys are domain
// names (made fully qualified and lower case here).
func StartDNS(zone map[string]DNSAnswer) (*DNSServer, error) {
	d := &DNSServer{
		queries: make(chan string, requestBacklog),
		zone:    make(map[string]DNSAnswer, len(zone)),
	}
	for name, answer := range zone {
		d.zone[dns.CanonicalName(name)] = answer
	}
	pc, ln, err := listenUDPAndTCP()
	if err != nil {
		return nil, err
	}
	d.addr = pc.LocalAddr().String()
	handler := dns.HandlerFunc(d.serveDNS)
	d.udp = &dns.Server{PacketConn: pc, Handler: handler}
	d.tcp = &dns.Server{Listener: ln, Handler: handler}
	for _, srv := range []*dns.Server{d.udp, d.tcp} {
		started := make(chan struct{})
		failed := make(chan error, 1)
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { failed <- srv.ActivateAndServe() }()
		select {
		case <-started:
		case err := <-failed:
			d.Close()
			pc.Close()
			ln.Close()
			return nil, fmt.Errorf("start DNS server: %w", err)
		}
	}
	return d, nil
}

// listenUDPAndTCP binds a UDP port the kernel picks and the same TCP port,
// trying a few ports in case the TCP one is taken.
func listenUDPAndTCP() (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 10 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		_, port, _ := net.SplitHostPort(pc.LocalAddr().String())
		ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", port))
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("bind UDP and TCP on one port: %w", lastErr)
}

// Addr returns the host:port the server answers on, over UDP and TCP.
func (d *DNSServer) Addr() string { return d.addr }

// Set changes the answer for name from the next query on, so tests can watch
// a resolver notice the change.
func (d *DNSServer) Set(name string, answer DNSAnswer) {
	d.mu.Lock()
	d.zone[dns.CanonicalName(name)] = answer
	d.mu.Unlock()
}

// QueryCount returns how many queries the server has received.
func (d *DNSServer) QueryCount() int64 { return d.count.Load() }

// Queries delivers each query as "name TYPE" ("app.test. AAAA") when it
// arrives. It buffers recent queries and drops further ones when nobody
// drains it.
func (d *DNSServer) Queries() <-chan string { return d.queries }

// Close stops both listeners and waits for in-flight queries.
func (d *DNSServer) Close() error {
	d.closeOnce.Do(func() {
		for _, srv := range []*dns.Server{d.udp, d.tcp} {
			if srv != nil {
				if err := srv.Shutdown(); err != nil && d.closeErr == nil {
					d.closeErr = err
				}
			}
		}
	})
	return d.closeErr
}

func (d *DNSServer) lookup(name string) (DNSAnswer, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	answer, ok := d.zone[name]
	return answer, ok
}

func (d *DNSServer) serveDNS(w dns.ResponseWriter, query *dns.Msg) {
	reply := new(dns.Msg)
	reply.SetReply(query)
	if len(query.Question) != 1 {
		reply.Rcode = dns.RcodeFormatError
		w.WriteMsg(reply)
		return
	}
	q := query.Question[0]
	d.count.Add(1)
	select {
	case d.queries <- q.Name + " " + dns.TypeToString[q.Qtype]:
	default:
	}
	reply.Authoritative = true
	name := dns.CanonicalName(q.Name)
	for range maxCNAMEChain {
		answer, ok := d.lookup(name)
		if !ok {
			reply.Rcode = dns.RcodeNameError
			break
		}
		switch answer.Result {
		case DNSTimeout:
			return
		case DNSNXDomain:
			reply.Rcode = dns.RcodeNameError
		case DNSServFail:
			reply.Rcode = dns.RcodeServerFailure
		case DNSRecords:
			if answer.CNAME != "" {
				target := dns.CanonicalName(answer.CNAME)
				reply.Answer = append(reply.Answer, &dns.CNAME{Hdr: header(name, dns.TypeCNAME, answer.TTL), Target: target})
				name = target
				continue
			}
			reply.Answer = append(reply.Answer, addressRecords(name, q.Qtype, answer)...)
		}
		break
	}
	w.WriteMsg(reply)
}

func header(name string, rrtype uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: ttl}
}

// addressRecords returns the records of answer that match qtype.
func addressRecords(name string, qtype uint16, answer DNSAnswer) []dns.RR {
	var rrs []dns.RR
	for _, addr := range answer.Addrs {
		switch {
		case qtype == dns.TypeA && addr.Is4():
			rrs = append(rrs, &dns.A{Hdr: header(name, dns.TypeA, answer.TTL), A: addr.AsSlice()})
		case qtype == dns.TypeAAAA && addr.Is6() && !addr.Is4In6():
			rrs = append(rrs, &dns.AAAA{Hdr: header(name, dns.TypeAAAA, answer.TTL), AAAA: addr.AsSlice()})
		}
	}
	return rrs
}

// String returns the result's name.
func (r DNSResult) String() string {
	switch r {
	case DNSRecords:
		return "records"
	case DNSNXDomain:
		return "nxdomain"
	case DNSServFail:
		return "servfail"
	case DNSNoAnswer:
		return "no-answer"
	case DNSTimeout:
		return "timeout"
	}
	return "dns-result(" + strconv.Itoa(int(r)) + ")"
}
