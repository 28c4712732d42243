// Package h1 is the HTTP/1.1 wire codec (RFC 9112). Toward upstreams it
// reads response heads and bodies and writes request heads and chunked
// request bodies; toward clients it reads request heads and bodies (the
// server writes its response heads itself, straight from the handler's
// header).
//
// It is a pure codec over a *bufio.Reader and a *bufio.Writer: it never
// dials, sets deadlines or pools connections. Every protocol error it finds
// is returned as a *failure.Error of its final class, so callers never
// classify again; errors of the underlying connection (timeouts, resets) are
// returned unclassified, wrapped with %w, because only the caller, the
// transport or the server loop, can tell a read timeout from a reset.
//
// Where RFC 9112 lets a recipient choose between rejecting and repairing a
// message, h1 rejects: a proxy that repairs a message forwards something its
// sender never sent, and disagreements about framing are how requests and
// responses get smuggled (RFC 9112 §11.2).
package h1

import (
	"errors"
	"fmt"
	"io"

	"github.com/portico-proxy/portico/internal/failure"
)

// Default limits for a head.
const (
	DefaultHeaderSection = 256 << 10
	DefaultHeaderLine    = 64 << 10
)

// Limits bounds a response or request head. Both count bytes as received,
// line terminators included.
type Limits struct {
	// HeaderSection bounds the whole head: status or request line, field
	// lines and the empty line that ends it (with a request, the empty
	// lines before it too). 0 means DefaultHeaderSection (256 KiB).
	HeaderSection int
	// HeaderLine bounds one line of the head. 0 means DefaultHeaderLine
	// (64 KiB).
	HeaderLine int
}

func (l Limits) section() int {
	if l.HeaderSection > 0 {
		return l.HeaderSection
	}
	return DefaultHeaderSection
}

func (l Limits) line() int {
	if l.HeaderLine > 0 {
		return l.HeaderLine
	}
	return DefaultHeaderLine
}

// Field is one field line. Name is as received, case preserved; Value has
// the optional whitespace around it removed (RFC 9112 §5).
type Field struct {
	Name, Value string
}

// ErrNoResponse is the cause of the connection_terminated error
// ReadResponseHead returns when the connection ends before the first byte
// of a response: typically a keep-alive connection the upstream closed while
// it sat idle, which makes the request safe to send again on a new one.
var ErrNoResponse = errors.New("connection closed before any response byte")

func isEOF(err error) bool {
	return err == io.EOF || err == io.ErrUnexpectedEOF
}

// headError is a protocol error in a response head.
func headError(format string, args ...any) error {
	return failure.Newf(failure.HTTPProtocolError, failure.PhaseReadHead, fmt.Sprintf(format, args...))
}

// readError passes an error of the connection through unclassified.
func readError(what string, err error) error {
	return fmt.Errorf("h1: reading %s: %w", what, err)
}

// incomplete is a body that ended, or broke its framing, before its end.
func incomplete(cause error, format string, args ...any) error {
	return &failure.Error{
		Class:   failure.HTTPResponseIncomplete,
		Phase:   failure.PhaseReadBody,
		Details: fmt.Sprintf(format, args...),
		Err:     cause,
	}
}

// invalidOutgoing is a request head or trailer that h1 refuses to write:
// the inbound side already rejected malformed client messages, so what is
// left is the proxy's own mistake.
func invalidOutgoing(format string, args ...any) error {
	return failure.Newf(failure.ProxyInternalError, failure.PhaseWriteRequest, fmt.Sprintf(format, args...))
}

// tchar marks the bytes of a token (RFC 9110 §5.6.2).
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// vchar marks the bytes allowed in a field value and a reason phrase:
// VCHAR, obs-text, SP and HTAB (RFC 9110 §5.5, RFC 9112 §4). CR, LF, NUL and
// the other controls are not.
var vchar = func() (t [256]bool) {
	for c := 0x21; c <= 0xff; c++ {
		t[c] = c != 0x7f
	}
	t[' '] = true
	t['\t'] = true
	return t
}()

func isToken[T string | []byte](s T) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tchar[s[i]] {
			return false
		}
	}
	return true
}

// invalidValueByte returns the index of the first byte not allowed in a
// field value, or -1.
func invalidValueByte[T string | []byte](s T) int {
	for i := 0; i < len(s); i++ {
		if !vchar[s[i]] {
			return i
		}
	}
	return -1
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

// clip shortens s for an error message.
func clip[T string | []byte](s T, n int) string {
	if len(s) > n {
		return string(s[:n]) + "..."
	}
	return string(s)
}

// lowerASCII lowercases a field name for the header-name parameter.
func lowerASCII(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return string(out)
}

// equalFoldASCII compares a received name with a lowercase constant.
func equalFoldASCII(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
