package h1

import (
	"bufio"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/portico-proxy/portico/internal/failure"
)

// WriteResponseHead writes a response head to a client: the status line
// "HTTP/1.1 <status> <reason>", the fields in order, the framing field,
// Connection: close when close is set, and the empty line. An empty reason
// means the standard one for status, or none for an unregistered code (the
// SP before it stays, RFC 9112 §4); an upstream's own reason passes as it
// is.
//
// The framing is the codec's, never the fields': chunked writes
// Transfer-Encoding: chunked (write the body through a ChunkedWriter), a
// contentLength of 0 or more writes Content-Length, and neither writes no
// framing field, for a body delimited by closing the connection or a
// response without content. Content-Length and Transfer-Encoding among
// fields are skipped, since a stale copy beside the real framing is the
// disagreement response smuggling needs. 1xx and 204 responses get no
// framing field whatever the arguments (RFC 9110 §8.6, RFC 9112 §6.1). To an
// HTTP/1.0 client, chunked must not be used (RFC 9112 §7): that choice is
// the caller's, who knows the request.
//
// Nothing is written unless the whole head is valid: status 100 to 999,
// reason and values free of CR, LF, NUL and other controls, field names
// tokens, not both chunked and a length. An invalid head is a
// proxy_internal_error, since inbound parsing already refused such fields
// from upstreams. Errors of w are returned wrapped, unclassified.
func WriteResponseHead(w *bufio.Writer, status int, reason string, fields []Field, contentLength int64, chunked, close bool) error {
	if err := checkStatusLine(status, reason, contentLength, chunked); err != nil {
		return err
	}
	for _, f := range fields {
		if err := checkResponseField(f.Name, f.Value); err != nil {
			return err
		}
	}
	writeStatusLine(w, status, reason)
	for _, f := range fields {
		if !responseFramingField(f.Name) {
			writeField(w, f.Name, f.Value)
		}
	}
	return finishResponseHead(w, status, contentLength, chunked, close)
}

// WriteResponseHeadFromHeader is WriteResponseHead with the fields of an
// http.Header, written in sorted order so that the same header always
// reads the same on the wire.
func WriteResponseHeadFromHeader(w *bufio.Writer, status int, reason string, h http.Header, contentLength int64, chunked, close bool) error {
	if err := checkStatusLine(status, reason, contentLength, chunked); err != nil {
		return err
	}
	for name, values := range h {
		for _, v := range values {
			if err := checkResponseField(name, v); err != nil {
				return err
			}
		}
	}
	keysp := keyPool.Get().(*[]string)
	keys := (*keysp)[:0]
	for name := range h {
		if !responseFramingField(name) {
			keys = append(keys, name)
		}
	}
	slices.Sort(keys)
	writeStatusLine(w, status, reason)
	for _, name := range keys {
		for _, v := range h[name] {
			writeField(w, name, v)
		}
	}
	clear(keys)
	*keysp = keys[:0]
	keyPool.Put(keysp)
	return finishResponseHead(w, status, contentLength, chunked, close)
}

// invalidResponse is a response head h1 refuses to write: portico's own
// mistake.
func invalidResponse(format string, args ...any) error {
	return failure.Newf(failure.ProxyInternalError, failure.PhaseInternal, fmt.Sprintf(format, args...))
}

func checkStatusLine(status int, reason string, contentLength int64, chunked bool) error {
	if status < 100 || status > 999 {
		return invalidResponse("status code %d is not three digits", status)
	}
	if i := invalidValueByte(reason); i >= 0 {
		return invalidResponse("invalid byte 0x%02x in the reason phrase", reason[i])
	}
	if chunked && contentLength >= 0 {
		return invalidResponse("response framed both chunked and by a Content-Length of %d", contentLength)
	}
	return nil
}

func checkResponseField(name, value string) error {
	if !isToken(name) {
		return invalidResponse("invalid response field name %q", clip(name, 40))
	}
	if i := invalidValueByte(value); i >= 0 {
		return invalidResponse("invalid byte 0x%02x in the value of response field %q", value[i], clip(name, 40))
	}
	return nil
}

func responseFramingField(name string) bool {
	return equalFoldASCII(name, "content-length") || equalFoldASCII(name, "transfer-encoding")
}

func writeStatusLine(w *bufio.Writer, status int, reason string) {
	if reason == "" {
		reason = http.StatusText(status)
	}
	w.WriteString("HTTP/1.1 ")
	w.WriteByte(byte('0' + status/100))
	w.WriteByte(byte('0' + status/10%10))
	w.WriteByte(byte('0' + status%10))
	w.WriteByte(' ')
	w.WriteString(reason)
	w.WriteString("\r\n")
}

// finishResponseHead writes the framing and connection fields and the empty
// line; a bufio.Writer's error is sticky, so the last write reports the
// first failure.
func finishResponseHead(w *bufio.Writer, status int, contentLength int64, chunked, close bool) error {
	if status/100 != 1 && status != http.StatusNoContent {
		switch {
		case chunked:
			w.WriteString("Transfer-Encoding: chunked\r\n")
		case contentLength >= 0:
			w.WriteString("Content-Length: ")
			w.Write(strconv.AppendInt(w.AvailableBuffer(), contentLength, 10))
			w.WriteString("\r\n")
		}
	}
	if close {
		w.WriteString("Connection: close\r\n")
	}
	if _, err := w.WriteString("\r\n"); err != nil {
		return fmt.Errorf("h1: writing response head: %w", err)
	}
	return nil
}
