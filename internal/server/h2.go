package server

import (
	"context"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// HTTP/2 is served by net/http: a connection that opens with the HTTP/2
// preface (prior knowledge, RFC 9113 §3.3) is handed over through an
// in-memory listener, with the bytes already buffered replayed first.

// handoffListener is a net.Listener fed by Server with connections that
// speak HTTP/2.
type handoffListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newHandoffListener(addr net.Addr) *handoffListener {
	return &handoffListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

// hand gives c to the HTTP/2 server; false when it has shut down.
func (l *handoffListener) hand(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.closed:
		return false
	}
}

// replayConn reads the replayed bytes, then the connection.
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// http2Servers serve the connections that speak HTTP/2 with net/http's
// server. It reads its timeouts when it starts on a connection, and they
// must not change under it while it serves; new client timeouts therefore
// start a new server for the connections that come after, while those
// already open finish on the one they began with.
type http2Servers struct {
	handler    http.Handler
	countError func(name string)
	errorLog   *log.Logger

	mu      sync.Mutex // guards what follows and each server's open
	current *http2Server
	// retired are the servers replaced while they still had connections;
	// one leaves when its last connection closes.
	retired []*http2Server
	closed  bool
}

// http2Server is one net/http server and the listener it takes its
// connections from.
type http2Server struct {
	srv   *http.Server
	conns *handoffListener
	open  int // connections being served
}

// start makes a server with these timeouts the one new connections go to.
func (h *http2Servers) start(head, idle time.Duration) {
	srv := &http.Server{Handler: h.handler, IdleTimeout: idle, ReadHeaderTimeout: head, ErrorLog: h.errorLog}
	if h.countError != nil {
		srv.HTTP2 = &http.HTTP2Config{CountError: h.countError}
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	p.SetHTTP2(true)
	srv.Protocols = &p
	next := &http2Server{srv: srv, conns: newHandoffListener(&net.TCPAddr{})}
	srv.ConnState = func(_ net.Conn, state http.ConnState) { h.track(next, state) }

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	if prev := h.current; prev != nil {
		prev.conns.Close() // its connections stay until they end
		if prev.open > 0 {
			h.retired = append(h.retired, prev)
		}
	}
	h.current = next
	go srv.Serve(next.conns)
}

// hand gives c to the current server; false once they have shut down. A
// server replaced meanwhile refuses c, which then goes to its successor.
func (h *http2Servers) hand(c net.Conn) bool {
	cur := h.serving()
	for cur != nil {
		if cur.conns.hand(c) {
			return true
		}
		next := h.serving()
		if next == cur {
			return false
		}
		cur = next
	}
	return false
}

// serving returns the server new connections go to, nil once they have
// shut down.
func (h *http2Servers) serving() *http2Server {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	return h.current
}

// track counts srv's connections, and forgets srv once it is retired
// and its last connection has closed.
func (h *http2Servers) track(srv *http2Server, state http.ConnState) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch state {
	case http.StateNew:
		srv.open++
	case http.StateClosed, http.StateHijacked:
		srv.open--
		if srv.open == 0 {
			h.retired = slices.DeleteFunc(h.retired, func(r *http2Server) bool { return r == srv })
		}
	}
}

// all marks the servers closed and returns every one still serving.
func (h *http2Servers) all() []*http.Server {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	var servers []*http.Server
	for _, r := range h.retired {
		servers = append(servers, r.srv)
	}
	if h.current != nil {
		servers = append(servers, h.current.srv)
	}
	return servers
}

// shutdown shuts every server down gracefully (see http.Server.Shutdown).
func (h *http2Servers) shutdown(ctx context.Context) error {
	servers := h.all()
	errs := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { errs <- srv.Shutdown(ctx) }()
	}
	var first error
	for range servers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// close closes every server and its connections at once.
func (h *http2Servers) close() {
	for _, srv := range h.all() {
		srv.Close()
	}
}

// h2ErrorLog passes what net/http's HTTP/2 server logs (a client's
// connection error, a panic in a handler) to l as warnings, instead of to
// the standard logger; nil when l is.
func h2ErrorLog(l *slog.Logger) *log.Logger {
	if l == nil {
		return nil
	}
	return slog.NewLogLogger(l.Handler(), slog.LevelWarn)
}
