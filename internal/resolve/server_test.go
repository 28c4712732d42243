package resolve

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// Behaviours a zone can have for one question instead of answering from its
// records; any other value is an rcode to answer with.
const (
	drop        = -1 // never answer
	truncateUDP = -2 // answer over UDP with TC set and no records
)

// zone is a small authoritative test server: it answers from records,
// following CNAMEs, and says NXDOMAIN for names that own nothing.
type zone struct {
	records []string
	// behave overrides the answer for a question, keyed "name. TYPE".
	behave map[string]int

	udpQueries, tcpQueries atomic.Int32
}

func (z *zone) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if _, ok := w.RemoteAddr().(*net.UDPAddr); ok {
		z.udpQueries.Add(1)
	} else {
		z.tcpQueries.Add(1)
	}
	q := req.Question[0]
	resp := new(dns.Msg).SetReply(req)
	if b, ok := z.behave[q.Name+" "+dns.TypeToString[q.Qtype]]; ok {
		switch {
		case b == drop:
			return
		case b == truncateUDP:
			if _, ok := w.RemoteAddr().(*net.UDPAddr); ok {
				resp.Truncated = true
				w.WriteMsg(resp)
				return
			}
		default:
			resp.Rcode = b
			w.WriteMsg(resp)
			return
		}
	}

	owner := q.Name
	for range 10 {
		var cname dns.RR
		owns, found := false, false
		for _, text := range z.records {
			rr, err := dns.NewRR(text)
			if err != nil {
				panic(err)
			}
			if !strings.EqualFold(rr.Header().Name, owner) {
				continue
			}
			owns = true
			switch {
			case rr.Header().Rrtype == q.Qtype:
				resp.Answer = append(resp.Answer, rr)
				found = true
			case rr.Header().Rrtype == dns.TypeCNAME:
				cname = rr
			}
		}
		if !owns {
			resp.Rcode = dns.RcodeNameError
		}
		if cname == nil || found {
			break
		}
		resp.Answer = append(resp.Answer, cname)
		owner = cname.(*dns.CNAME).Target
	}
	w.WriteMsg(resp)
}

// startServer serves h over UDP and TCP on one loopback port and returns
// that address.
func startServer(t *testing.T, h dns.Handler) string {
	t.Helper()
	// The TCP port is chosen by the UDP bind and may be taken; try again.
	for range 10 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			continue
		}
		serve(t, &dns.Server{PacketConn: pc, Handler: h})
		serve(t, &dns.Server{Listener: ln, Handler: h})
		return pc.LocalAddr().String()
	}
	t.Fatal("no loopback port free for both UDP and TCP")
	return ""
}

// startUDPServer serves h over UDP only: TCP to its port is refused.
func startUDPServer(t *testing.T, h dns.Handler) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, &dns.Server{PacketConn: pc, Handler: h})
	return pc.LocalAddr().String()
}

func serve(t *testing.T, srv *dns.Server) {
	t.Helper()
	started := make(chan struct{})
	failed := make(chan error, 1)
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { failed <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-failed:
		t.Fatalf("test DNS server: %v", err)
	}
	t.Cleanup(func() { srv.Shutdown() })
}

// silentServer returns the address of a UDP socket that never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

// closedUDPPort returns a loopback address nothing listens on: a datagram
// sent there draws an ICMP port unreachable.
func closedUDPPort(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// garbageServer answers every query with its ID, a response header and a
// question section that cannot be parsed.
func garbageServer(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 2 {
				continue
			}
			// ID, flags QR|RD|RA, QDCOUNT 1, then a compression pointer
			// past the end of the message.
			reply := []byte{buf[0], buf[1], 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0xff}
			pc.WriteTo(reply, from)
		}
	}()
	return pc.LocalAddr().String()
}
