package h1

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
)

// WriteRequestHead writes a request head to w: the request line with
// "HTTP/1.1", Host (when host is not empty) as the first field as RFC 9112
// §3.2 asks, the framing fields, h's fields in sorted order, and the empty
// line.
//
// The framing is the codec's, never the caller's: contentLength -1 writes
// Transfer-Encoding: chunked (write the body through a ChunkedWriter), a
// positive one Content-Length, and 0 writes Content-Length: 0 only for
// methods that expect content (POST, PUT, PATCH), as RFC 9110 §8.6 advises.
// So h's own Host, Content-Length and Transfer-Encoding fields are skipped:
// a stale copy of one, forwarded beside the real framing, is exactly the
// disagreement request smuggling needs. Nothing else is skipped; removing
// hop-by-hop fields is the caller's policy.
//
// Nothing is written unless the whole head is valid: method a token, target
// free of whitespace and controls, field names tokens, values free of CR, LF,
// NUL and other controls. An invalid head is a proxy_internal_error, since
// inbound parsing already refused such requests from clients. Errors of w
// are returned wrapped, unclassified.
func WriteRequestHead(w *bufio.Writer, method, target, host string, h http.Header, contentLength int64) error {
	return writeRequestHead(w, method, target, host, h, nil, nil, contentLength, true)
}

// FieldFilter says which fields of a header a forwarded head leaves out.
type FieldFilter interface {
	// Drop reports whether the field with the canonical name is left out.
	Drop(name string) bool
}

// WriteForwardedRequestHead writes a request head like WriteRequestHead
// from a client's header as it is: the fields drop names are left out,
// extra fields follow the rest, and the fields keep the map's order rather
// than a sorted one. A proxy forwards this way without copying the header.
func WriteForwardedRequestHead(w *bufio.Writer, method, target, host string, h http.Header, drop FieldFilter, extra []Field, contentLength int64) error {
	return writeRequestHead(w, method, target, host, h, drop, extra, contentLength, false)
}

func writeRequestHead(w *bufio.Writer, method, target, host string, h http.Header, drop FieldFilter, extra []Field, contentLength int64, sorted bool) error {
	if err := checkRequestLine(method, target); err != nil {
		return err
	}
	if host != "" {
		if err := checkField("Host", host); err != nil {
			return err
		}
	}
	keep := func(name string) bool {
		return !framingField(name) && (drop == nil || !drop.Drop(name))
	}
	for name, values := range h {
		if !keep(name) {
			continue
		}
		for _, v := range values {
			if err := checkField(name, v); err != nil {
				return err
			}
		}
	}
	for _, f := range extra {
		if err := checkField(f.Name, f.Value); err != nil {
			return err
		}
	}

	writeRequestLine(w, method, target)
	if host != "" {
		writeField(w, "Host", host)
	}
	switch {
	case contentLength < 0:
		w.WriteString("Transfer-Encoding: chunked\r\n")
	case contentLength > 0 || expectsContent(method):
		w.WriteString("Content-Length: ")
		// Formatting into the writer's own free space allocates nothing;
		// a local array would escape through Write.
		w.Write(strconv.AppendInt(w.AvailableBuffer(), contentLength, 10))
		w.WriteString("\r\n")
	}
	if sorted {
		keysp := keyPool.Get().(*[]string)
		keys := (*keysp)[:0]
		for name := range h {
			if keep(name) {
				keys = append(keys, name)
			}
		}
		slices.Sort(keys)
		for _, name := range keys {
			for _, v := range h[name] {
				writeField(w, name, v)
			}
		}
		clear(keys)
		*keysp = keys[:0]
		keyPool.Put(keysp)
	} else {
		for name, values := range h {
			if keep(name) {
				for _, v := range values {
					writeField(w, name, v)
				}
			}
		}
	}
	for _, f := range extra {
		writeField(w, f.Name, f.Value)
	}
	return finishHead(w)
}

// keyPool keeps WriteRequestHead's sorting free of allocation.
var keyPool = sync.Pool{New: func() any { return new([]string) }}

func framingField(name string) bool {
	return equalFoldASCII(name, "host") || equalFoldASCII(name, "content-length") || equalFoldASCII(name, "transfer-encoding")
}

func expectsContent(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
}

