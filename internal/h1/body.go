package h1

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"

	"github.com/portico-proxy/portico/internal/failure"
)

// Limits of chunked framing.
const (
	// maxChunkLine bounds a chunk-size line before its CRLF, extensions
	// included, as net/http does: extensions carry nothing portico uses.
	maxChunkLine = 4095
	// maxTrailerSection bounds the trailer section.
	maxTrailerSection = 64 << 10
)

type chunkState uint8

const (
	chunkSize    chunkState = iota // expecting a chunk-size line
	chunkData                      // inside a chunk's data
	chunkDataEnd                   // expecting the CRLF after a chunk's data
	chunkTrailer                   // reading the trailer section
	chunkDone
)

// BodyReader reads one response or request body as its framing delimits
// it, returning io.EOF at its end. Its zero value is not usable;
// NewBodyReader, Reset or ResetRequest prepares it, and
// the Reset methods let a caller reuse one.
//
// Errors: a body that ends before its framing says (short of
// Content-Length, inside a chunk) or breaks its chunked framing is a
// *failure.Error: http_response_incomplete for a response; for a request
// http_request_error with status 400 in PhaseReadRequest, wrapping
// io.ErrUnexpectedEOF where the client stopped sending, after which the
// connection must be closed, since where the next request starts is
// unknown. Any other error of the underlying reader is returned wrapped and
// unclassified, so the caller can tell a read timeout from a reset.
type BodyReader struct {
	br        *bufio.Reader
	request   bool // the body is a client's request body
	framing   Framing
	remaining int64 // Length: bytes left; Chunked: bytes left in this chunk
	length    int64 // Length: the whole, for error details
	read      int64 // body bytes returned so far
	state     chunkState
	trailers  []Field
	trailerN  int    // bytes of trailer section read
	line      []byte // a framing line longer than br's buffer
	view      []byte // what Next returns
	err       error  // sticky: io.EOF or the failure
}

// NewBodyReader returns a reader of the body that follows h on br, framed as
// f (normally h.Framing of the request's method). For NoBody and Tunnel it
// is empty.
func NewBodyReader(br *bufio.Reader, h *ResponseHead, f Framing) *BodyReader {
	r := new(BodyReader)
	r.Reset(br, h, f)
	return r
}

// Reset makes r read the response body that follows h on br, framed as f.
func (r *BodyReader) Reset(br *bufio.Reader, h *ResponseHead, f Framing) {
	r.reset(br, false, f, h.ContentLength)
}

// ResetRequest makes r read the request body that follows h on br.
func (r *BodyReader) ResetRequest(br *bufio.Reader, h *RequestHead) {
	r.reset(br, true, h.Framing(), h.ContentLength)
}

func (r *BodyReader) reset(br *bufio.Reader, request bool, f Framing, contentLength int64) {
	*r = BodyReader{br: br, request: request, framing: f, trailers: r.trailers[:0], line: r.line[:0]}
	switch f {
	case Length:
		r.remaining, r.length = contentLength, contentLength
		if r.remaining <= 0 {
			r.err = io.EOF
		}
	case Chunked, UntilClose:
	default:
		r.err = io.EOF
	}
}

// Trailers returns the trailer fields of a chunked body once Read has
// returned io.EOF, and nil before that or for other framings. Names are as
// received; the caller decides which may be forwarded (RFC 9110 §6.5).
func (r *BodyReader) Trailers() []Field {
	if r.state != chunkDone || len(r.trailers) == 0 {
		return nil
	}
	return r.trailers
}

// Read reads body bytes. With the end of the body already buffered, the last
// bytes come with io.EOF, so the caller learns the connection is free for
// reuse without another call.
func (r *BodyReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	var n int
	switch r.framing {
	case Length:
		n, r.err = r.readLength(p)
	case Chunked:
		n, r.err = r.readChunked(p)
	case UntilClose:
		n, r.err = r.readUntilClose(p)
	}
	r.read += int64(n)
	return n, r.err
}

// Next returns the next body bytes without copying them: a view of the
// underlying bufio.Reader's buffer, valid until the next call on r or on
// that reader. The bytes and errors are those Read would return.
func (r *BodyReader) Next() ([]byte, error) {
	r.view = nil
	n, err := r.Read(nil)
	return r.view[:n], err
}

