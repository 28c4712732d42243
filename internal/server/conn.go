package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/portico-proxy/portico/internal/deadline"
	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/h1"
)

// conn is one client connection and everything reused across its
// requests, so a kept-alive connection serves request after request
// without allocating per request what it can keep. A worker keeps its conn
// for the next connection it serves: start readies it for one.
type conn struct {
	s  *Server
	nc net.Conn
	// deadlines sets nc's deadlines; nothing else does.
	deadlines deadline.Tracker
	idle      atomic.Bool
	// hijacked is set when the handler took the connection over.
	hijacked bool

	br *bufio.Reader
	bw *outBuffer
	// raw lets an idle TCP connection wait for its next request without
	// holding a read buffer; nil for TLS, whose reader is kept.
	raw syscall.RawConn
	// awaitChecked and peek belong to awaitReady, which is bound once.
	awaitChecked bool
	peek         [1]byte
	awaitReady   func(fd uintptr) bool
	remoteAddr   string
	tls          *tls.ConnectionState
	ctx          connContext

	head   h1.RequestHead
	req    *http.Request
	url    url.URL
	header http.Header
	// values backs the request's header values, one slot per field, so
	// filling Header allocates nothing once warm.
	values []string
	body   requestBody
	w      responseWriter
	// scratch formats numbers on their way to bw, which would otherwise
	// make a stack buffer escape.
	scratch [20]byte

	// The watch notices a client that leaves while its request is still
	// being served (a slow upstream, a long stream), so the request can be
	// cancelled instead of running to the end for no one. The server's
	// sweep starts it for requests served longer than watchAfter, so
	// quick ones pay nothing but counting: requests is odd while one is
	// served. sweepSeen and sweepWatched belong to the sweep.
	requests     atomic.Uint64
	sweepSeen    uint64
	sweepWatched uint64
	// sending is odd while a write to the client is under way; the sweep
	// cuts one that makes no progress for SendTimeout. sweepSending and
	// sweepSendingSince belong to the sweep.
	sending           atomic.Uint64
	sweepSending      uint64
	sweepSendingSince time.Time
	watchMu           sync.Mutex // guards serving, watching, stopping
	serving           bool
	watching          bool
	stopping          bool
	watchDone         chan struct{}
}

// watchAfter is how long a request runs at least before its client is
// watched (at most twice that).
const watchAfter = 250 * time.Millisecond

// Buffers are held by busy connections only: an idle one gives both back
// (a TLS connection keeps its reader). A reader takes a request head with
// a small body in one read; a writer lets a response head and a 16 KiB
// body leave in one write.
var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}
	writers = sync.Pool{New: func() any { return newOutBuffer(32 << 10) }}
)

// start readies c to serve nc; it reports false when the server has shut
// down.
func (c *conn) start(s *Server, nc net.Conn) bool {
	if c.req == nil {
		// What outlives one connection is made once.
		c.watchDone = make(chan struct{}, 1)
		c.req = (&http.Request{}).WithContext(&c.ctx)
		c.header = make(http.Header, 8)
		c.w.c = c
		c.w.header = make(http.Header, 8)
		c.body.c = c
	}
	c.s, c.nc = s, nc
	c.hijacked, c.tls, c.bw = false, nil, nil
	c.ctx.reset()
	c.idle.Store(true)
	return s.track(c)
}

func (c *conn) serve() {
	defer c.close()
	c.br = readers.Get().(*bufio.Reader)
	c.br.Reset(c.nc)
	c.deadlines.Init(c.nc)
	c.raw = nil
	if tc, ok := c.nc.(*net.TCPConn); ok {
		if raw, err := tc.SyscallConn(); err == nil {
			c.raw = raw
		}
	}
	c.remoteAddr = c.nc.RemoteAddr().String()
	if tc, ok := c.nc.(*tls.Conn); ok {
		// A client that stalls its handshake is let go like one that
		// stalls its request head.
		c.deadlines.ExtendRead(c.s.headWait())
		if err := tc.HandshakeContext(context.Background()); err != nil {
			return
		}
		state := tc.ConnectionState()
		if state.NegotiatedProtocol == "h2" {
			// HTTP/2 over TLS (ALPN) is net/http's, as HTTP/2 with prior
			// knowledge is; it keeps its own deadlines.
			c.hijacked = true
			c.deadlines.SetRead(time.Time{})
			if !c.s.h2.hand(tc) {
				tc.Close()
			}
			return
		}
		c.tls = &state
	}
	timeout := c.s.headWait()
	for {
		c.deadlines.ExtendRead(timeout)
		if c.br == nil {
			if c.awaitRequest() != nil {
				return // the client left, went quiet or the server closed it
			}
			c.br = readers.Get().(*bufio.Reader)
			c.br.Reset(c.nc)
		}
		err := h1.ReadRequestHead(c.br, c.s.o.Limits, &c.head)
		c.idle.Store(false)
		if err != nil {
			c.readFailed(err)
			return
		}
		// The head's deadline stays: body reads set their own, and the
		// client watch clears it before it waits.
		if c.bw == nil {
			c.bw = writers.Get().(*outBuffer)
			c.bw.Reset(c.nc, &c.sending)
		}
		c.prepare()
		if c.head.ExpectContinue && c.head.Framing() != h1.NoBody {
			// The client waits for this before sending the body (RFC 9110
			// §10.1.1). It goes out before the handler runs: the proxy
			// streams the body as it reads it, and answering from the
			// handler's upload would race the response.
			c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if c.bw.Flush() != nil {
				return
			}
		}
		if !c.handle() || !c.w.finish() || !c.body.drain() {
			return
		}
		if c.head.Close || c.w.closeAfter || c.s.shutdown.Load() {
			return
		}
		// An idle connection gives its buffers back: thousands of idle
		// keep-alive clients should cost little memory.
		if c.br.Buffered() == 0 {
			writers.Put(c.bw)
			c.bw = nil
			if c.raw != nil {
				c.br.Reset(nil)
				readers.Put(c.br)
				c.br = nil
			}
		}
		c.idle.Store(true)
		if c.s.shutdown.Load() {
			return
		}
		timeout = c.s.idleWait()
	}
}

