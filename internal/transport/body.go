package transport

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/h1"
)

// Body is an upstream response body. Its errors are *failure.Error values
// of the mid-body classes; a body read to its end hands the connection back
// for reuse.
type Body struct {
	// empty is set for a response without a body (HEAD, 204, 304), which
	// is whole as soon as its head is.
	empty    bool
	chunked  bool
	e        *Endpoint
	c        *conn
	r        *h1.BodyReader
	ctx      context.Context
	stop     func() bool
	upload   *upload
	n        int64
	reusable bool
	done     bool
	// endPending is set when Next has returned the end of the body and
	// Close must still hand the connection back.
	endPending bool
	err        error
}

// Read reads from the upstream, giving each read the read timeout afresh.
func (b *Body) Read(p []byte) (int, error) {
	if err := b.ended(); err != nil {
		return 0, err
	}
	b.beforeRead()
	n, err := b.r.Read(p)
	if err = b.afterRead(n, err); err == io.EOF {
		b.finish(nil)
	}
	return n, err
}

// Next returns the next body bytes without copying them: a view of the
// connection's buffer, valid until the next call on b. Errors are those of
// Read. After the last bytes (returned with io.EOF) the connection goes
// back to the pool only once Close is called, so that nothing overwrites
// the view before the caller has used it.
func (b *Body) Next() ([]byte, error) {
	if err := b.ended(); err != nil {
		return nil, err
	}
	b.beforeRead()
	p, err := b.r.Next()
	if err = b.afterRead(len(p), err); err == io.EOF {
		b.done, b.endPending = true, true
	}
	return p, err
}

// ended returns how a body already finished ended, or nil.
func (b *Body) ended() error {
	switch {
	case !b.done:
		return nil
	case b.err != nil:
		return b.err
	}
	return io.EOF
}

// beforeRead gives a read the read timeout afresh. A read of a
// length-framed body that the buffer can serve cannot block, so needs no
// deadline; a chunked one may still wait for the rest of a chunk-size line.
func (b *Body) beforeRead() {
	if t := b.e.timeouts.Read; t > 0 && (b.chunked || b.c.br.Buffered() == 0) {
		b.c.extendRead(t)
	}
}

// afterRead counts n bytes read with err and returns what the caller is
// told: io.EOF at the end, which the caller handles, or a classified
// failure, which finishes the body.
func (b *Body) afterRead(n int, err error) error {
	b.n += int64(n)
	if max := b.e.maxBody; max > 0 && b.n > max {
		fe := failure.Newf(failure.HTTPResponseBodySize, failure.PhaseReadBody,
			"response body exceeds the limit of "+strconv.FormatInt(max, 10)+" bytes")
		return b.finish(b.e.annotate(fe, true))
	}
	if err != nil && err != io.EOF {
		return b.finish(b.bodyFailure(err))
	}
	return err
}

// Buffered reports whether body bytes have arrived that Next has not
// returned yet.
func (b *Body) Buffered() bool { return !b.done && b.c.br.Buffered() > 0 }

// bodyFailure classifies an error reading the body.
func (b *Body) bodyFailure(err error) error {
	if ctxErr := b.ctx.Err(); ctxErr != nil {
		return b.e.contextFailure(ctxErr, failure.PhaseReadBody, true, err)
	}
	if _, ok := failure.As(err); ok {
		return b.e.annotate(err, true)
	}
	if isTimeout(err) {
		return b.e.annotate(failure.New(failure.ConnectionReadTimeout, failure.PhaseReadBody, err), true)
	}
	return b.e.annotate(failure.New(failure.HTTPResponseIncomplete, failure.PhaseReadBody, err), true)
}

// finish ends the body: the connection goes back to the idle pool when the
// body ended cleanly and the connection may be reused, and is closed
// otherwise.
func (b *Body) finish(err error) error {
	if b.done {
		return err
	}
	b.done = true
	b.err = err
	uploaded := true
	if b.upload != nil {
		// A response that is complete ends the exchange: an upload still
		// going is cut, and the connection cannot be reused.
		uploaded = b.upload.stop() == nil
	}
	// stop reports false when ctx already fired and poisoned the deadline.
	// Bytes past the response's end were sent out of turn: read later,
	// they would pass for the next request's response.
	if b.stop() && err == nil && b.reusable && uploaded && b.c.br.Buffered() == 0 {
		if b.e.timeouts.ResponseHeader == 0 {
			// Otherwise the next exchange sets a deadline before reading.
			b.c.deadlines.SetRead(time.Time{})
		}
		b.e.putIdle(b.c)
		return nil
	}
	b.c.Close()
	return err
}

// Close abandons the body; an unread rest means the connection cannot be
// reused.
func (b *Body) Close() error {
	switch {
	case b.endPending:
		b.endPending, b.done = false, false
		b.finish(nil)
	case b.done:
	case b.empty:
		b.finish(nil)
	default:
		b.finish(errors.New("body closed before its end"))
	}
	return nil
}

// Trailers returns the trailer fields of a chunked body, once read to its
// end.
func (b *Body) Trailers() []h1.Field {
	return b.r.Trailers()
}

// BytesRead is how many body bytes came from the upstream.
func (b *Body) BytesRead() int64 { return b.n }

// bufferPool holds the buffers request bodies are streamed upstream
// through, so an upload allocates none.
var bufferPool = sync.Pool{New: func() any {
	b := make([]byte, 32<<10)
	return &b
}}

// getBuffer returns a pooled copy buffer; putBuffer gives it back.
func getBuffer() *[]byte { return bufferPool.Get().(*[]byte) }

func putBuffer(b *[]byte) { bufferPool.Put(b) }

// Tunnel hands over the connection of a response that switched protocols
// (101, RFC 9110 §15.2.2): the caller relays bytes both ways and must
// Close it. Reads start with what is already buffered. The exchange's
// context and timeouts no longer apply: a tunnel lives as long as both
// ends keep it open.
func (b *Body) Tunnel() io.ReadWriteCloser {
	if b.done {
		return nil
	}
	b.done = true
	if b.upload != nil {
		b.upload.stop()
	}
	b.stop()
	b.c.deadlines.Set(time.Time{})
	return &tunnel{c: b.c}
}

// tunnel is an upstream connection after a protocol switch.
type tunnel struct{ c *conn }

func (t *tunnel) Read(p []byte) (int, error)  { return t.c.br.Read(p) }
func (t *tunnel) Write(p []byte) (int, error) { return t.c.Conn.Write(p) }
func (t *tunnel) Close() error                { return t.c.Conn.Close() }

// CloseWrite tells the upstream no more bytes are coming, keeping the
// other direction open.
func (t *tunnel) CloseWrite() error {
	if cw, ok := t.c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
