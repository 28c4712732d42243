package transport

import (
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/h1"
)

// Request is what the proxy asks an endpoint to send.
type Request struct {
	Method string
	// Target is the request-target in origin form ("/path?query").
	Target string
	// Host is sent as the Host field.
	Host string
	// Header holds the client's fields; those Drop names are left out
	// (hop-by-hop ones, those portico rewrites), and Extra follow them.
	Header http.Header
	Drop   h1.FieldFilter
	Extra  []h1.Field
	// Body is nil when the request has none. ContentLength is its length,
	// or -1 when unknown, in which case it is sent chunked.
	Body          io.Reader
	ContentLength int64
	// Informational, when set, is called with each 1xx head other than 101
	// that arrives before the final one (e.g. 103 Early Hints).
	Informational func(*h1.ResponseHead)
	// AbortBody, when set, makes a pending read of Body fail at once. It is
	// called when the upstream is done with the exchange before the upload
	// is, so the upload never outlives the request.
	AbortBody func()
}

// Response is an upstream's final response head and its body.
type Response struct {
	h1.ResponseHead
	// Body must be read to io.EOF or closed; a body read to its end returns
	// the connection for reuse.
	Body *Body

	body   Body
	reader h1.BodyReader
}

// responses keeps Response values, whose head and body reader buffers are
// then reused: a response head costs one allocation, not one per field.
var responses = sync.Pool{New: func() any { return new(Response) }}

// Release gives the response back once the caller is done with it and its
// body: nothing of it, head fields included, may be used after.
func (r *Response) Release() {
	r.body = Body{}
	r.Body = nil
	responses.Put(r)
}

// ErrClientBody wraps an error reading the client's request body: the
// client, not the upstream, failed.
var ErrClientBody = errors.New("reading the client's request body")

// idempotent reports whether a request may be sent again after a reused
// connection turned out dead (RFC 9110 §9.2.2).
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// RoundTrip sends req and reads the response head. ctx bounds the whole
// exchange including the body: when it is cancelled (the client left) or its
// deadline passes, the upstream connection is abandoned.
//
// A keep-alive connection the upstream closed while idle is the classic
// cause of sporadic 502s; when a reused connection dies before any response
// byte and the request can safely be sent again, RoundTrip sends it once
// more on a fresh connection.
func (e *Endpoint) RoundTrip(ctx context.Context, req *Request) (*Response, error) {
	replayable := req.Body == nil && idempotent(req.Method)
	for {
		c := e.getIdle(time.Since(clockBase))
		if c == nil {
			generation := e.generation.Load()
			nc, err := e.dial(ctx)
			if err != nil {
				return nil, err
			}
			c = newConn(nc)
			c.generation = generation
		}
		resp, err := e.exchange(ctx, c, req)
		if err == nil {
			return resp, nil
		}
		if c.reused && replayable && failure.ClassOf(err) == failure.ConnectionTerminated {
			continue
		}
		return nil, err
	}
}

// inlineUploadLimit is the largest body written before the response is
// awaited rather than alongside it; far below any socket buffer, so an
// upstream that answers while it reads cannot block on it.
const inlineUploadLimit = 16 << 10

// longAgo is a deadline in the past, which makes pending I/O fail at once.
var longAgo = time.Unix(1, 0)

// afterFuncer is a context that registers a function to run when it ends
// without allocating, as the HTTP/1.1 server's connection context does.
type afterFuncer interface {
	AfterFunc(f func()) (stop func() bool)
}

// afterFunc is context.AfterFunc, without its allocations where ctx
// allows.
func afterFunc(ctx context.Context, f func()) (stop func() bool) {
	if a, ok := ctx.(afterFuncer); ok {
		return a.AfterFunc(f)
	}
	return context.AfterFunc(ctx, f)
}