// awaitRequest waits, holding no read buffer, until the client sends its
// next request, closes, or the read deadline passes (an error).
//
// The socket is checked once before waiting: Go's poller forgets a
// readiness that arrived before the wait, so bytes already there must be
// seen by looking, not by waiting for a signal that will not come again.
// Looking costs what the read that would find nothing costs; when the
// request is there, the read that follows is one system call more.
func (c *conn) awaitRequest() error {
	if c.awaitReady == nil {
		c.awaitReady = c.checkReady
	}
	c.awaitChecked = false
	return c.raw.Read(c.awaitReady)
}

// checkReady is awaitRequest's test: the first time, whether a byte (or
// the end of the stream) is there; after a readiness signal, yes.
func (c *conn) checkReady(fd uintptr) bool {
	if c.awaitChecked {
		return true
	}
	c.awaitChecked = true
	for {
		_, _, err := syscall.Recvfrom(int(fd), c.peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if err != syscall.EINTR {
			return err != syscall.EAGAIN
		}
	}
}

// readFailed ends a connection whose next request could not be read: a
// client that closed or went quiet is let go silently, a malformed request
// is answered and the connection closed, since its framing can no longer
// be trusted (RFC 9112 §6.3).
func (c *conn) readFailed(err error) {
	if errors.Is(err, h1.ErrHTTP2Preface) {
		c.hijacked = true
		// The reader still holds the whole preface: HTTP/2 reads it again.
		replay := &replayConn{Conn: c.nc, r: c.br}
		if !c.s.h2.hand(replay) {
			c.nc.Close()
		}
		return
	}
	var fe *failure.Error
	if !errors.As(err, &fe) || c.s.o.RequestError == nil {
		return
	}
	if c.bw == nil {
		c.bw = writers.Get().(*outBuffer)
		c.bw.Reset(c.nc, &c.sending)
	}
	c.prepare()
	c.w.closeAfter = true
	c.s.o.RequestError(&c.w, c.req, fe)
	c.w.finish()
}

// prepare turns the parsed head into the reused *http.Request.
func (c *conn) prepare() {
	h := &c.head
	r := c.req
	r.Method = h.Method
	c.url = url.URL{Path: h.Path, RawQuery: h.RawQuery}
	if strings.IndexByte(h.Path, '%') >= 0 {
		if p, err := url.PathUnescape(h.Path); err == nil {
			c.url.Path, c.url.RawPath = p, h.Path
		}
	}
	r.URL = &c.url
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	if h.Minor == 0 {
		r.Proto, r.ProtoMinor = "HTTP/1.0", 0
	}
	clear(c.header)
	c.values = c.values[:0]
	for _, f := range h.Fields {
		k := http.CanonicalHeaderKey(f.Name)
		if k == "Host" {
			continue // r.Host carries it, as net/http does
		}
		c.values = append(c.values, f.Value)
		if prior, ok := c.header[k]; ok {
			c.header[k] = append(prior, f.Value)
			continue
		}
		n := len(c.values)
		c.header[k] = c.values[n-1 : n : n]
	}
	r.Header = c.header
	r.Host = h.Host
	r.RequestURI = h.Target
	r.RemoteAddr = c.remoteAddr
	r.TLS = c.tls
	r.Close = h.Close
	r.Trailer = nil
	r.TransferEncoding = nil
	switch h.Framing() {
	case h1.Chunked:
		r.ContentLength = -1
		r.TransferEncoding = chunkedEncoding
		c.body.reset(h)
		r.Body = &c.body
	case h1.Length:
		r.ContentLength = h.ContentLength
		c.body.reset(h)
		r.Body = &c.body
	default:
		r.ContentLength = 0
		c.body.reset(nil)
		r.Body = http.NoBody
	}
	c.w.reset(r)
}

var chunkedEncoding = []string{"chunked"}

// handle runs the handler; false means the connection must close (the
// handler aborted the response or took the connection).
func (c *conn) handle() (ok bool) {
	c.startServing()
	defer c.stopServing()
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				c.s.o.Log.Error("handler panicked", "panic", v)
			}
			// Whatever was written goes out, then the connection ends
			// without the final chunk or short of Content-Length, so the
			// client cannot take the response for whole.
			if c.bw != nil {
				c.bw.Flush()
			}
			ok = false
		}
	}()
	c.s.o.Handler.ServeHTTP(&c.w, c.req)
	return !c.hijacked
}

