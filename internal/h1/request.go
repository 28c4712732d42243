package h1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/portico-proxy/portico/internal/failure"
)

// RequestHead is one client request's request line and header section
// (RFC 9112 §3, §5), with the framing and connection facts read from it.
type RequestHead struct {
	Method string
	// Target is the request-target exactly as received.
	Target string
	// Path and RawQuery split the target at its first '?'. Path stays
	// percent-encoded. For an absolute-form target they are its path and
	// query, Path "/" when the path is empty (RFC 9112 §3.2.1); for the
	// asterisk-form Path is "*"; for the authority-form of CONNECT both are
	// empty.
	Path, RawQuery string
	// Major and Minor are the version: 1.0 or 1.1. A request of HTTP/1.2 to
	// 1.9 reads as 1.1 (RFC 9110 §2.5).
	Major, Minor int
	// Host is the Host field's value, or the authority of an absolute-form
	// or authority-form target, which wins over the field (RFC 9112 §3.2.2,
	// §3.3). It may be empty:
	// an HTTP/1.0 request need not name a host, and an empty Host field is
	// valid (RFC 9112 §3.2).
	Host string
	// Fields are the field lines in order, repeated ones and Host included.
	Fields []Field
	// ContentLength is the Content-Length value, or -1 when not given.
	ContentLength int64
	// Chunked is true when the body is chunked; chunked is then the only
	// transfer coding.
	Chunked bool
	// Close is true when the connection ends after this request's response:
	// Connection: close, or HTTP/1.0 without keep-alive (RFC 9112 §9.3).
	Close bool
	// ExpectContinue is true for Expect: 100-continue in an HTTP/1.1
	// request; HTTP/1.0 ones are ignored (RFC 9110 §10.1.1).
	ExpectContinue bool
	// Upgrade is the first Upgrade field's value when Connection lists
	// "upgrade" in an HTTP/1.1 request (RFC 9110 §7.8), else empty.
	Upgrade string

	raw   []byte // the head's bytes, reused across reads
	spans []fieldSpan
}

// Framing returns how the body after this request head is delimited
// (RFC 9112 §6.3): Chunked, Length when Content-Length is given (0
// included), else NoBody. A request body is never delimited by the end of
// the connection.
func (h *RequestHead) Framing() Framing {
	switch {
	case h.Chunked:
		return Chunked
	case h.ContentLength >= 0:
		return Length
	}
	return NoBody
}

// ErrHTTP2Preface is returned by ReadRequestHead when the connection opens
// with the HTTP/2 connection preface ("PRI * HTTP/2.0", RFC 9113 §3.4): the
// client speaks HTTP/2 with prior knowledge.
var ErrHTTP2Preface = errors.New("h1: connection starts with the HTTP/2 preface")

// http2PrefaceLine is the first line of the HTTP/2 connection preface.
const http2PrefaceLine = "PRI * HTTP/2.0\r\n"

// maxLeadingEmptyLines is how many empty lines may precede a request line.
// RFC 9112 §2.2 asks a server to ignore at least one: some clients send a
// CRLF after a POST body. A stream of them is not a client's mistake.
const maxLeadingEmptyLines = 4