func checkRequestLine(method, target string) error {
	if !isToken(method) {
		return invalidOutgoing("invalid request method %q", clip(method, 40))
	}
	if target == "" {
		return invalidOutgoing("empty request target")
	}
	// Bytes above 0x7f pass: clients send raw UTF-8 in paths, and they
	// cannot end the request line.
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= ' ' || c == 0x7f {
			return invalidOutgoing("invalid byte 0x%02x in the request target", c)
		}
	}
	return nil
}

func checkField(name, value string) error {
	if !isToken(name) {
		return invalidOutgoing("invalid field name %q", clip(name, 40))
	}
	if i := invalidValueByte(value); i >= 0 {
		return invalidOutgoing("invalid byte 0x%02x in the value of field %q", value[i], clip(name, 40))
	}
	return nil
}

func writeRequestLine(w *bufio.Writer, method, target string) {
	w.WriteString(method)
	w.WriteByte(' ')
	w.WriteString(target)
	w.WriteString(" HTTP/1.1\r\n")
}

// writeField writes the field line "name: value", in the common case as
// one write into the writer's free space rather than four.
func writeField(w *bufio.Writer, name, value string) {
	if len(name)+len(value)+4 > w.Available() {
		w.WriteString(name)
		w.WriteString(": ")
		w.WriteString(value)
		w.WriteString("\r\n")
		return
	}
	b := w.AvailableBuffer()
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	b = append(b, "\r\n"...)
	w.Write(b)
}

// finishHead writes the empty line; a bufio.Writer's error is sticky, so
// the last write reports the first failure.
func finishHead(w *bufio.Writer) error {
	if _, err := w.WriteString("\r\n"); err != nil {
		return fmt.Errorf("h1: writing request head: %w", err)
	}
	return nil
}

// ChunkedWriter writes a body in the chunked transfer coding
// (RFC 9112 §7.1): each Write one chunk, Close the last chunk. It writes
// three times per chunk, so w should be buffered.
type ChunkedWriter struct {
	w      io.Writer
	closed bool
	size   [18]byte // chunk-size in hex and CRLF
}

// NewChunkedWriter returns a ChunkedWriter writing to w.
func NewChunkedWriter(w io.Writer) *ChunkedWriter {
	return &ChunkedWriter{w: w}
}

// Reset makes cw write a new body to w.
func (cw *ChunkedWriter) Reset(w io.Writer) {
	cw.w, cw.closed = w, false
}

// Write writes p as one chunk. An empty p writes nothing: a chunk of size
// zero would end the body.
func (cw *ChunkedWriter) Write(p []byte) (int, error) {
	if cw.closed {
		return 0, invalidOutgoing("chunked body written after its last chunk")
	}
	if len(p) == 0 {
		return 0, nil
	}
	size := append(strconv.AppendUint(cw.size[:0], uint64(len(p)), 16), '\r', '\n')
	if _, err := cw.w.Write(size); err != nil {
		return 0, fmt.Errorf("h1: writing chunk: %w", err)
	}
	n, err := cw.w.Write(p)
	if err != nil {
		return n, fmt.Errorf("h1: writing chunk: %w", err)
	}
	if _, err := io.WriteString(cw.w, "\r\n"); err != nil {
		return n, fmt.Errorf("h1: writing chunk: %w", err)
	}
	return n, nil
}

// Close writes the last chunk and an empty trailer section. It does not
// close or flush w.
func (cw *ChunkedWriter) Close() error {
	return cw.CloseWithTrailers(nil)
}

// CloseWithTrailers writes the last chunk and the trailer fields
// (RFC 9112 §7.1.2), which are validated like request fields; nothing is
// written if one is invalid.
func (cw *ChunkedWriter) CloseWithTrailers(trailers []Field) error {
	if cw.closed {
		return invalidOutgoing("chunked body closed twice")
	}
	for _, f := range trailers {
		if err := checkField(f.Name, f.Value); err != nil {
			return err
		}
	}
	cw.closed = true
	if _, err := io.WriteString(cw.w, "0\r\n"); err != nil {
		return fmt.Errorf("h1: writing last chunk: %w", err)
	}
	for _, f := range trailers {
		for _, s := range [...]string{f.Name, ": ", f.Value, "\r\n"} {
			if _, err := io.WriteString(cw.w, s); err != nil {
				return fmt.Errorf("h1: writing trailers: %w", err)
			}
		}
	}
	if _, err := io.WriteString(cw.w, "\r\n"); err != nil {
		return fmt.Errorf("h1: writing last chunk: %w", err)
	}
	return nil
}
