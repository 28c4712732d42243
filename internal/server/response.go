package server

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/portico-proxy/portico/internal/h1"
)

// responseWriter writes a response straight into the connection's buffer.
// It implements http.ResponseWriter and what http.ResponseController uses
// (FlushError, Hijack, SetReadDeadline, SetWriteDeadline,
// EnableFullDuplex); WriteHeaderReason keeps an upstream's own reason
// phrase.
type responseWriter struct {
	c      *conn
	header http.Header

	isHead     bool
	http10     bool
	wroteHead  bool
	status     int
	chunked    bool
	noBody     bool
	length     int64 // declared Content-Length, -1 when none
	written    int64
	closeAfter bool
}

func (w *responseWriter) reset(r *http.Request) {
	clear(w.header)
	*w = responseWriter{c: w.c, header: w.header, isHead: r.Method == http.MethodHead, http10: r.ProtoMinor == 0, length: -1}
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) { w.WriteHeaderReason(code, "") }

// WriteHeaderReason writes the response head with the given reason phrase;
// "" means the standard one for the code.
func (w *responseWriter) WriteHeaderReason(code int, reason string) {
	if w.wroteHead || w.c.hijacked {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// An interim response goes out at once with the fields set so
		// far; the final response comes later (RFC 9110 §15.2).
		w.writeStatusLine(code, reason)
		w.writeFields(false)
		w.c.bw.WriteString("\r\n")
		w.c.bw.Flush()
		return
	}
	h := w.header
	delete(h, "Transfer-Encoding")
	// A handler ends the connection after its response by setting
	// Connection: close; the server writes that field itself.
	closeAsked := false
	if v, ok := h["Connection"]; ok {
		for _, item := range v {
			if strings.EqualFold(strings.TrimSpace(item), "close") {
				closeAsked = true
			}
		}
		delete(h, "Connection")
	}
	length := int64(-1)
	if cl := h["Content-Length"]; len(cl) == 1 {
		if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil && n >= 0 {
			length = n
		}
	}
	w.frame(code, length, closeAsked)
	if w.length < 0 || w.noBody && !w.isHead {
		delete(h, "Content-Length")
	}
	w.writeStatusLine(code, reason)
	w.writeFields(true)
	w.writeFraming()
}

// WriteHeadFields writes a final response head from a list of fields
// rather than from Header(): those drop names (as they are spelled in
// fields) are left out, and extra follow. contentLength is the body's
// length, or -1 when unknown; closeAfter ends the connection after the
// response. Header() must hold nothing but trailers, which may still be
// added after. A proxy relays an upstream's head this way without
// building a map.
func (w *responseWriter) WriteHeadFields(code int, reason string, fields []h1.Field, drop h1.FieldFilter, extra []h1.Field, contentLength int64, closeAfter bool) {
	if w.wroteHead || w.c.hijacked || code < 200 {
		return
	}
	w.frame(code, contentLength, closeAfter)
	w.writeStatusLine(code, reason)
	bw := w.c.bw
	dated := false
	for _, list := range [2][]h1.Field{fields, extra} {
		for _, f := range list {
			if drop.Drop(f.Name) || splitsLine(f.Value) {
				continue
			}
			dated = dated || len(f.Name) == len("Date") && strings.EqualFold(f.Name, "Date")
			bw.writeField(f.Name, f.Value)
		}
		drop = keepAll{}
	}
	if !dated {
		w.writeDate()
	}
	if w.length >= 0 && (!w.noBody || w.isHead) {
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(w.c.scratch[:0], w.length, 10))
		bw.WriteString("\r\n")
	}
	w.writeFraming()
}

// keepAll drops no field.
type keepAll struct{}

func (keepAll) Drop(string) bool { return false }

// frame decides how the body of a final response is delimited: by its
// length, in chunks, or by closing the connection (an HTTP/1.0 client
// knows no chunks). Some responses have no body whatever they declare.
func (w *responseWriter) frame(code int, length int64, closeAfter bool) {
	w.wroteHead = true
	w.status = code
	// A broken request body may have ended the connection already.
	w.closeAfter = w.closeAfter || closeAfter
	switch {
	case code == http.StatusNoContent || code == http.StatusNotModified || code < 200:
		w.noBody = true
	case w.isHead:
		w.noBody = true
		w.length = length
	case length >= 0:
		w.length = length
	case w.http10:
		w.closeAfter = true
	default:
		w.chunked = true
	}
	if w.c.head.Close || w.c.s.shutdown.Load() {
		w.closeAfter = true
	}
}

