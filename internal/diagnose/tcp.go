package diagnose

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/portico-proxy/portico/internal/transport"
)

// tcp connects to every resolved address at once, each within the connect
// timeout, and keeps the first connection in the proxy's order (IPv4
// first, then IPv6, as resolved) for the next steps. The step fails only
// when no address accepts, with the first address's failure, which is
// what the proxy reports too.
func (c *check) tcp(ctx context.Context) bool {
	step := &TCPStep{Step: newStep()}
	c.r.TCP = step
	start := time.Now()
	defer func() { step.Duration = Millis(time.Since(start)) }()

	addrs := c.r.DNS.Addresses
	port := strconv.Itoa(int(c.t.Port))
	conns := make([]net.Conn, len(addrs))
	step.Attempts = make([]DialAttempt, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Go(func() {
			addr := net.JoinHostPort(a, port)
			dialCtx, cancel := context.WithTimeout(ctx, c.d.opts.ConnectTimeout)
			defer cancel()
			var d net.Dialer
			began := time.Now()
			conn, err := d.DialContext(dialCtx, "tcp", addr)
			step.Attempts[i] = DialAttempt{Address: addr, Duration: Millis(time.Since(began))}
			if err != nil {
				step.Attempts[i].Failure = newFailure(transport.ClassifyDial(err))
				return
			}
			conns[i] = conn
		})
	}
	wg.Wait()

	for i, conn := range conns {
		switch {
		case conn == nil:
		case c.conn == nil:
			c.conn, step.Connected = conn, step.Attempts[i].Address
		default:
			conn.Close()
		}
	}
	if c.conn == nil {
		step.Status, step.Failure = StatusFailed, step.Attempts[0].Failure
		return false
	}
	before := true
	for _, a := range step.Attempts {
		switch {
		case a.Address == step.Connected:
			before = false
		case a.Failure == nil:
		case before:
			step.warn(fmt.Sprintf("%s: %s; portico tries it before %s on every new connection, which costs time or, when it times out, the whole connect timeout",
				a.Address, a.Failure.Type, step.Connected))
		default:
			step.note(fmt.Sprintf("%s: %s; portico tries it only when %s fails", a.Address, a.Failure.Type, step.Connected))
		}
	}
	if budget := c.d.proxy.ConnectTimeout; budget > 0 {
		for _, a := range step.Attempts {
			if a.Failure == nil && time.Duration(a.Duration) > budget/2 {
				step.warn(fmt.Sprintf("connecting to %s took %s, over half of portico's connect timeout (%s)",
					a.Address, formatDuration(time.Duration(a.Duration)), formatSetting(budget)))
			}
		}
	}
	return true
}
