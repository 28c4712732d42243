// Package accesslog writes one structured line per request: who asked for
// what, where it went, how it ended and, when it failed, the taxonomy cause.
// Field names follow the OpenTelemetry semantic conventions for HTTP
// (docs/logging.md), which log pipelines already parse.
package accesslog

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/portico-proxy/portico/internal/config"
)

// Entry is one request's record.
type Entry struct {
	Start      time.Time
	RequestID  string
	ClientAddr string
	Method     string
	Host       string
	Path       string
	Proto      string
	Status     int
	BytesIn    int64
	BytesOut   int64
	Duration   time.Duration
	Route      string
	Upstream   string
	Target     string
	Attempts   int
	// Cause is the RFC 9209 error type of a failed request, "" on success;
	// Details is the operator's sentence for it.
	Cause   string
	Details string
}

// Logger writes entries, whole lines at a time so lines from concurrent
// requests never interleave. A nil *Logger discards them.
type Logger struct {
	mu   sync.Mutex // guards w and buf
	w    io.Writer
	text bool
	// buf, when set, gathers lines for up to flushEvery, so a busy proxy
	// makes one write per batch rather than one per request.
	buf   *bufio.Writer
	timer *time.Timer
}

// flushEvery bounds how long a line waits in a file log's buffer.
const flushEvery = time.Second

// New returns a logger writing format ("json" or "text") to w, one write
// per line.
func New(w io.Writer, format string) *Logger {
	return &Logger{w: w, text: format == "text"}
}

// newBuffered returns a logger that writes to w in batches, at the latest
// flushEvery after a line was logged.
func newBuffered(w io.Writer, format string) *Logger {
	l := New(w, format)
	l.buf = bufio.NewWriterSize(w, 64<<10)
	l.timer = time.AfterFunc(time.Hour, l.flush)
	l.timer.Stop()
	return l
}

func (l *Logger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Flush()
}

// Close writes what is buffered; the logger must not be used after.
func (l *Logger) Close() error {
	if l == nil || l.buf == nil {
		return nil
	}
	l.timer.Stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Flush()
}

// Open returns the logger c describes and what to close when it is retired
// (the buffered lines are written, then the file closed); "off" gives a
// nil logger. Standard output gets each line at once; a file gets lines in
// batches, at most a second late, like nginx's `buffer=64k flush=1s`.
func Open(c config.AccessLog) (*Logger, io.Closer, error) {
	switch c.Path {
	case "off":
		return nil, nopCloser{}, nil
	case "", "-":
		return New(os.Stdout, c.Format), nopCloser{}, nil
	}
	f, err := os.OpenFile(c.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("access log: %w", err)
	}
	l := newBuffered(f, c.Format)
	return l, closers{l, f}, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// closers closes each in turn.
type closers []io.Closer

func (cs closers) Close() error {
	var first error
	for _, c := range cs {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// lines holds line buffers: encoding a line allocates nothing once warm.
var lines = sync.Pool{New: func() any {
	b := make([]byte, 0, 1024)
	return &b
}}

// Log writes e as one line.
func (l *Logger) Log(e *Entry) {
	if l == nil {
		return
	}
	bp := lines.Get().(*[]byte)
	b := l.encode((*bp)[:0], e)
	l.mu.Lock()
	if l.buf != nil {
		if l.buf.Buffered() == 0 {
			l.timer.Reset(flushEvery)
		}
		l.buf.Write(b)
	} else {
		l.w.Write(b)
	}
	l.mu.Unlock()
	*bp = b
	lines.Put(bp)
}

// encode appends e as one JSON object or one logfmt line.
func (l *Logger) encode(b []byte, e *Entry) []byte {
	enc := encoder{b: b, text: l.text}
	enc.begin()
	enc.time("time", e.Start)
	enc.str("msg", "request")
	enc.str("request_id", e.RequestID)
	enc.str("client.address", e.ClientAddr)
	enc.str("http.request.method", e.Method)
	enc.str("server.address", e.Host)
	enc.str("url.path", e.Path)
	enc.str("network.protocol.version", e.Proto)
	enc.int("http.response.status_code", int64(e.Status))
	enc.int("http.request.body.size", e.BytesIn)
	enc.int("http.response.body.size", e.BytesOut)
	enc.millis("duration_ms", e.Duration)
	enc.str("route", e.Route)
	enc.str("upstream", e.Upstream)
	enc.str("upstream.address", e.Target)
	enc.int("attempts", int64(e.Attempts))
	enc.str("error.type", e.Cause)
	if e.Details != "" {
		enc.str("error.message", e.Details)
	}
	return enc.end()
}

// encoder appends key/value pairs as JSON or logfmt.
type encoder struct {
	b     []byte
	text  bool
	first bool
}

func (e *encoder) begin() {
	e.first = true
	if !e.text {
		e.b = append(e.b, '{')
	}
}

func (e *encoder) end() []byte {
	if !e.text {
		e.b = append(e.b, '}')
	}
	return append(e.b, '\n')
}

func (e *encoder) key(k string) {
	if !e.first {
		if e.text {
			e.b = append(e.b, ' ')
		} else {
			e.b = append(e.b, ',')
		}
	}
	e.first = false
	if e.text {
		e.b = append(e.b, k...)
		e.b = append(e.b, '=')
		return
	}
	e.b = append(e.b, '"')
	e.b = append(e.b, k...)
	e.b = append(e.b, '"', ':')
}

func (e *encoder) str(k, v string) {
	e.key(k)
	if e.text && v != "" && !needsQuoting(v) {
		e.b = append(e.b, v...)
		return
	}
	e.b = appendQuoted(e.b, v)
}

func (e *encoder) int(k string, v int64) {
	e.key(k)
	e.b = strconv.AppendInt(e.b, v, 10)
}

func (e *encoder) millis(k string, d time.Duration) {
	e.key(k)
	e.b = strconv.AppendFloat(e.b, float64(d.Microseconds())/1000, 'f', -1, 64)
}

func (e *encoder) time(k string, t time.Time) {
	e.key(k)
	if !e.text {
		e.b = append(e.b, '"')
	}
	e.b = t.AppendFormat(e.b, time.RFC3339Nano)
	if !e.text {
		e.b = append(e.b, '"')
	}
}

// needsQuoting reports whether a logfmt value must be quoted.
func needsQuoting(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// appendQuoted appends s as a JSON string (RFC 8259 §7), which logfmt
// readers also accept. Invalid UTF-8 becomes U+FFFD, so a line always
// parses whatever a client sent.
func appendQuoted(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < ' ':
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
