// Package server accepts client connections and serves HTTP/1.1 on them
// with portico's own codec (internal/h1): it reads each request head
// strictly, hands the request to an http.Handler as a *http.Request reused
// from request to request, and writes the response straight to the
// connection. Malformed or ambiguous requests never reach the handler.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/h1"
)

// Options configure a Server.
type Options struct {
	Handler http.Handler
	// RequestError answers a request that could not be read (a malformed
	// or ambiguous head, oversize fields); the connection is closed after
	// it. r carries what is known: the remote address and, when parsed,
	// the method and target.
	RequestError func(w http.ResponseWriter, r *http.Request, err *failure.Error)
	// Limits bound a request head (default: h1's).
	Limits h1.Limits
	// ReadHeaderTimeout bounds the wait for a request head once the
	// connection is open (default 10s); IdleTimeout the wait for the next
	// request on a kept-alive connection (default 75s).
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// SendTimeout cuts a write to a client that takes none of it for that
	// long (default 60s): a client that stops reading must not hold its
	// connection, and the upstream exchange behind it, for ever. It is
	// checked by a sweep every 250ms.
	SendTimeout time.Duration
	// Log receives connection-level problems, those net/http's HTTP/2
	// server reports among them.
	Log *slog.Logger
	// HTTP2Error, when set, counts each protocol error of an HTTP/2 client
	// by net/http's name for it. net/http's server answers those itself
	// (a stream reset, or GOAWAY and a close), so no request reaches the
	// handler to be logged.
	HTTP2Error func(name string)
}

// Server serves HTTP/1.1 connections.
type Server struct {
	o Options

	mu        sync.Mutex // guards listeners, conns and shuttingDown
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	shutdown  atomic.Bool
	// idleChanged is signalled whenever a connection turns idle or closes,
	// for Shutdown to re-check.
	idleChanged chan struct{}

	// watchStart starts the sweep that watches the clients of long
	// requests and retires idle workers.
	watchStart sync.Once
	workers    workers

	// h2 serves the connections that open with the HTTP/2 preface or
	// negotiate h2 in TLS.
	h2 http2Servers

	// The client timeouts in force, which SetTimeouts changes while
	// connections are served.
	headTimeout, idleTimeout, sendTimeout atomic.Int64
}

// New returns a server; it listens on nothing until Serve.
func New(o Options) *Server {
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = 10 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 75 * time.Second
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 60 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		o:           o,
		listeners:   map[net.Listener]struct{}{},
		conns:       map[*conn]struct{}{},
		idleChanged: make(chan struct{}, 1),
		h2:          http2Servers{handler: o.Handler, countError: o.HTTP2Error, errorLog: h2ErrorLog(o.Log)},
	}
	s.SetTimeouts(o.ReadHeaderTimeout, o.IdleTimeout, o.SendTimeout)
	return s
}

// SetTimeouts changes the client timeouts (Options.ReadHeaderTimeout,
// IdleTimeout and SendTimeout) for every HTTP/1.1 connection from its next
// wait on, and for HTTP/2 connections opened from now on; a value not
// above 0 leaves that timeout as it is. HTTP/2 connections already open
// keep the timeouts they started with, and HTTP/2 has no send timeout.
func (s *Server) SetTimeouts(head, idle, send time.Duration) {
	priorHead, priorIdle := s.headWait(), s.idleWait()
	for _, t := range []struct {
		to *atomic.Int64
		d  time.Duration
	}{{&s.headTimeout, head}, {&s.idleTimeout, idle}, {&s.sendTimeout, send}} {
		if t.d > 0 {
			t.to.Store(int64(t.d))
		}
	}
	if s.headWait() != priorHead || s.idleWait() != priorIdle {
		s.h2.start(s.headWait(), s.idleWait())
	}
}

func (s *Server) headWait() time.Duration { return time.Duration(s.headTimeout.Load()) }
func (s *Server) idleWait() time.Duration { return time.Duration(s.idleTimeout.Load()) }
func (s *Server) sendWait() time.Duration { return time.Duration(s.sendTimeout.Load()) }

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = http.ErrServerClosed

// Serve accepts connections on ln until the server shuts down.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	s.watchStart.Do(func() { go s.watchLongRequests() })
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of file descriptors or similar: back off instead of
				// spinning, as the condition usually passes.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.o.Log.Warn("accept failed; retrying", "error", err, "in", backoff.String())
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.workers.serve(s, nc)
	}
}

// Shutdown stops accepting, closes idle connections, and waits for busy
// ones to finish their request until ctx ends; then it closes the rest.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdown.Store(true)
	s.mu.Lock()
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	s.workers.stop()
	h2done := make(chan error, 1)
	go func() { h2done <- s.h2.shutdown(ctx) }()
	for {
		if s.closeIdle() {
			return <-h2done
		}
		select {
		case <-s.idleChanged:
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		}
	}
}

// Close closes every listener and connection at once.
func (s *Server) Close() error {
	s.shutdown.Store(true)
	s.workers.stop()
	s.h2.close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.nc.Close()
	}
	return nil
}

// closeIdle closes the idle connections and reports whether none is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.idle.Load() {
			c.nc.Close()
		}
	}
	return len(s.conns) == 0
}

// track counts c among the server's connections, unless the server has
// shut down.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.signalIdle()
}

// watchLongRequests starts the client watch of every request that has
// been served for longer than watchAfter. One sweep for all connections
// costs each request two atomic adds, where a timer per request would be
// armed and stopped every time. It ends once the server has shut down and
// its last connection closed. Each sweep also ends the workers idle for
// too long.
func (s *Server) watchLongRequests() {
	tick := time.NewTicker(watchAfter)
	defer tick.Stop()
	for now := range tick.C {
		s.workers.expire(now)
		s.mu.Lock()
		if s.shutdown.Load() && len(s.conns) == 0 {
			s.mu.Unlock()
			s.workers.stop()
			return
		}
		for c := range s.conns {
			if seq := c.requests.Load(); seq&1 == 1 && seq == c.sweepSeen && seq != c.sweepWatched {
				// The same request as a sweep ago, still being served.
				c.sweepWatched = seq
				go c.watch()
			} else {
				c.sweepSeen = seq
			}
			s.checkSending(c, now)
		}
		s.mu.Unlock()
	}
}

// checkSending cuts c's write to its client when it has made no progress
// for SendTimeout: the write fails with a timeout and the connection ends.
func (s *Server) checkSending(c *conn, now time.Time) {
	w := c.sending.Load()
	switch {
	case w&1 == 0:
	case w != c.sweepSending:
		c.sweepSending, c.sweepSendingSince = w, now
	case now.Sub(c.sweepSendingSince) >= s.sendWait():
		c.deadlines.SetWrite(longAgo)
	}
}

func (s *Server) signalIdle() {
	select {
	case s.idleChanged <- struct{}{}:
	default:
	}
}

// discardLimit is how much of an unread request body is read and dropped
// to keep a connection alive; a larger rest closes it instead (as
// net/http does).
const discardLimit = 256 << 10
