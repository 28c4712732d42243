package h1

import (
	"bufio"
	"bytes"
	"fmt"

	"github.com/portico-proxy/portico/internal/failure"
)

// ResponseHead is one response's status line and header section
// (RFC 9112 §4, §5), with the framing facts read from it.
type ResponseHead struct {
	Major, Minor int // 1.0 or 1.1
	Status       int // 100 to 999; unregistered codes pass intact
	Reason       string
	// Fields are the field lines in order, repeated ones included.
	Fields []Field
	// ContentLength is the Content-Length value, or -1 when not given.
	ContentLength int64
	// Chunked is true when the Transfer-Encoding is chunked.
	Chunked bool
	// Close is true when the upstream will close the connection after this
	// response: Connection: close, or HTTP/1.0 without keep-alive
	// (RFC 9112 §9.3).
	Close bool

	raw   []byte // the head's bytes, reused across reads
	spans []fieldSpan
}

// fieldSpan locates a field line's name and value, as offsets into a line
// or, once stored in ResponseHead.spans, into the head's bytes.
type fieldSpan struct{ nameEnd, valStart, valEnd, lineStart int }

// ReadResponseHead reads one response head from br into h, reusing h's
// storage: h.Fields is overwritten by the next read, but its strings, which
// share one allocation per head, stay valid.
//
// 1xx heads are returned like any other (RFC 9110 §15.2): the caller
// forwards or drops them and reads again.
//
// Errors:
//   - the connection ends before the first byte: connection_terminated,
//     caused by ErrNoResponse and the reader's error;
//   - it ends after some bytes but before the head's end: http_protocol_error
//     "response head truncated". The upstream did start to answer, so this is
//     not the stale-connection case connection_terminated singles out for a
//     retry, and what arrived is not a valid response;
//   - a head larger than lim.HeaderSection:
//     http_response_header_section_size with header-section-size set to the
//     limit, since reading stops at the first byte past it;
//   - a line larger than lim.HeaderLine: http_response_header_size with
//     header-name set to the lowercased field name (a status line that long
//     is an http_protocol_error);
//   - an unsupported transfer coding: http_response_transfer_coding with
//     coding set to it;
//   - any other syntax or framing fault: http_protocol_error;
//   - any other error of br: returned wrapped, unclassified.
func ReadResponseHead(br *bufio.Reader, lim Limits, h *ResponseHead) error {
	*h = ResponseHead{Fields: h.Fields[:0], raw: h.raw[:0], spans: h.spans[:0], ContentLength: -1}
	if _, err := br.Peek(1); err != nil {
		if isEOF(err) {
			return &failure.Error{
				Class:   failure.ConnectionTerminated,
				Phase:   failure.PhaseReadHead,
				Details: ErrNoResponse.Error(),
				Err:     fmt.Errorf("%w: %w", ErrNoResponse, err),
			}
		}
		return readError("response head", err)
	}
	if err := checkHTTPName(br); err != nil {
		return err
	}
	// One allocation holds every string of the head. The strings must not
	// alias a buffer that the next read overwrites while callers may still
	// hold the previous head's fields.
	if reasonStart, reasonEnd, n, ok := h.parseBuffered(br, lim); ok {
		buf, _ := br.Peek(n)
		h.setFields(string(buf), reasonStart, reasonEnd)
		br.Discard(n)
		return h.frame()
	}
	h.spans = h.spans[:0]
	reasonStart, reasonEnd, err := h.readLines(br, lim)
	if err != nil {
		return err
	}
	h.setFields(string(h.raw), reasonStart, reasonEnd)
	return h.frame()
}

// setFields points Reason and Fields into s, the head's bytes.
func (h *ResponseHead) setFields(s string, reasonStart, reasonEnd int) {
	h.Reason = s[reasonStart:reasonEnd]
	for _, sp := range h.spans {
		h.Fields = append(h.Fields, Field{Name: s[sp.lineStart:sp.nameEnd], Value: s[sp.valStart:sp.valEnd]})
	}
}

// parseBuffered parses a head that lies whole in br's buffer, in place,
// and returns where the reason phrase lies and the head's length, without
// consuming it. It only accepts: on anything unusual (a head not yet
// whole, a limit reached, any invalid byte) it returns false, and
// readLines reads the head again line by line and says what is wrong. It
// accepts exactly what readLines accepts.
func (h *ResponseHead) parseBuffered(br *bufio.Reader, lim Limits) (reasonStart, reasonEnd, n int, ok bool) {
	buf, _ := br.Peek(br.Buffered())
	lineLimit := lim.line()
	buf = buf[:min(len(buf), lim.section())]
	end := bytes.IndexByte(buf[:min(len(buf), lineLimit)], '\n')
	if end <= 0 {
		return 0, 0, 0, false
	}
	line := buf[:end]
	if line[end-1] == '\r' {
		line = line[:end-1]
	}
	if bytes.IndexByte(line, '\r') >= 0 {
		return 0, 0, 0, false
	}
	reasonStart, reasonEnd, err := h.parseStatusLine(line)
	if err != nil {
		return 0, 0, 0, false
	}
	for p := end + 1; p < len(buf); {
		switch buf[p] {
		case '\n':
			return reasonStart, reasonEnd, p + 1, true
		case '\r':
			if p+1 < len(buf) && buf[p+1] == '\n' {
				return reasonStart, reasonEnd, p + 2, true
			}
			return 0, 0, 0, false
		}
		sp, next, ok := scanFieldLine(buf, p)
		if !ok || next-p > lineLimit {
			return 0, 0, 0, false
		}
		h.spans = append(h.spans, sp)
		p = next
	}
	return 0, 0, 0, false
}

