// Package transport carries one request to one upstream target over
// HTTP/1.1 and brings back the response: it dials (TCP, then TLS for https
// targets), keeps idle keep-alive connections, enforces the per-phase
// timeouts, and turns every failure into a *failure.Error at the place it is
// detected, so nothing after it classifies again.
package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/deadline"
	"github.com/portico-proxy/portico/internal/h1"
)

// AddrFunc returns the current addresses of an endpoint's host. The pool
// resolves and refreshes them; the transport only asks.
type AddrFunc func(ctx context.Context) ([]netip.Addr, error)

// EndpointOptions describe one upstream target.
type EndpointOptions struct {
	// Upstream is the pool's name, Name the target's host:port as
	// configured; both are reported with every failure.
	Upstream string
	Name     string
	// Host is the target's host (name or IP) and Port its port.
	Host  string
	Port  uint16
	Addrs AddrFunc
	// TLS is nil for http:// targets.
	TLS      *tls.Config
	Timeouts config.Timeouts
	Limits   h1.Limits
	// MaxIdle bounds idle connections kept; IdleTimeout drops older ones.
	MaxIdle     int
	IdleTimeout time.Duration
	// MaxBody bounds a response body in bytes; 0 is no limit.
	MaxBody int64
	// Prohibited lists networks no connection may go to
	// (target_policy.deny); addresses inside them are skipped.
	Prohibited []netip.Prefix
}

// Endpoint is one upstream target with its pool of idle connections. It is
// safe for concurrent use.
type Endpoint struct {
	upstream, name, host string
	port                 uint16
	addrs                AddrFunc
	tls                  *tls.Config
	timeouts             config.Timeouts
	limits               h1.Limits
	maxIdle              int
	idleTimeout          time.Duration
	maxBody              int64
	prohibited           []netip.Prefix
	dialer               net.Dialer
	// yieldForAnswer: whether an exchange lets the other goroutines run
	// before it looks for the response (see exchange); decided when the
	// endpoint is made, by whether the process runs on one P.
	yieldForAnswer bool

	// generation counts DropIdle calls; a connection dialled in an older
	// generation leads to an address no longer current and is not reused.
	generation atomic.Uint64

	mu     sync.Mutex // guards idle and closed
	idle   []*conn    // most recently used last
	closed bool
}

// NewEndpoint returns an endpoint; it opens no connection until used.
func NewEndpoint(o EndpointOptions) *Endpoint {
	return &Endpoint{
		upstream:    o.Upstream,
		name:        o.Name,
		host:        o.Host,
		port:        o.Port,
		addrs:       o.Addrs,
		tls:         o.TLS,
		timeouts:    o.Timeouts,
		limits:      o.Limits,
		maxIdle:     o.MaxIdle,
		idleTimeout: o.IdleTimeout,
		maxBody:     o.MaxBody,
		prohibited:  o.Prohibited,
		// With several Ps a yield wakes an idle one to take the yielded
		// goroutine: a thread wakeup per request, dearer than what it saves.
		yieldForAnswer: runtime.GOMAXPROCS(0) == 1,
	}
}

// Name returns the target's host:port as configured.
func (e *Endpoint) Name() string { return e.name }

// conn is one upstream connection with its buffers.
type conn struct {
	net.Conn
	br *bufio.Reader
	bw *bufio.Writer
	// raw is the TCP connection beneath, for fit; nil if there is none.
	raw        syscall.RawConn
	tls        bool
	idleFrom   time.Duration // since clockBase
	reused     bool
	generation uint64
	// ctx is the context of the exchange using the connection.
	ctx context.Context
	// poison fails the connection's pending and future I/O at once; it
	// runs when ctx ends, and is made once per connection.
	poison func()
	// deadlines sets the connection's deadlines; nothing else does.
	deadlines deadline.Tracker
}

// extendRead makes reads time out d from now, unless the exchange's
// context is done: the context's cancellation works by setting a deadline
// in the past, which a later deadline must not undo.
func (c *conn) extendRead(d time.Duration) {
	c.deadlines.ExtendRead(d)
	if c.ctx.Err() != nil {
		c.deadlines.Set(longAgo)
	}
}