func (e *Endpoint) exchange(ctx context.Context, c *conn, req *Request) (*Response, error) {
	c.ctx = ctx
	stop := afterFunc(ctx, c.poison)

	if e.timeouts.Write > 0 {
		c.extendWrite(e.timeouts.Write)
	}
	if err := h1.WriteForwardedRequestHead(c.bw, req.Method, req.Target, req.Host, req.Header, req.Drop, req.Extra, req.ContentLength); err != nil {
		return nil, e.abandon(ctx, c, stop, nil, writeFailure(err), failure.PhaseWriteRequest, false)
	}

	// The body is sent while the response is awaited: HTTP/1.1 lets an
	// upstream answer early (a 413, a redirect) or stream its answer while
	// still reading (RFC 9112 §9.3), and waiting for the whole upload first
	// would deadlock an upstream that echoes as it reads.
	//
	// A small body of known length is the exception: socket buffers hold
	// it and any answer to it whole, so it is written at once, without a
	// goroutine of its own, and leaves with the head in one write.
	var upload *upload
	inline := req.Body != nil && req.ContentLength >= 0 && req.ContentLength <= inlineUploadLimit
	if !inline {
		if err := c.bw.Flush(); err != nil {
			return nil, e.abandon(ctx, c, stop, nil, writeFailure(err), failure.PhaseWriteRequest, true)
		}
	}
	switch {
	case inline:
		err := e.writeBody(c, req)
		if err == nil {
			err = c.bw.Flush()
		}
		if errors.Is(err, ErrClientBody) {
			stop()
			c.Close()
			return nil, err
		}
		if err != nil {
			return nil, e.abandon(ctx, c, stop, nil, writeFailure(err), failure.PhaseWriteRequest, true)
		}
		if e.timeouts.ResponseHeader > 0 {
			c.extendRead(e.timeouts.ResponseHeader)
		}
	case req.Body != nil:
		// The response-header timeout starts once the upload ends; until
		// then the head is awaited without one.
		c.clearReadDeadline()
		upload = e.startUpload(c, req)
	case e.timeouts.ResponseHeader > 0:
		c.extendRead(e.timeouts.ResponseHeader)
	}

	if e.yieldForAnswer {
		// The upstream needs a moment to answer. Reading now would find
		// nothing and park the goroutine until the poller reports the
		// answer; after the other runnable requests have gone first, the
		// read usually finds it: one system call and one poller wakeup
		// fewer per request (docs/architecture.md), and the answers are
		// taken up in the order their requests were sent.
		runtime.Gosched()
	}
	resp := responses.Get().(*Response)
	for {
		if err := h1.ReadResponseHead(c.br, e.limits, &resp.ResponseHead); err != nil {
			responses.Put(resp)
			return nil, e.abandon(ctx, c, stop, upload, headFailure(err), failure.PhaseReadHead, true)
		}
		if resp.Status >= 200 || resp.Status == http.StatusSwitchingProtocols {
			break
		}
		if req.Informational != nil {
			req.Informational(&resp.ResponseHead)
		}
	}
	if upload != nil {
		upload.headReceived.Store(true)
	}
	if e.timeouts.Read == 0 {
		// Otherwise every body read sets its own deadline.
		c.clearReadDeadline()
	}
	framing := resp.Framing(req.Method)
	resp.reader.Reset(c.br, &resp.ResponseHead, framing)
	resp.body = Body{
		e:        e,
		c:        c,
		r:        &resp.reader,
		stop:     stop,
		ctx:      ctx,
		upload:   upload,
		reusable: !resp.Close && framing != h1.UntilClose && framing != h1.Tunnel,
		empty:    framing == h1.NoBody,
		chunked:  framing == h1.Chunked,
	}
	resp.Body = &resp.body
	return resp, nil
}

// abandon closes a connection whose exchange failed and says why. A failed
// upload explains a failed head read it caused, and the whole-request
// deadline or the client's departure explains everything.
func (e *Endpoint) abandon(ctx context.Context, c *conn, stop func() bool, up *upload, err error, p failure.Phase, written bool) error {
	stop()
	c.Close()
	if up != nil {
		if uerr := up.stop(); uerr != nil && up.failedFirst.Load() {
			if errors.Is(uerr, ErrClientBody) {
				return uerr
			}
			err, p = writeFailure(uerr), failure.PhaseWriteRequest
		}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return e.contextFailure(ctxErr, p, written, err)
	}
	return e.annotate(err, written)
}

// upload is a request body being sent alongside the response.
type upload struct {
	c     *conn
	abort func()
	// done receives the upload's outcome once.
	done chan error
	// failedFirst is set when the upload failed before any response head
	// arrived; it then explains the exchange's failure.
	failedFirst  atomic.Bool
	headReceived atomic.Bool
}

