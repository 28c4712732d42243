// Package accesslog writes one structured line per request: who asked for
// what, where it went, how it ended and, when it failed, the taxonomy cause.
// Field names follow the OpenTelemetry semantic conventions for HTTP
// (docs/logging.md), which log pipelines already parse.
package accesslog

import (
	"bufio"
	"bytes"
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

// line is a pooled line buffer with the last second it formatted a
// timestamp for: only the goroutine holding the line uses that cache, so
// it needs no lock, and loggers running at once never share it.
type line struct {
	b     []byte
	stamp secondStamp
}

// lines holds line buffers: encoding a line allocates nothing once warm.
var lines = sync.Pool{New: func() any {
	return &line{b: make([]byte, 0, 1024)}
}}

// Log writes e as one line.
func (l *Logger) Log(e *Entry) {
	if l == nil {
		return
	}
	ln := lines.Get().(*line)
	ln.b = l.encode(ln.b[:0], &ln.stamp, e)
	l.mu.Lock()
	if l.buf != nil {
		if l.buf.Buffered() == 0 {
			l.timer.Reset(flushEvery)
		}
		l.buf.Write(ln.b)
	} else {
		l.w.Write(ln.b)
	}
	l.mu.Unlock()
	lines.Put(ln)
}

// encode appends e as one JSON object or one logfmt line, its timestamp
// taken from stamp when it falls in the second stamp holds.
func (l *Logger) encode(b []byte, stamp *secondStamp, e *Entry) []byte {
	enc := encoder{b: b, text: l.text, stamp: stamp}
	enc.begin("time", e.Start)
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
	stamp *secondStamp
}

// begin opens the line with its first field, the time t, so that every
// later key is preceded by a separator.
func (e *encoder) begin(k string, t time.Time) {
	if e.text {
		e.b = append(e.b, k...)
		e.b = append(e.b, '=')
		e.b = e.stamp.append(e.b, t)
		return
	}
	e.b = append(e.b, '{', '"')
	e.b = append(e.b, k...)
	e.b = append(e.b, '"', ':', '"')
	e.b = e.stamp.append(e.b, t)
	e.b = append(e.b, '"')
}

func (e *encoder) end() []byte {
	if !e.text {
		e.b = append(e.b, '}')
	}
	return append(e.b, '\n')
}

func (e *encoder) key(k string) {
	if e.text {
		e.b = append(e.b, ' ')
		e.b = append(e.b, k...)
		e.b = append(e.b, '=')
		return
	}
	e.b = append(e.b, ',', '"')
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
	e.b = appendMillis(e.b, d.Microseconds())
}

// appendMillis appends us microseconds in milliseconds, exactly as
// strconv.AppendFloat(b, float64(us)/1000, 'f', -1, 64) would, without its
// shortest-float search: below 10^15 the decimal us/1000 has at most 15
// significant digits, so it is the shortest decimal that reads back as
// that float, and integer arithmetic can write it.
func appendMillis(b []byte, us int64) []byte {
	if us <= -1e15 || us >= 1e15 {
		return strconv.AppendFloat(b, float64(us)/1000, 'f', -1, 64)
	}
	if us < 0 {
		b = append(b, '-')
		us = -us
	}
	b = strconv.AppendInt(b, us/1000, 10)
	frac := us % 1000
	if frac == 0 {
		return b
	}
	digits := [4]byte{'.', byte('0' + frac/100), byte('0' + frac/10%10), byte('0' + frac%10)}
	n := len(digits)
	for digits[n-1] == '0' {
		n--
	}
	return append(b, digits[:n]...)
}

// secondStamp is one second's RFC 3339 text in one location. Lines logged
// within that second copy it and write only their own fraction: breaking a
// time into date, clock and zone is the costly part of formatting it.
type secondStamp struct {
	unix int64
	loc  *time.Location
	text []byte
	// buf holds text without an allocation of its own (so a new pooled
	// line costs no more than before): any year a time.Time holds fits,
	// with any zone offset under 100 hours.
	buf [40]byte
	// fractionAt is where the fraction goes: after the seconds, before
	// the zone.
	fractionAt int
}

// append appends t as t.AppendFormat(b, time.RFC3339Nano) does.
func (s *secondStamp) append(b []byte, t time.Time) []byte {
	unix, loc, nanos := t.Unix(), t.Location(), t.Nanosecond()
	// t.Location is never nil, so a zero stamp matches no time.
	if unix != s.unix || loc != s.loc {
		// The zone offset changes only on whole seconds, so the whole
		// second has t's offset.
		whole := t.Add(-time.Duration(nanos))
		s.text = whole.AppendFormat(s.buf[:0], time.RFC3339Nano)
		s.fractionAt = bytes.IndexByte(s.text, 'T') + len("T15:04:05")
		s.unix, s.loc = unix, loc
	}
	b = append(b, s.text[:s.fractionAt]...)
	b = appendFraction(b, nanos)
	return append(b, s.text[s.fractionAt:]...)
}

// appendFraction appends nanos as RFC3339Nano's ".999999999" does: a dot
// and up to nine digits without trailing zeros, nothing for zero.
func appendFraction(b []byte, nanos int) []byte {
	if nanos == 0 {
		return b
	}
	var digits [10]byte
	digits[0] = '.'
	for i := 9; i > 0; i-- {
		digits[i] = byte('0' + nanos%10)
		nanos /= 10
	}
	n := len(digits)
	for digits[n-1] == '0' {
		n--
	}
	return append(b, digits[:n]...)
}

// needsQuoting reports whether a logfmt value must be quoted.
func needsQuoting(s string) bool {
	return plainPrefix(s, &plainLogfmt) < len(s)
}

// plainLogfmt and plainJSON hold 1 for the bytes that stand for themselves
// in an unquoted logfmt value and in a JSON string.
var plainLogfmt, plainJSON = func() (logfmt, json [256]uint8) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		if c != '"' && c != '\\' {
			json[c] = 1
			if c != ' ' && c != '=' {
				logfmt[c] = 1
			}
		}
	}
	return logfmt, json
}()

// plainPrefix returns the length of the run of bytes at the start of s
// that plain marks as plain. It tests four bytes per branch, much faster
// than one at a time, and scanning values is a good part of a line's cost.
func plainPrefix(s string, plain *[256]uint8) int {
	i := 0
	for ; len(s)-i >= 4; i += 4 {
		w := s[i : i+4]
		if plain[w[0]]&plain[w[1]]&plain[w[2]]&plain[w[3]] == 0 {
			break
		}
	}
	for i < len(s) && plain[s[i]] == 1 {
		i++
	}
	return i
}

// appendQuoted appends s as a JSON string (RFC 8259 §7), which logfmt
// readers also accept. Invalid UTF-8 becomes U+FFFD, so a line always
// parses whatever a client sent. Runs that need no escaping, usually all
// of s, are copied in one append.
func appendQuoted(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	copied := 0 // s[:copied] is in b
	for i := 0; ; {
		i += plainPrefix(s[i:], &plainJSON)
		if i == len(s) {
			break
		}
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
		}
		b = append(b, s[copied:i]...)
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
		default: // a byte of invalid UTF-8
			b = append(b, `\ufffd`...)
		}
		i++
		copied = i
	}
	b = append(b, s[copied:]...)
	return append(b, '"')
}