// checkHTTPName fails fast on an answer that is not HTTP/1.x at all, from
// the bytes already buffered, instead of waiting for a line end that may
// never come.
func checkHTTPName(br *bufio.Reader) error {
	const name = "HTTP/"
	got, _ := br.Peek(min(br.Buffered(), len(name)))
	if bytes.HasPrefix([]byte(name), got) {
		return nil
	}
	if len(got) >= 2 && (got[0] == 0x15 || got[0] == 0x16) && got[1] == 0x03 {
		return headError("response is a TLS record: the upstream expects TLS")
	}
	return headError("response does not start with %q (HTTP/0.9 or not HTTP): %q", name, got)
}

// readLines reads the head line by line into h.raw, validating each line as
// it arrives, and returns where the reason phrase lies.
func (h *ResponseHead) readLines(br *bufio.Reader, lim Limits) (reasonStart, reasonEnd int, err error) {
	lineLimit, sectionLimit := lim.line(), lim.section()
	for lineNo := 0; ; lineNo++ {
		start := len(h.raw)
		if err := h.readLine(br, lineNo, lineLimit, sectionLimit); err != nil {
			return 0, 0, err
		}
		line, problem := lineContent(h.raw[start:], true)
		if problem != "" {
			return 0, 0, headError("%s in line %d of the response head", problem, lineNo+1)
		}
		if lineNo == 0 {
			rs, re, err := h.parseStatusLine(line)
			if err != nil {
				return 0, 0, err
			}
			reasonStart, reasonEnd = start+rs, start+re
			continue
		}
		if len(line) == 0 {
			return reasonStart, reasonEnd, nil
		}
		sp, problem := parseFieldLine(line, lineNo == 1)
		if problem != "" {
			return 0, 0, headError("%s", problem)
		}
		h.spans = append(h.spans, fieldSpan{
			lineStart: start,
			nameEnd:   start + sp.nameEnd,
			valStart:  start + sp.valStart,
			valEnd:    start + sp.valEnd,
		})
	}
}

// readLine appends one line, terminator included, to h.raw.
func (h *ResponseHead) readLine(br *bufio.Reader, lineNo, lineLimit, sectionLimit int) error {
	start := len(h.raw)
	raw, hit, err := appendHeadLine(br, h.raw, lineLimit, sectionLimit)
	h.raw = raw
	switch {
	case err != nil && isEOF(err):
		return &failure.Error{
			Class:   failure.HTTPProtocolError,
			Phase:   failure.PhaseReadHead,
			Details: fmt.Sprintf("response head truncated after %d bytes", len(h.raw)),
			Err:     err,
		}
	case err != nil:
		return readError("response head", err)
	case hit == lineLimitHit:
		return lineTooLong(h.raw[start:], lineNo, lineLimit)
	case hit == sectionLimitHit:
		return &failure.Error{
			Class:   failure.HTTPResponseHeaderSectionSize,
			Phase:   failure.PhaseReadHead,
			Details: fmt.Sprintf("response header section exceeds the limit of %d bytes", sectionLimit),
			Params:  []failure.Param{failure.IntParam("header-section-size", int64(sectionLimit))},
		}
	}
	return nil
}

// limitHit names the limit that stopped a head line, if any.
type limitHit uint8

const (
	withinLimits limitHit = iota
	lineLimitHit
	sectionLimitHit
)

// appendHeadLine appends one line of a head, terminator included, to raw,
// which holds the head so far. It consumes no byte past a limit, so which
// limit fails is a function of the bytes alone, not of how they were split
// into reads; past a limit raw ends with the bytes up to it, for the field
// name. Errors of br are returned as they are, for the caller to classify.
func appendHeadLine(br *bufio.Reader, raw []byte, lineLimit, sectionLimit int) ([]byte, limitHit, error) {
	start := len(raw)
	for {
		if _, err := br.Peek(1); err != nil {
			return raw, withinLimits, err
		}
		buf, _ := br.Peek(br.Buffered())
		lineRoom := lineLimit - (len(raw) - start)
		sectionRoom := sectionLimit - len(raw)
		room := min(lineRoom, sectionRoom)
		if i := bytes.IndexByte(buf[:min(len(buf), room)], '\n'); i >= 0 {
			raw = append(raw, buf[:i+1]...)
			br.Discard(i + 1)
			return raw, withinLimits, nil
		}
		if len(buf) > room {
			raw = append(raw, buf[:room]...)
			br.Discard(room)
			if lineRoom <= sectionRoom {
				return raw, lineLimitHit, nil
			}
			return raw, sectionLimitHit, nil
		}
		raw = append(raw, buf...)
		br.Discard(len(buf))
	}
}