// stop ends the upload, cutting it short if it is still going, and returns
// its outcome. The caller has closed or will close the connection.
func (up *upload) stop() error {
	select {
	case err := <-up.done:
		return err
	default:
	}
	up.c.Close()
	if up.abort != nil {
		up.abort()
	}
	// Even an upload that ended well just now has lost its connection to
	// the Close above: the connection must not be reused.
	if err := <-up.done; err != nil {
		return err
	}
	return errUploadCut
}

// errUploadCut is an upload stopped because the exchange ended first.
var errUploadCut = errors.New("request body upload cut short: the upstream answered first")

func (e *Endpoint) startUpload(c *conn, req *Request) *upload {
	up := &upload{c: c, abort: req.AbortBody, done: make(chan error, 1)}
	go func() {
		err := e.writeBody(c, req)
		if err == nil {
			err = c.bw.Flush()
		}
		if err != nil {
			if !up.headReceived.Load() {
				up.failedFirst.Store(true)
			}
			// Unblock the head read, which would otherwise wait for an
			// answer to a request that was never completed.
			c.deadlines.SetRead(longAgo)
		} else if e.timeouts.ResponseHeader > 0 && !up.headReceived.Load() {
			// The response-header timeout runs from the end of the request.
			c.extendRead(e.timeouts.ResponseHeader)
		}
		if e.timeouts.Write > 0 {
			c.clearWriteDeadline()
		}
		up.done <- err
	}()
	return up
}

// writeBody streams the request body: with its length when known, chunked
// otherwise (RFC 9112 §7.1). Each write to the upstream gets the write
// timeout afresh, so a slow but moving upload is never cut.
func (e *Endpoint) writeBody(c *conn, req *Request) error {
	var dst io.Writer = c.bw
	var chunked *h1.ChunkedWriter
	if req.ContentLength < 0 {
		chunked = h1.NewChunkedWriter(c.bw)
		dst = chunked
	}
	buf := getBuffer()
	defer putBuffer(buf)
	var sent int64
	for {
		n, rerr := req.Body.Read(*buf)
		if n > 0 {
			if e.timeouts.Write > 0 {
				c.extendWrite(e.timeouts.Write)
			}
			if _, err := dst.Write((*buf)[:n]); err != nil {
				return err
			}
			sent += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return errors.Join(ErrClientBody, rerr)
		}
	}
	if req.ContentLength >= 0 && sent != req.ContentLength {
		return errors.Join(ErrClientBody, io.ErrUnexpectedEOF)
	}
	if chunked != nil {
		return chunked.Close()
	}
	return nil
}

// writeFailure classifies an error writing to the upstream.
func writeFailure(err error) error {
	if _, ok := failure.As(err); ok {
		return err
	}
	if isTimeout(err) {
		return failure.New(failure.ConnectionWriteTimeout, failure.PhaseWriteRequest, err)
	}
	return failure.New(failure.ConnectionTerminated, failure.PhaseWriteRequest, err)
}

// headFailure classifies an error reading the response head. The codec has
// already typed protocol errors; what is left is the connection's own.
func headFailure(err error) error {
	switch {
	case isRemoteAlert(err):
		// A TLS 1.3 server rejects a client certificate only after the
		// handshake, so its alert arrives while the head is awaited.
		return alertFailure(err, failure.PhaseReadHead)
	case isTimeout(err):
		return failure.New(failure.ConnectionReadTimeout, failure.PhaseReadHead, err)
	}
	if _, ok := failure.As(err); ok {
		return err
	}
	if isConnectionLoss(err) {
		return failure.New(failure.ConnectionTerminated, failure.PhaseReadHead, err)
	}
	return failure.New(failure.HTTPProtocolError, failure.PhaseReadHead, err)
}

// contextFailure explains an exchange that ended because ctx did: the
// whole-request deadline passed, or the client went away.
func (e *Endpoint) contextFailure(ctxErr error, p failure.Phase, written bool, cause error) error {
	if errors.Is(ctxErr, context.DeadlineExceeded) {
		fe := failure.New(failure.HTTPResponseTimeout, p, cause)
		fe.Details = "whole-request deadline passed"
		return e.annotate(fe, written)
	}
	return ctxErr
}