// ReadRequestHead reads one request head from br into h, reusing h's
// storage: h's strings share one allocation and stay valid until the next
// ReadRequestHead into h, which also overwrites h.Fields.
//
// It returns:
//   - io.EOF, unwrapped, when the connection ends before a request begins
//     (before any byte, or after empty lines only): the normal end of a
//     keep-alive connection, to be closed quietly;
//   - ErrHTTP2Preface when the connection opens with the HTTP/2 preface; it
//     then consumes nothing, so br still holds the whole preface for an
//     HTTP/2 server;
//   - errors of br (a read timeout, a reset) wrapped and unclassified, so
//     that an idle timeout can be told from a broken request;
//   - for a request that is malformed, ambiguous or too large, a
//     *failure.Error of class http_request_error in PhaseReadRequest, whose
//     StatusCode is the answer: 431 for a header section or field line over
//     lim (Details names the field), 414 for a request line over
//     lim.HeaderLine, 501 for a transfer coding other than chunked applied
//     before chunked (RFC 9112 §6.1), 505 for an HTTP major version other
//     than 1, and 400 for everything else, including a head cut short.
//
// After any request error the connection must be closed once the error is
// answered: the request's framing is unknown or untrusted, so nothing after
// it on the connection can be read as a request (RFC 9112 §6.3, §11.2).
//
// A line may end in a bare LF as well as CRLF (RFC 9112 §2.2): portico
// writes every head it forwards afresh with CRLF, and a neighbour that reads
// a bare LF otherwise finds it in a field value, where it is invalid.
func ReadRequestHead(br *bufio.Reader, lim Limits, h *RequestHead) error {
	*h = RequestHead{Fields: h.Fields[:0], raw: h.raw[:0], spans: h.spans[:0], ContentLength: -1}
	if _, err := br.Peek(1); err != nil {
		if isEOF(err) {
			return io.EOF
		}
		return readError("request head", err)
	}
	if isHTTP2Preface(br) {
		return ErrHTTP2Preface
	}
	// One allocation holds every string of the head. The strings must not
	// alias br's buffer or h.raw, which later reads overwrite while callers
	// may still hold the previous head's fields.
	line, n, ok := h.parseBuffered(br, lim)
	var s string
	if ok {
		buf, _ := br.Peek(n)
		s = string(buf)
		br.Discard(n)
	} else {
		h.spans = h.spans[:0]
		var err error
		if line, err = h.readLines(br, lim); err != nil {
			return err
		}
		s = string(h.raw)
	}
	h.Method = s[line.methodStart:line.methodEnd]
	h.Target = s[line.methodEnd+1 : line.targetEnd]
	for _, sp := range h.spans {
		h.Fields = append(h.Fields, Field{Name: s[sp.lineStart:sp.nameEnd], Value: s[sp.valStart:sp.valEnd]})
	}
	if err := h.frame(); err != nil {
		return err
	}
	return h.parseTarget()
}

// parseBuffered parses a head that lies whole in br's buffer, in place,
// and returns its length without consuming it. It only accepts: on
// anything unusual (a head not yet whole, a limit reached, leading empty
// lines, any invalid byte) it returns false, and readLines reads the head
// again line by line and says what is wrong. It accepts exactly what
// readLines accepts, in one pass over each field line that finds its end
// and checks its bytes at once.
func (h *RequestHead) parseBuffered(br *bufio.Reader, lim Limits) (rl requestLine, n int, ok bool) {
	buf, _ := br.Peek(br.Buffered())
	lineLimit := lim.line()
	buf = buf[:min(len(buf), lim.section())]
	end := bytes.IndexByte(buf[:min(len(buf), lineLimit)], '\n')
	if end <= 0 {
		return rl, 0, false
	}
	line := buf[:end]
	if line[end-1] == '\r' {
		line = line[:end-1]
	}
	methodEnd, targetEnd, err := h.parseRequestLine(line)
	if err != nil {
		return rl, 0, false
	}
	rl = requestLine{methodEnd: methodEnd, targetEnd: targetEnd}
	for p := end + 1; p < len(buf); {
		switch buf[p] {
		case '\n':
			return rl, p + 1, true
		case '\r':
			if p+1 < len(buf) && buf[p+1] == '\n' {
				return rl, p + 2, true
			}
			return rl, 0, false
		}
		sp, next, ok := scanFieldLine(buf, p)
		if !ok || next-p > lineLimit {
			return rl, 0, false
		}
		h.spans = append(h.spans, sp)
		p = next
	}
	return rl, 0, false
}

// scanFieldLine checks the field line at buf[p:] and returns its span and
// where the next line starts; false when the line is invalid or not whole.
func scanFieldLine(buf []byte, p int) (sp fieldSpan, next int, ok bool) {
	i := p
	for i < len(buf) && tchar[buf[i]] {
		i++
	}
	if i == p || i == len(buf) || buf[i] != ':' {
		return sp, 0, false
	}
	sp.lineStart, sp.nameEnd = p, i
	i++
	for i < len(buf) && isOWS(buf[i]) {
		i++
	}
	sp.valStart = i
	for i < len(buf) && vchar[buf[i]] {
		i++
	}
	switch {
	case i == len(buf):
		return sp, 0, false
	case buf[i] == '\n':
		next = i + 1
	case buf[i] == '\r' && i+1 < len(buf) && buf[i+1] == '\n':
		next = i + 2
	default:
		return sp, 0, false
	}
	for i > sp.valStart && isOWS(buf[i-1]) {
		i--
	}
	sp.valEnd = i
	return sp, next, true
}