func lineTooLong(prefix []byte, lineNo, limit int) error {
	if lineNo == 0 {
		return headError("status line exceeds the limit of %d bytes", limit)
	}
	name, _, found := bytes.Cut(prefix, []byte(":"))
	if !found || !isToken(name) {
		return headError("field line exceeds the limit of %d bytes before a valid field name ends", limit)
	}
	n := lowerASCII(name)
	return &failure.Error{
		Class:   failure.HTTPResponseHeaderSize,
		Phase:   failure.PhaseReadHead,
		Details: fmt.Sprintf("response field %q exceeds the limit of %d bytes", n, limit),
		Params:  []failure.Param{failure.StringParam("header-name", n)},
	}
}

// lineContent strips the line terminator from a line that ends in LF. A bare
// LF is accepted where lfOK (RFC 9112 §2.2 lets a recipient do so): portico
// writes every head it forwards afresh with CRLF, so accepting it cannot
// create a disagreement downstream. A CR anywhere else is refused: bare CR
// is how one parser's line becomes two in another's.
func lineContent(line []byte, lfOK bool) ([]byte, string) {
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	} else if !lfOK {
		return nil, "line ends in a bare LF"
	}
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, "bare CR"
	}
	return line, ""
}

// parseStatusLine parses
//
//	status-line = HTTP-version SP status-code SP [ reason-phrase ]
//
// (RFC 9112 §4) and returns where the reason phrase lies in line. A line
// that ends right after the status code, without the second SP, is
// accepted too: servers send it, and nothing can be misread from it.
func (h *ResponseHead) parseStatusLine(line []byte) (reasonStart, reasonEnd int, err error) {
	const minLen = len("HTTP/1.1 200")
	if len(line) < minLen || string(line[:5]) != "HTTP/" || !isDigit(line[5]) || line[6] != '.' || !isDigit(line[7]) || line[8] != ' ' {
		return 0, 0, headError("malformed status line %q", clip(line, 64))
	}
	h.Major, h.Minor = int(line[5]-'0'), int(line[7]-'0')
	if h.Major != 1 || h.Minor > 1 {
		return 0, 0, headError("unsupported HTTP version %q", line[:8])
	}
	code := line[9:12]
	if !isDigit(code[0]) || code[0] == '0' || !isDigit(code[1]) || !isDigit(code[2]) || (len(line) > minLen && line[minLen] != ' ') {
		return 0, 0, headError("invalid status code in status line %q", clip(line, 64))
	}
	h.Status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	if len(line) == minLen {
		return minLen, minLen, nil
	}
	reason := line[minLen+1:]
	if i := invalidValueByte(reason); i >= 0 {
		return 0, 0, headError("invalid byte 0x%02x in the reason phrase", reason[i])
	}
	return minLen + 1, len(line), nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseFieldLine parses field-line = field-name ":" OWS field-value OWS
// (RFC 9112 §5) and reports the first problem, for the caller to classify.
func parseFieldLine(line []byte, first bool) (fieldSpan, string) {
	colon := 0
	for colon < len(line) && tchar[line[colon]] {
		colon++
	}
	if colon == 0 || colon == len(line) || line[colon] != ':' {
		return fieldSpan{}, fieldNameProblem(line, first)
	}
	vs, ve := colon+1, len(line)
	for vs < ve && isOWS(line[vs]) {
		vs++
	}
	for ve > vs && isOWS(line[ve-1]) {
		ve--
	}
	if i := invalidValueByte(line[vs:ve]); i >= 0 {
		return fieldSpan{}, fmt.Sprintf("invalid byte 0x%02x in the value of field %q", line[vs+i], clip(line[:colon], 40))
	}
	return fieldSpan{nameEnd: colon, valStart: vs, valEnd: ve}, ""
}

// fieldNameProblem says what is wrong with a field line that does not
// start with a token and a colon.
func fieldNameProblem(line []byte, first bool) string {
	if len(line) > 0 && isOWS(line[0]) {
		if first {
			// RFC 9112 §2.2: whitespace before the first field line.
			return "whitespace before the first field line"
		}
		// RFC 9112 §5.2: a proxy must reject or replace obs-fold.
		return "obsolete line folding (obs-fold)"
	}
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return fmt.Sprintf("field line without a colon: %q", clip(line, 40))
	}
	name := line[:colon]
	if colon == 0 {
		return "empty field name"
	}
	if isOWS(name[len(name)-1]) {
		// RFC 9112 §5.1: never strip it; a neighbour may read the name
		// differently.
		return fmt.Sprintf("whitespace between field name %q and colon", clip(bytes.TrimRight(name, " \t"), 40))
	}
	for _, c := range name {
		if !tchar[c] {
			return fmt.Sprintf("invalid byte 0x%02x in field name %q", c, clip(name, 40))
		}
	}
	return fmt.Sprintf("malformed field line %q", clip(line, 40))
}