// extendWrite is extendRead for writes.
func (c *conn) extendWrite(d time.Duration) {
	c.deadlines.ExtendWrite(d)
	if c.ctx.Err() != nil {
		c.deadlines.Set(longAgo)
	}
}

// clearReadDeadline removes the read deadline, unless the exchange's
// context is done.
func (c *conn) clearReadDeadline() {
	c.deadlines.SetRead(time.Time{})
	if c.ctx.Err() != nil {
		c.deadlines.Set(longAgo)
	}
}

// clearWriteDeadline is clearReadDeadline for writes.
func (c *conn) clearWriteDeadline() {
	c.deadlines.SetWrite(time.Time{})
	if c.ctx.Err() != nil {
		c.deadlines.Set(longAgo)
	}
}

// bufferSize sizes an upstream connection's buffers: a typical response
// head and a 16 KiB body arrive in one read.
const bufferSize = 32 << 10

func newConn(nc net.Conn) *conn {
	c := &conn{Conn: nc, br: bufio.NewReaderSize(nc, bufferSize), bw: bufio.NewWriterSize(nc, bufferSize)}
	c.deadlines.Init(nc)
	c.poison = func() { c.deadlines.Set(longAgo) }
	tcp := nc
	if tc, ok := nc.(*tls.Conn); ok {
		tcp, c.tls = tc.NetConn(), true
	}
	if sc, ok := tcp.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	return c
}

// clockBase anchors idle ages: an offset from it reads only the monotonic
// clock, half the cost of time.Now.
var clockBase = time.Now()

// getIdle returns an idle connection young enough to reuse, or nil; now
// is an offset from clockBase.
func (e *Endpoint) getIdle(now time.Duration) *conn {
	for {
		e.mu.Lock()
		n := len(e.idle)
		if n == 0 {
			e.mu.Unlock()
			return nil
		}
		c := e.idle[n-1]
		e.idle[n-1] = nil
		e.idle = e.idle[:n-1]
		e.mu.Unlock()
		idle := now - c.idleFrom
		if e.idleTimeout > 0 && idle > e.idleTimeout || idle >= checkIdleAfter && !c.fit() {
			go c.Close()
			continue
		}
		c.reused = true
		return c
	}
}

// checkIdleAfter is how long a connection must have been idle before it is
// checked for reuse. An upstream closes an idle connection after seconds,
// not microseconds; a busy endpoint reuses its connections sooner than
// that and saves the check.
const checkIdleAfter = time.Millisecond

// fit reports whether an idle connection may carry a request: the upstream
// has not closed it, nor (over plain TCP) sent bytes nobody asked for,
// which would be read as the next request's response. Catching a close
// here spares a request that could not be sent again (a POST) a 502.
func (c *conn) fit() bool {
	if c.raw == nil {
		return true
	}
	fit := true
	c.raw.Read(func(fd uintptr) bool {
		var b [1]byte
		for {
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
			case err != nil, n == 0:
				fit = false
			default:
				// A TLS server may send records unasked (TLS 1.3 session
				// tickets); only plain HTTP bytes are out of turn.
				fit = c.tls
			}
			return true
		}
	})
	return fit
}

// putIdle keeps c for reuse, or closes it when the endpoint is full or
// closed.
func (e *Endpoint) putIdle(c *conn) {
	c.idleFrom = time.Since(clockBase)
	e.mu.Lock()
	if e.closed || len(e.idle) >= e.maxIdle || c.generation != e.generation.Load() {
		e.mu.Unlock()
		c.Close()
		return
	}
	e.idle = append(e.idle, c)
	e.mu.Unlock()
}

// CloseIdle closes every idle connection and makes the endpoint close
// connections returned to it from now on. In-flight requests finish
// normally: a reload retires old endpoints this way.
func (e *Endpoint) CloseIdle() {
	e.dropIdle(true)
}

// DropIdle closes the idle connections, e.g. because the target's name now
// resolves to other addresses and they lead to the old ones.
func (e *Endpoint) DropIdle() {
	e.dropIdle(false)
}

func (e *Endpoint) dropIdle(retire bool) {
	e.mu.Lock()
	e.generation.Add(1)
	idle := e.idle
	e.idle = nil
	e.closed = e.closed || retire
	e.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}

// IdleCount returns how many idle connections are kept.
func (e *Endpoint) IdleCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.idle)
}