// pull reads up to limit body bytes: into p, or, when p is nil, as a view
// of br's buffer left in r.view, which saves a copy.
func (r *BodyReader) pull(p []byte, limit int64) (int, error) {
	if p != nil {
		return r.br.Read(p[:min(int64(len(p)), limit)])
	}
	if r.br.Buffered() == 0 {
		if _, err := r.br.Peek(1); err != nil {
			return 0, err
		}
	}
	n := int(min(int64(r.br.Buffered()), limit))
	r.view, _ = r.br.Peek(n)
	r.br.Discard(n)
	return n, nil
}

func (r *BodyReader) readLength(p []byte) (int, error) {
	if p != nil && len(p) == 0 {
		return 0, nil
	}
	n, err := r.pull(p, r.remaining)
	r.remaining -= int64(n)
	switch {
	case err != nil && isEOF(err):
		return n, r.broken(io.ErrUnexpectedEOF, "%s body ended after %d of %d bytes (Content-Length)", r.side(), r.read+int64(n), r.length)
	case err != nil:
		return n, r.readError(err)
	case r.remaining == 0:
		return n, io.EOF
	}
	return n, nil
}

func (r *BodyReader) readUntilClose(p []byte) (int, error) {
	n, err := r.pull(p, math.MaxInt64)
	switch {
	case err == io.EOF:
		return n, io.EOF
	case err == io.ErrUnexpectedEOF:
		// A TLS connection cut without close_notify: the body may be short,
		// and nothing else delimits it (RFC 9112 §8).
		return n, incomplete(err, "connection cut after %d bytes of a close-delimited body", r.read+int64(n))
	case err != nil:
		return n, r.readError(err)
	}
	return n, nil
}

// readChunked decodes chunked-body (RFC 9112 §7.1).
func (r *BodyReader) readChunked(p []byte) (int, error) {
	for r.state != chunkData {
		if r.state == chunkDone {
			return 0, io.EOF
		}
		if err := r.step(); err != nil {
			return 0, err
		}
	}
	if p != nil && len(p) == 0 {
		return 0, nil
	}
	n, err := r.pull(p, r.remaining)
	r.remaining -= int64(n)
	if err != nil {
		if isEOF(err) {
			return n, r.broken(io.ErrUnexpectedEOF, "%s body ended inside a chunk, after %d bytes", r.side(), r.read+int64(n))
		}
		return n, r.readError(err)
	}
	if r.remaining > 0 {
		return n, nil
	}
	r.state = chunkDataEnd
	// Go on through the framing that is already buffered, so the body's
	// end is noticed now rather than on a read that might block.
	for r.state != chunkData && r.state != chunkDone && r.stepBuffered() {
		if err := r.step(); err != nil {
			return n, err
		}
	}
	if r.state == chunkDone {
		return n, io.EOF
	}
	return n, nil
}

// stepBuffered reports whether the next framing step can run on buffered
// bytes alone.
func (r *BodyReader) stepBuffered() bool {
	buffered := r.br.Buffered()
	if r.state == chunkDataEnd {
		return buffered >= 2
	}
	b, _ := r.br.Peek(buffered)
	return bytes.IndexByte(b, '\n') >= 0
}

// step reads one piece of framing: a chunk-size line, the CRLF after chunk
// data, or one trailer line.
func (r *BodyReader) step() error {
	switch r.state {
	case chunkDataEnd:
		crlf, err := r.br.Peek(2)
		if err != nil {
			return r.framingReadError(err, "before the CRLF after chunk data")
		}
		if crlf[0] != '\r' || crlf[1] != '\n' {
			return r.broken(nil, "chunk data not followed by CRLF")
		}
		r.br.Discard(2)
		r.state = chunkSize
	case chunkSize:
		line, err := r.readFramingLine(maxChunkLine+len("\r\n"), "in a chunk-size line")
		if err != nil {
			return err
		}
		if line == nil {
			return r.broken(nil, "chunk-size line longer than %d bytes", maxChunkLine)
		}
		content, problem := lineContent(line, false)
		if problem != "" {
			return r.broken(nil, "%s in a chunk-size line", problem)
		}
		size, problem := parseChunkSize(content)
		if problem != "" {
			return r.broken(nil, "%s", problem)
		}
		if size == 0 {
			r.state = chunkTrailer
			return nil
		}
		r.remaining, r.state = size, chunkData
	case chunkTrailer:
		return r.readTrailerLine()
	}
	return nil
}

