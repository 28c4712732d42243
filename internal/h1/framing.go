package h1

import (
	"strings"

	"github.com/portico-proxy/portico/internal/failure"
)

// Framing is how the body after a response head is delimited
// (RFC 9112 §6.3).
type Framing uint8

// The framings.
const (
	// NoBody: the response ends with its head.
	NoBody Framing = iota
	// Length: ContentLength bytes follow.
	Length
	// Chunked: a chunked body follows, possibly with trailers.
	Chunked
	// UntilClose: the body is every byte until the upstream closes the
	// connection, which therefore cannot be reused.
	UntilClose
	// Tunnel: the response ends with its head and the connection then
	// carries another protocol: after a 2xx to CONNECT (RFC 9110 §9.3.6)
	// or a 101 (RFC 9110 §15.2.2). The caller relays the bytes that follow,
	// starting with those already buffered in its bufio.Reader.
	Tunnel
)

var framingNames = [...]string{"no-body", "length", "chunked", "until-close", "tunnel"}

func (f Framing) String() string {
	if int(f) < len(framingNames) {
		return framingNames[f]
	}
	return "unknown"
}

// Framing returns how the body of this response to a requestMethod request
// is delimited, following RFC 9112 §6.3 in order.
func (h *ResponseHead) Framing(requestMethod string) Framing {
	switch {
	case h.Status == 101, requestMethod == "CONNECT" && h.Status/100 == 2:
		return Tunnel
	case requestMethod == "HEAD", h.Status/100 == 1, h.Status == 204, h.Status == 304:
		return NoBody
	case h.Chunked:
		return Chunked
	case h.ContentLength >= 0:
		return Length
	}
	return UntilClose
}

// frame reads Content-Length, Transfer-Encoding and Connection. It checks
// them for every response, even where Framing ignores them: a response that
// declares its length two ways is suspect whatever its status.
func (h *ResponseHead) frame() error {
	var contentLength, coding, codingList string
	var sawTE, keepAlive bool
	for _, f := range h.Fields {
		switch {
		case equalFoldASCII(f.Name, "content-length"):
			if contentLength != "" && f.Value != contentLength {
				return headError("multiple Content-Length fields with different values (response smuggling)")
			}
			n, ok := parseContentLength(f.Value)
			if !ok {
				return headError("invalid Content-Length %q", clip(f.Value, 40))
			}
			contentLength, h.ContentLength = f.Value, n
		case equalFoldASCII(f.Name, "transfer-encoding"):
			sawTE = true
			for c := range listElements(f.Value) {
				if equalFoldASCII(c, "chunked") {
					if h.Chunked {
						// RFC 9112 §6.1: chunked is applied at most once.
						return headError("chunked transfer coding applied twice")
					}
					h.Chunked = true
					continue
				}
				if coding == "" {
					coding = strings.ToLower(c)
				}
			}
			codingList = f.Value
		case equalFoldASCII(f.Name, "connection"):
			for opt := range listElements(f.Value) {
				switch {
				case equalFoldASCII(opt, "close"):
					h.Close = true
				case equalFoldASCII(opt, "keep-alive"):
					keepAlive = true
				}
			}
		}
	}
	if h.Major == 1 && h.Minor == 0 && !keepAlive {
		h.Close = true
	}
	if !sawTE {
		return nil
	}
	switch {
	case contentLength != "":
		// RFC 9112 §6.3: Transfer-Encoding overrides Content-Length, and the
		// pair "ought to be handled as an error"; a proxy that forwarded it
		// would hand the next hop the very ambiguity smuggling relies on.
		return headError("both Transfer-Encoding and Content-Length (response smuggling)")
	case h.Major == 1 && h.Minor == 0:
		// RFC 9112 §6.1: framing of an HTTP/1.0 message with
		// Transfer-Encoding is faulty.
		return headError("Transfer-Encoding in an HTTP/1.0 response")
	case coding != "":
		// Only chunked is decoded; forwarding gzip, say, as the body would
		// hand the client bytes of a coding it never negotiated.
		return &failure.Error{
			Class:   failure.HTTPResponseTransferCoding,
			Phase:   failure.PhaseReadHead,
			Details: "unsupported transfer coding " + clip(coding, 40),
			Params:  []failure.Param{failure.StringParam("coding", coding)},
		}
	case !h.Chunked:
		return headError("empty Transfer-Encoding %q", clip(codingList, 40))
	}
	return nil
}

// parseContentLength parses Content-Length = 1*DIGIT (RFC 9110 §8.6),
// refusing signs, lists and values beyond int64.
func parseContentLength(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		d := int64(s[i] - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// listElements yields the non-empty elements of a comma-separated list,
// trimmed of OWS; RFC 9110 §5.6.1 has recipients skip empty ones.
func listElements(s string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for s != "" {
			var e string
			e, s, _ = strings.Cut(s, ",")
			e = strings.Trim(e, " \t")
			if e != "" && !yield(e) {
				return
			}
		}
	}
}
