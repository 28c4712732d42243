package faults

import (
	"bufio"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options tune a Server. The zero value gives every default.
type Options struct {
	// Delay is how long SlowHead waits before it answers. Default 2s.
	Delay time.Duration
	// EventInterval is how often SSE sends an event without being ticked.
	// Default 0: events after the first are sent only on Server.Tick.
	EventInterval time.Duration
	// HeaderSectionSize is the size in bytes of the header fields
	// HeaderSectionTooLarge sends. Default 1 MiB.
	HeaderSectionSize int
	// HeaderSize is the size in bytes of the HugeHeaderName value
	// HeaderTooLarge sends. Default 32 KiB.
	HeaderSize int
	// IPv6 binds [::1] instead of 127.0.0.1.
	IPv6 bool
	// Name labels the server in the X-Served-By field and the body of OK
	// answers, so balancing can be observed. Default: the server's address.
	Name string
}

const (
	defaultDelay             = 2 * time.Second
	defaultHeaderSectionSize = 1 << 20
	defaultHeaderSize        = 32 << 10
	// requestBacklog is how many request lines Requests buffers before it
	// drops new ones rather than stall the server.
	requestBacklog = 1024
	// stalledReadBuffer is the receive buffer StopsReadingBody shrinks its
	// connection to, so that an upload fills the window quickly.
	stalledReadBuffer = 1024
)

func (o Options) withDefaults() Options {
	if o.Delay <= 0 {
		o.Delay = defaultDelay
	}
	if o.HeaderSectionSize <= 0 {
		o.HeaderSectionSize = defaultHeaderSectionSize
	}
	if o.HeaderSize <= 0 {
		o.HeaderSize = defaultHeaderSize
	}
	return o
}

// Server is a loopback HTTP/1.1 upstream that answers with a Behavior. It is
// built on a raw listener, not net/http's server, so that it can send what no
// well-behaved server would.
type Server struct {
	ln       net.Listener
	opts     Options
	scheme   string
	cert     *x509.Certificate
	behavior atomic.Uint32
	count    atomic.Int64
	requests chan string
	tick     chan struct{}
	done     chan struct{}

	closeOnce sync.Once
	wg        sync.WaitGroup // the accept loop and every connection handler

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // guarded by mu
	closed bool                  // guarded by mu
}

// Start starts a server with behaviour b and default Options.
func Start(b Behavior) (*Server, error) {
	return StartWith(b, Options{})
}

// StartWith starts a server with behaviour b, tuned by o.
func StartWith(b Behavior, o Options) (*Server, error) {
	ln, err := listenLoopback(o.IPv6)
	if err != nil {
		return nil, err
	}
	return serve(ln, b, o, "http", nil), nil
}

func listenLoopback(ipv6 bool) (net.Listener, error) {
	if ipv6 {
		return net.Listen("tcp6", "[::1]:0")
	}
	return net.Listen("tcp4", "127.0.0.1:0")
}

func serve(ln net.Listener, b Behavior, o Options, scheme string, cert *x509.Certificate) *Server {
	s := &Server{
		ln:       ln,
		opts:     o.withDefaults(),
		scheme:   scheme,
		cert:     cert,
		requests: make(chan string, requestBacklog),
		tick:     make(chan struct{}),
		done:     make(chan struct{}),
		conns:    make(map[net.Conn]struct{}),
	}
	if s.opts.Name == "" {
		s.opts.Name = s.Addr()
	}
	s.behavior.Store(uint32(b))
	s.wg.Add(1)
	go s.acceptLoop()
	return s
}

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL returns the server's base URL: http://host:port, or https://host:port
// for servers started by StartTLS.
func (s *Server) URL() string { return s.scheme + "://" + s.Addr() }

// Behavior returns the behaviour the server currently answers with.
func (s *Server) Behavior() Behavior { return Behavior(s.behavior.Load()) }

// SetBehavior changes how the server answers requests read from now on, so a
// test or the demo can take an upstream down and bring it back.
func (s *Server) SetBehavior(b Behavior) { s.behavior.Store(uint32(b)) }

// Requests delivers the request line ("GET /path HTTP/1.1") of each request
// the server reads, before it answers. It buffers the most recent lines; when
// nobody drains it, further lines are dropped rather than stall the server.
func (s *Server) Requests() <-chan string { return s.requests }

// RequestCount returns how many requests the server has read.
func (s *Server) RequestCount() int64 { return s.count.Load() }

// Tick lets every SSE stream waiting for its next event send it. It blocks
// until one stream takes the tick or the server closes.
func (s *Server) Tick() {
	select {
	case s.tick <- struct{}{}:
	case <-s.done:
	}
}

// Close stops the listener, closes every connection, including stalled
// ones, and waits for all handlers to return.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		err = s.ln.Close()
		s.mu.Lock()
		s.closed = true
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return err
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				// Answer what is not HTTP as any server would; among other
				// things this makes a TLS client see plain HTTP on the port.
				write(c, head("400 Bad Request", "Connection: close", "Content-Length: 0"))
			}
			return
		}
		s.count.Add(1)
		select {
		case s.requests <- req.Method + " " + req.RequestURI + " " + req.Proto:
		default:
		}
		b := s.Behavior()
		if b == ByPath {
			var known bool
			if b, known = behaviorForPath(req.URL.Path); !known {
				if !s.notFound(c, req) {
					return
				}
				continue
			}
		}
		var bodyLen int64
		if b != Echo && b != StopsReadingBody {
			// Read the whole body first, so that the fault shows while the
			// client reads the answer, not while it is still writing.
			if bodyLen, err = io.Copy(io.Discard, req.Body); err != nil {
				return
			}
		}
		keepAlive := s.respond(c, br, req, b, bodyLen)
		if !keepAlive || req.Close {
			return
		}
	}
}

// behaviorForPath returns the behaviour a ByPath server uses for path, and
// false if path names an unknown behaviour.
func behaviorForPath(path string) (Behavior, bool) {
	name, found := strings.CutPrefix(path, PathPrefix)
	if !found {
		return OK, true
	}
	b, ok := ParseBehavior(name)
	if !ok || b == ByPath {
		return 0, false
	}
	return b, true
}