// writeFraming ends the head with the fields the server owns.
func (w *responseWriter) writeFraming() {
	if w.chunked {
		w.c.bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if w.closeAfter {
		w.c.bw.WriteString("Connection: close\r\n")
	} else if w.http10 {
		w.c.bw.WriteString("Connection: keep-alive\r\n")
	}
	w.c.bw.WriteString("\r\n")
}

func (w *responseWriter) writeStatusLine(code int, reason string) {
	bw := w.c.bw
	if code < 100 || code > 999 {
		code = http.StatusInternalServerError
	}
	bw.WriteString("HTTP/1.1 ")
	bw.WriteByte(byte('0' + code/100))
	bw.WriteByte(byte('0' + code/10%10))
	bw.WriteByte(byte('0' + code%10))
	bw.WriteByte(' ')
	if reason == "" || !validReason(reason) {
		reason = http.StatusText(code)
	}
	bw.WriteString(reason)
	bw.WriteString("\r\n")
}

// validReason reports whether a reason phrase can be sent as is: no CR,
// LF or other controls but HTAB (RFC 9112 §4).
func validReason(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// writeFields writes the header fields. Trailer declarations written after
// the head are skipped; values that would split the response are dropped.
func (w *responseWriter) writeFields(final bool) {
	bw := w.c.bw
	for k, vv := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		for _, v := range vv {
			if splitsLine(v) {
				continue
			}
			bw.writeField(k, v)
		}
	}
	if _, ok := w.header["Date"]; final && !ok {
		w.writeDate()
	}
}

func (w *responseWriter) writeDate() {
	w.c.bw.WriteString("Date: ")
	w.c.bw.WriteString(httpDate())
	w.c.bw.WriteString("\r\n")
}

// splitsLine reports whether a field value holds CR or LF, which would
// end the field line early and let the value forge fields of its own.
func splitsLine(v string) bool {
	return strings.IndexByte(v, '\n') >= 0 || strings.IndexByte(v, '\r') >= 0
}

// errBodyTooLong is returned when a handler writes past its declared
// Content-Length.
var errBodyTooLong = errors.New("response body longer than its Content-Length")

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHead {
		w.WriteHeader(http.StatusOK)
	}
	if w.c.hijacked {
		return 0, http.ErrHijacked
	}
	if w.noBody {
		if w.isHead {
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if len(p) == 0 {
		return 0, nil
	}
	if w.length >= 0 && w.written+int64(len(p)) > w.length {
		return 0, errBodyTooLong
	}
	bw := w.c.bw
	if w.chunked {
		bw.Write(strconv.AppendInt(w.c.scratch[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
	}
	n, err := bw.Write(p)
	w.written += int64(n)
	if err == nil && w.chunked {
		_, err = bw.WriteString("\r\n")
	}
	return n, err
}

func (w *responseWriter) Flush() { w.FlushError() }

// FlushError sends what is buffered now.
func (w *responseWriter) FlushError() error {
	if !w.wroteHead {
		w.WriteHeader(http.StatusOK)
	}
	if w.c.hijacked {
		return http.ErrHijacked
	}
	return w.c.bw.Flush()
}

// finish completes the response: the last chunk with any trailers, and the
// flush. It reports whether the connection may carry another request.
func (w *responseWriter) finish() bool {
	if w.c.hijacked {
		return false
	}
	if !w.wroteHead {
		w.WriteHeader(http.StatusOK)
	}
	bw := w.c.bw
	if w.chunked {
		bw.WriteString("0\r\n")
		for k, vv := range w.header {
			name, ok := strings.CutPrefix(k, http.TrailerPrefix)
			if !ok {
				continue
			}
			for _, v := range vv {
				if !splitsLine(v) {
					bw.writeField(name, v)
				}
			}
		}
		bw.WriteString("\r\n")
	}
	if err := bw.Flush(); err != nil {
		return false
	}
	if w.length >= 0 && w.written < w.length && !w.noBody {
		// Short of its declared length: only closing tells the client.
		return false
	}
	return !w.closeAfter
}

// Hijack hands the connection to the handler (for protocol upgrades).
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.wroteHead {
		return nil, nil, errors.New("hijack after the response head was written")
	}
	w.c.stopServing()
	w.c.hijacked = true
	w.c.deadlines.Set(time.Time{})
	// A tunnel may stay silent for hours, past every timeout; keep-alive
	// probes find a client that vanished without closing (power loss, a
	// NAT that forgot the connection), so its tunnel ends.
	if tc, ok := w.c.nc.(*net.TCPConn); ok {
		tc.SetKeepAliveConfig(tunnelKeepAlive)
	}
	// Anything already buffered goes first; what the handler writes now
	// goes straight to the connection.
	if err := w.c.bw.Flush(); err != nil {
		return nil, nil, err
	}
	return w.c.nc, bufio.NewReadWriter(w.c.br, bufio.NewWriter(w.c.nc)), nil
}

// tunnelKeepAlive probes a hijacked connection after a minute of silence,
// and gives up on it after about two more.
var tunnelKeepAlive = net.KeepAliveConfig{Enable: true, Idle: time.Minute, Interval: 15 * time.Second, Count: 8}

// SetReadDeadline sets the connection's read deadline, e.g. to cut short
// a request body read.
func (w *responseWriter) SetReadDeadline(t time.Time) error { return w.c.deadlines.SetRead(t) }

// SetWriteDeadline sets the connection's write deadline.
func (w *responseWriter) SetWriteDeadline(t time.Time) error { return w.c.deadlines.SetWrite(t) }

// EnableFullDuplex is a no-op: this server always lets a handler read the
// request body while writing the response.
func (w *responseWriter) EnableFullDuplex() error { return nil }

// httpDate returns the current time in the HTTP date format (RFC 9110
// §5.6.7), formatted at most once a second.
func httpDate() string {
	now := time.Now().Unix()
	if d := cachedDate.Load(); d != nil && d.unix == now {
		return d.text
	}
	d := &dateText{unix: now, text: time.Unix(now, 0).UTC().Format(http.TimeFormat)}
	cachedDate.Store(d)
	return d.text
}

type dateText struct {
	unix int64
	text string
}

var cachedDate atomic.Pointer[dateText]