// isHTTP2Preface reports whether br starts with the preface's first line.
// Peeking that many bytes cannot stall a complete HTTP/1 request starting
// with 'P': the shortest, "PUT / HTTP/1.0\n\n", is as long.
func isHTTP2Preface(br *bufio.Reader) bool {
	first, _ := br.Peek(1)
	if first[0] != 'P' {
		return false
	}
	b, _ := br.Peek(len(http2PrefaceLine))
	return string(b) == http2PrefaceLine
}

// requestLine locates the method and target in h.raw; the target ends
// where its SP starts.
type requestLine struct{ methodStart, methodEnd, targetEnd int }

// requestError is a malformed, ambiguous or oversized request, answered with
// status.
func requestError(status int, format string, args ...any) error {
	return &failure.Error{
		Class:      failure.HTTPRequestError,
		Phase:      failure.PhaseReadRequest,
		StatusCode: status,
		Details:    fmt.Sprintf(format, args...),
	}
}

func badRequest(format string, args ...any) error {
	return requestError(http.StatusBadRequest, format, args...)
}

// readLines reads the head line by line into h.raw, validating each line as
// it arrives, and returns where the request line's parts lie.
func (h *RequestHead) readLines(br *bufio.Reader, lim Limits) (requestLine, error) {
	lineLimit, sectionLimit := lim.line(), lim.section()
	rl, err := h.readRequestLine(br, lineLimit, sectionLimit)
	if err != nil {
		return rl, err
	}
	for lineNo := 1; ; lineNo++ {
		start := len(h.raw)
		if err := h.readLine(br, lineNo, lineLimit, sectionLimit); err != nil {
			return rl, err
		}
		line, problem := lineContent(h.raw[start:], true)
		if problem != "" {
			return rl, badRequest("%s in field line %d", problem, lineNo)
		}
		if len(line) == 0 {
			return rl, nil
		}
		sp, problem := parseFieldLine(line, lineNo == 1)
		if problem != "" {
			return rl, badRequest("%s", problem)
		}
		h.spans = append(h.spans, fieldSpan{
			lineStart: start,
			nameEnd:   start + sp.nameEnd,
			valStart:  start + sp.valStart,
			valEnd:    start + sp.valEnd,
		})
	}
}

// readRequestLine reads and parses the request line, after at most
// maxLeadingEmptyLines empty lines.
func (h *RequestHead) readRequestLine(br *bufio.Reader, lineLimit, sectionLimit int) (requestLine, error) {
	for emptyLines := 0; ; {
		if err := checkRequestStart(br); err != nil {
			return requestLine{}, err
		}
		start := len(h.raw)
		if err := h.readLine(br, 0, lineLimit, sectionLimit); err != nil {
			return requestLine{}, err
		}
		line, problem := lineContent(h.raw[start:], true)
		if problem != "" {
			return requestLine{}, badRequest("%s in the request line", problem)
		}
		if len(line) == 0 {
			if emptyLines++; emptyLines > maxLeadingEmptyLines {
				return requestLine{}, badRequest("more than %d empty lines before the request line", maxLeadingEmptyLines)
			}
			continue
		}
		methodEnd, targetEnd, err := h.parseRequestLine(line)
		if err != nil {
			return requestLine{}, err
		}
		return requestLine{methodStart: start, methodEnd: start + methodEnd, targetEnd: start + targetEnd}, nil
	}
}

// checkRequestStart fails fast, from the bytes already buffered, on a
// connection whose first byte cannot start a request line, instead of
// waiting for a line end that may never come.
func checkRequestStart(br *bufio.Reader) error {
	got, err := br.Peek(1)
	if err != nil || tchar[got[0]] || got[0] == '\r' || got[0] == '\n' {
		return nil
	}
	got, _ = br.Peek(min(br.Buffered(), 2))
	if len(got) == 2 && got[0] == 0x16 && got[1] == 0x03 {
		return badRequest("request is a TLS handshake: the client expects TLS")
	}
	return badRequest("request line starts with byte 0x%02x, not a method", got[0])
}