func (c *conn) startServing() {
	c.watchMu.Lock()
	c.serving = true
	c.watchMu.Unlock()
	c.requests.Add(1)
}

// stopServing ends the watch of a request that is done (or whose
// connection the handler takes over), so nothing else reads the
// connection.
func (c *conn) stopServing() {
	c.requests.Add(1)
	c.watchMu.Lock()
	c.serving = false
	if !c.watching {
		c.watchMu.Unlock()
		return
	}
	c.stopping = true
	c.deadlines.SetRead(longAgo)
	c.watchMu.Unlock()
	<-c.watchDone
	c.watchMu.Lock()
	c.stopping = false
	c.watchMu.Unlock()
	c.deadlines.SetRead(time.Time{})
}

// watch waits for the client's next byte while a request is served. Only
// once the request body has been read whole does the connection carry
// nothing the handler needs; a byte then is a pipelined request and stays
// buffered, and an end of stream means the client left: the connection's
// context is cancelled, which cancels the request.
func (c *conn) watch() {
	c.watchMu.Lock()
	if !c.serving || c.watching || !c.body.done.Load() {
		c.watchMu.Unlock()
		return
	}
	c.watching = true
	c.deadlines.SetRead(time.Time{})
	c.watchMu.Unlock()
	_, err := c.br.Peek(1)
	c.watchMu.Lock()
	defer c.watchMu.Unlock()
	if err != nil && !c.stopping {
		c.ctx.end()
	}
	c.watching = false
	if c.stopping {
		c.watchDone <- struct{}{}
	}
}

var longAgo = time.Unix(1, 0)

func (c *conn) close() {
	c.ctx.end()
	if !c.hijacked {
		if c.bw != nil {
			c.bw.Flush()
		}
		if c.body.eof && (c.br == nil || c.br.Buffered() == 0) {
			// Nothing of the client's is left unread: a plain close
			// sends no reset.
			c.nc.Close()
		} else {
			c.closeGracefully()
		}
	}
	if c.bw != nil && !c.hijacked {
		writers.Put(c.bw)
	}
	if c.br != nil && !c.hijacked {
		c.br.Reset(nil)
		readers.Put(c.br)
	}
	c.br, c.bw = nil, nil
	c.s.forget(c)
}

// closeGracefully closes the connection so that a response just written
// is not destroyed by a reset: when unread request bytes remain, closing at
// once would send RST and the client could lose the answer (RFC 9112
// §9.6). The write side is shut first and the rest read briefly.
func (c *conn) closeGracefully() {
	if tc, ok := c.nc.(*net.TCPConn); ok {
		tc.CloseWrite()
		tc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		io.Copy(io.Discard, io.LimitReader(tc, 256<<10))
	}
	c.nc.Close()
}

// requestBody is a request's body as the handler reads it.
type requestBody struct {
	c       *conn
	r       h1.BodyReader
	chunked bool
	eof     bool
	// done mirrors eof for the client watch, which runs on another
	// goroutine.
	done atomic.Bool
	err  error
}

func (b *requestBody) reset(h *h1.RequestHead) {
	b.eof, b.err = h == nil, nil
	b.done.Store(b.eof)
	b.chunked = h != nil && h.Framing() == h1.Chunked
	if h != nil {
		b.r.ResetRequest(b.c.br, h)
	}
}

func (b *requestBody) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	// A read of a length-framed body that the buffer can serve cannot
	// block, so needs no deadline.
	if b.chunked || b.c.br.Buffered() == 0 {
		// A client may pause inside a body as long as between requests,
		// so one deadline serves both and is seldom moved.
		b.c.deadlines.ExtendRead(b.c.s.idleWait())
	}
	n, err := b.r.Read(p)
	switch {
	case err == io.EOF:
		b.eof = true
		b.done.Store(true)
	case err != nil:
		b.err = err
		// A broken body leaves the stream's framing unknown.
		b.c.w.closeAfter = true
	}
	return n, err
}

// Close is a no-op: the server drains or closes after the handler.
func (b *requestBody) Close() error { return nil }

// drain reads what the handler left of the body so the connection can
// carry the next request; a large rest closes it instead.
func (b *requestBody) drain() bool {
	if b.eof {
		return true
	}
	if b.err != nil {
		return false
	}
	n, err := io.CopyN(io.Discard, b, discardLimit)
	return err == io.EOF && n < discardLimit
}
