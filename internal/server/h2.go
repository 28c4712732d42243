package server

import (
	"io"
	"net"
	"net/http"
	"sync"
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

// newHTTP2Server returns the net/http server that serves handed-over
// connections.
func newHTTP2Server(o Options) *http.Server {
	srv := &http.Server{Handler: o.Handler, IdleTimeout: o.IdleTimeout, ReadHeaderTimeout: o.ReadHeaderTimeout}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	p.SetHTTP2(true)
	srv.Protocols = &p
	return srv
}