// readLine appends one line, terminator included, to h.raw.
func (h *RequestHead) readLine(br *bufio.Reader, lineNo, lineLimit, sectionLimit int) error {
	start := len(h.raw)
	raw, hit, err := appendHeadLine(br, h.raw, lineLimit, sectionLimit)
	h.raw = raw
	switch {
	case err != nil && isEOF(err) && lineNo == 0 && onlyEmptyLines(h.raw):
		// Nothing but empty lines before the connection ended: no request
		// began.
		return io.EOF
	case err != nil && isEOF(err):
		return &failure.Error{
			Class:      failure.HTTPRequestError,
			Phase:      failure.PhaseReadRequest,
			StatusCode: http.StatusBadRequest,
			Details:    fmt.Sprintf("request head truncated after %d bytes", len(h.raw)),
			Err:        io.ErrUnexpectedEOF,
		}
	case err != nil:
		return readError("request head", err)
	case hit == lineLimitHit:
		return requestLineTooLong(h.raw[start:], lineNo, lineLimit)
	case hit == sectionLimitHit:
		return requestError(http.StatusRequestHeaderFieldsTooLarge, "request header section exceeds the limit of %d bytes", sectionLimit)
	}
	return nil
}

// onlyEmptyLines reports whether b holds nothing but line terminators.
func onlyEmptyLines(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// requestLineTooLong classifies a line over the line limit: a request line
// whose method is read has a target too long, 414 (RFC 9112 §3); a field
// line with a name is 431 naming the field (RFC 6585 §5).
func requestLineTooLong(prefix []byte, lineNo, limit int) error {
	if lineNo == 0 {
		method, _, found := bytes.Cut(prefix, []byte(" "))
		if !found || !isToken(method) {
			return badRequest("request line exceeds the limit of %d bytes before a valid method ends", limit)
		}
		return requestError(http.StatusRequestURITooLong, "request line exceeds the limit of %d bytes", limit)
	}
	name, _, found := bytes.Cut(prefix, []byte(":"))
	if !found || !isToken(name) {
		return badRequest("field line exceeds the limit of %d bytes before a valid field name ends", limit)
	}
	return requestError(http.StatusRequestHeaderFieldsTooLarge, "request field %q exceeds the limit of %d bytes", lowerASCII(name), limit)
}

// parseRequestLine parses
//
//	request-line = method SP request-target SP HTTP-version
//
// (RFC 9112 §3) with exactly one SP between the parts, as RFC 9112 §3
// allows a server to demand, and returns where the method and target end.
// The target may hold no whitespace or controls; bytes above 0x7f pass,
// since clients send raw UTF-8 in paths and such bytes cannot end the line.
func (h *RequestHead) parseRequestLine(line []byte) (methodEnd, targetEnd int, err error) {
	methodEnd = bytes.IndexByte(line, ' ')
	if methodEnd <= 0 || !isToken(line[:methodEnd]) {
		return 0, 0, badRequest("malformed request line %q: no valid method", clip(line, 64))
	}
	rest := line[methodEnd+1:]
	sp := bytes.IndexByte(rest, ' ')
	if sp <= 0 {
		return 0, 0, badRequest("malformed request line %q: no request target and version", clip(line, 64))
	}
	for _, c := range rest[:sp] {
		if c < ' ' || c == 0x7f {
			return 0, 0, badRequest("invalid byte 0x%02x in the request target", c)
		}
	}
	if err := h.parseVersion(rest[sp+1:]); err != nil {
		return 0, 0, err
	}
	return methodEnd, methodEnd + 1 + sp, nil
}

// parseVersion parses HTTP-version = HTTP-name "/" DIGIT "." DIGIT
// (RFC 9112 §2.3).
func (h *RequestHead) parseVersion(v []byte) error {
	if len(v) != len("HTTP/1.1") || string(v[:5]) != "HTTP/" || !isDigit(v[5]) || v[6] != '.' || !isDigit(v[7]) {
		return badRequest("malformed HTTP version %q in the request line", clip(v, 16))
	}
	h.Major, h.Minor = int(v[5]-'0'), int(v[7]-'0')
	if h.Major != 1 {
		// RFC 9110 §15.6.6: the major version is not supported. HTTP/2 with
		// prior knowledge was caught before, by its preface.
		return requestError(http.StatusHTTPVersionNotSupported, "unsupported HTTP version %q", v)
	}
	// RFC 9110 §2.5: process a higher minor version as the highest one
	// implemented.
	h.Minor = min(h.Minor, 1)
	return nil
}