func (r *BodyReader) framingReadError(err error, where string) error {
	if isEOF(err) {
		return r.broken(io.ErrUnexpectedEOF, "%s body ended %s, after %d bytes", r.side(), where, r.read)
	}
	return r.readError(err)
}

// side names the body in messages.
func (r *BodyReader) side() string {
	if r.request {
		return "request"
	}
	return "response"
}

// broken is a body that ended, or broke its framing, before its end.
func (r *BodyReader) broken(cause error, format string, args ...any) error {
	if !r.request {
		return incomplete(cause, format, args...)
	}
	return &failure.Error{
		Class:      failure.HTTPRequestError,
		Phase:      failure.PhaseReadRequest,
		StatusCode: http.StatusBadRequest,
		Details:    fmt.Sprintf(format, args...),
		Err:        cause,
	}
}

func (r *BodyReader) readError(err error) error {
	return readError(r.side()+" body", err)
}

// parseChunkSize parses
//
//	chunk-size [ chunk-ext ]
//	chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//
// (RFC 9112 §7.1.1), discarding the extensions, whose bytes must only be
// free of controls. Like net/http it allows whitespace after the size and
// at most 16 hex digits; sizes past int64 are refused.
func parseChunkSize(line []byte) (int64, string) {
	i := 0
	var n uint64
	for ; i < len(line); i++ {
		d, ok := unhex(line[i])
		if !ok {
			break
		}
		if i == 16 {
			return 0, "chunk size longer than 16 hex digits"
		}
		n = n<<4 | uint64(d)
	}
	if i == 0 {
		return 0, "chunk-size line does not start with a hex digit"
	}
	if n > 1<<63-1 {
		return 0, "chunk size overflows"
	}
	rest := line[i:]
	for len(rest) > 0 && isOWS(rest[0]) {
		rest = rest[1:]
	}
	if len(rest) > 0 && rest[0] != ';' {
		return 0, "invalid byte after the chunk size"
	}
	if invalidValueByte(rest) >= 0 {
		return 0, "control byte in a chunk extension"
	}
	return int64(n), ""
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// readFramingLine reads one line of chunked framing, terminator included,
// of at most limit bytes; it returns nil without error when the line is
// longer. The line is valid until the next read.
func (r *BodyReader) readFramingLine(limit int, where string) ([]byte, error) {
	r.line = r.line[:0]
	for {
		frag, err := r.br.ReadSlice('\n')
		if len(r.line)+len(frag) > limit {
			return nil, nil
		}
		if err == bufio.ErrBufferFull {
			// The line is longer than br's buffer: gather it.
			r.line = append(r.line, frag...)
			continue
		}
		if err != nil {
			return nil, r.framingReadError(err, where)
		}
		if len(r.line) == 0 {
			return frag, nil
		}
		r.line = append(r.line, frag...)
		return r.line, nil
	}
}

// readTrailerLine reads one line of trailer-section = *( field-line CRLF )
// (RFC 9112 §7.1.2); the empty line ends the body. Chunked framing, trailers
// included, takes CRLF only (RFC 9112 §7.1 erratum 7633): a bare LF inside a
// body is where net/http and others have disagreed about its end.
func (r *BodyReader) readTrailerLine() error {
	line, err := r.readFramingLine(maxTrailerSection-r.trailerN, "in the trailer section")
	if err != nil {
		return err
	}
	if line == nil {
		return r.broken(nil, "trailer section exceeds the limit of %d bytes", maxTrailerSection)
	}
	r.trailerN += len(line)
	content, problem := lineContent(line, false)
	if problem != "" {
		return r.broken(nil, "%s in the trailer section", problem)
	}
	if len(content) == 0 {
		r.state = chunkDone
		return nil
	}
	sp, problem := parseFieldLine(content, false)
	if problem != "" {
		return r.broken(nil, "malformed trailer: %s", problem)
	}
	s := string(content)
	r.trailers = append(r.trailers, Field{Name: s[:sp.nameEnd], Value: s[sp.valStart:sp.valEnd]})
	return nil
}
