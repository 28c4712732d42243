package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/portico-proxy/portico/internal/failure"
)

// The fuzz tests read the same bytes with h1 and with net/http and demand
// the same answer wherever both accept. h1 is deliberately stricter than
// net/http where net/http repairs or ignores something a proxy must not
// forward:
//
//   - obs-fold and whitespace before the first field line (RFC 9112 §2.2,
//     §5.2): net/http unfolds them, h1 rejects;
//   - Transfer-Encoding together with Content-Length: net/http drops the
//     Content-Length, h1 rejects (response smuggling);
//   - Transfer-Encoding in an HTTP/1.0 response: net/http ignores it, h1
//     rejects (RFC 9112 §6.1);
//   - status codes 000-099 and signed ones, two spaces before the status,
//     HTTP versions other than 1.0 and 1.1: net/http accepts, h1 rejects;
//   - whitespace between a field name and its colon: net/http takes the
//     name with the whitespace, h1 rejects (RFC 9112 §5.1);
//   - control bytes in chunk extensions: net/http discards extensions
//     unread, h1 rejects controls in them;
//   - chunk sizes past int64: net/http takes up to 2^64-1, h1 refuses.
//
// And it is more lenient in two places the RFCs allow:
//
//   - Transfer-Encoding as a list with empty elements (", chunked") or
//     surrounding whitespace: net/http takes only one field that is exactly
//     "chunked"; h1 follows RFC 9110 §5.6.1;
//   - whitespace before a chunk extension's ";" (BWS in RFC 9112 §7.1.1):
//     net/http rejects it.
//
// Both stop a chunk-size line at 4095 bytes and at 16 hex digits. h1 also
// reads the trailer section, which net/http's chunked reader leaves to its
// caller.

var headSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.0 200 OK\r\n\r\nclose-delimited",
	"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
	"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
	"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n",
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	"HTTP/1.1 599\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nPragma: no-cache\r\n\r\n",
	"HTTP/1.1 200 \nA:  b \nContent-Length: 1\n\nx",
	"HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n",
	"HTTP/1.1 200 OK\r\nA : b\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
	"HTTP/1.1 099 OK\r\n\r\n",
	"HTTP/2.0 200 OK\r\n\r\n",
	"<html>",
}

// FuzzReadResponseHead checks that every failure is classified, and that
// heads both h1 and net/http accept read the same.
func FuzzReadResponseHead(f *testing.F) {
	for _, s := range headSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var h ResponseHead
		err := ReadResponseHead(bufio.NewReader(bytes.NewReader(in)), Limits{}, &h)
		assertSameResponseLineByLine(t, in, &h, err)
		resp, goErr := http.ReadResponse(bufio.NewReader(bytes.NewReader(in)), &http.Request{Method: "GET"})
		if err != nil {
			fe, ok := failure.As(err)
			if !ok {
				t.Fatalf("unclassified error %v", err)
			}
			if fe.Class == failure.ConnectionTerminated && len(in) > 0 {
				t.Fatalf("connection_terminated after %d bytes", len(in))
			}
			return
		}
		if h.Status < 100 || h.Status > 999 || h.Major != 1 || h.Minor > 1 {
			t.Fatalf("accepted HTTP/%d.%d %d", h.Major, h.Minor, h.Status)
		}
		if goErr != nil {
			if lenientTransferEncoding(h.Fields) {
				return
			}
			t.Fatalf("h1 accepts what net/http rejects (%v): %q", goErr, in)
		}
		if resp.StatusCode != h.Status || resp.ProtoMajor != h.Major || resp.ProtoMinor != h.Minor {
			t.Fatalf("status: h1 HTTP/%d.%d %d, net/http %s %d", h.Major, h.Minor, h.Status, resp.Proto, resp.StatusCode)
		}
		assertSameFields(t, &h, resp.Header)
		assertSameFraming(t, &h, resp)
	})
}

// assertSameResponseLineByLine reads in again a byte at a time, which
// keeps the head from ever lying whole in the buffer, and demands the same
// result: the in-place fast path must accept exactly what the line reader
// accepts.
func assertSameResponseLineByLine(t *testing.T, in []byte, h *ResponseHead, err error) {
	t.Helper()
	var slow ResponseHead
	slowErr := ReadResponseHead(bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(in)), 16), Limits{}, &slow)
	if (err == nil) != (slowErr == nil) || failure.ClassOf(err) != failure.ClassOf(slowErr) {
		t.Fatalf("buffered: %v; byte by byte: %v", err, slowErr)
	}
	if err != nil {
		return
	}
	if h.Status != slow.Status || h.Reason != slow.Reason || h.Minor != slow.Minor || h.ContentLength != slow.ContentLength ||
		h.Chunked != slow.Chunked || h.Close != slow.Close || !slices.Equal(h.Fields, slow.Fields) {
		t.Fatalf("buffered read %+v, byte by byte %+v", h, &slow)
	}
}

// lenientTransferEncoding reports a Transfer-Encoding among a request's or
// a response's fields that h1 takes and net/http refuses: anything but one
// field reading exactly "chunked".
func lenientTransferEncoding(fields []Field) bool {
	var tes []string
	for _, f := range fields {
		if equalFoldASCII(f.Name, "transfer-encoding") {
			tes = append(tes, f.Value)
		}
	}
	return len(tes) > 0 && !(len(tes) == 1 && equalFoldASCII(tes[0], "chunked"))
}

// assertSameFields compares the fields net/http keeps in its Header: it
// moves Transfer-Encoding out, folds repeated Content-Length into one,
// drops Connection when it says close and adds Cache-Control for
// Pragma: no-cache.
func assertSameFields(t *testing.T, h *ResponseHead, goHeader http.Header) {
	t.Helper()
	ours := http.Header{}
	for _, f := range h.Fields {
		ours.Add(f.Name, f.Value)
	}
	for _, name := range []string{"Transfer-Encoding", "Content-Length", "Cache-Control", "Connection"} {
		if name == "Cache-Control" && ours.Get("Pragma") == "" || name == "Connection" && !h.Close {
			continue
		}
		delete(ours, name)
		delete(goHeader, name)
	}
	for name, values := range ours {
		if !slices.Equal(values, goHeader[name]) {
			t.Fatalf("field %s: h1 %q, net/http %q", name, values, goHeader[name])
		}
	}
	if len(ours) != len(goHeader) {
		t.Fatalf("fields: h1 %q, net/http %q", ours, goHeader)
	}
}

func assertSameFraming(t *testing.T, h *ResponseHead, resp *http.Response) {
	t.Helper()
	goChunked := slices.Equal(resp.TransferEncoding, []string{"chunked"})
	f := h.Framing("GET")
	switch f {
	case Chunked:
		if !goChunked {
			t.Fatalf("h1 reads chunked, net/http %q", resp.TransferEncoding)
		}
	case Length:
		if goChunked || resp.ContentLength != h.ContentLength {
			t.Fatalf("h1 reads %d bytes, net/http %d (chunked %v)", h.ContentLength, resp.ContentLength, goChunked)
		}
	case UntilClose:
		if goChunked || resp.ContentLength != -1 {
			t.Fatalf("h1 reads until close, net/http %d bytes (chunked %v)", resp.ContentLength, goChunked)
		}
	case NoBody, Tunnel:
		if resp.ContentLength != 0 {
			t.Fatalf("h1 reads no body, net/http %d bytes", resp.ContentLength)
		}
	}
	if closes := h.Close || f == UntilClose; closes != resp.Close {
		t.Fatalf("h1 closes %v, net/http %v", closes, resp.Close)
	}
}

var chunkedSeeds = []string{
	"0\r\n\r\n",
	"5\r\nhello\r\n0\r\n\r\n",
	"5;ext=1\r\nhello\r\n6 ; a=\"b\"\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
	"A\r\n0123456789\r\n0000\r\n\r\n",
	"5 \r\nhello\r\n0\r\n\r\n",
	"5\nhello\r\n0\r\n\r\n",
	"5\r\nhello\n0\r\n\r\n",
	"5\r\nhel",
	"ffffffffffffffff\r\n",
	"00000000000000001\r\nx\r\n0\r\n\r\n",
	"3\r\nhello\r\n0\r\n\r\n",
	"1\r\nx\r\n0\r\nA: b\r\n c\r\n\r\n",
}

// FuzzChunkedReader checks chunked bodies against net/http's chunked
// reader.
func FuzzChunkedReader(f *testing.F) {
	for _, s := range chunkedSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := io.ReadAll(NewBodyReader(bufio.NewReader(bytes.NewReader(in)), &ResponseHead{}, Chunked))
		if err != nil && failure.ClassOf(err) != failure.HTTPResponseIncomplete {
			t.Fatalf("error %v is not http_response_incomplete", err)
		}
		// Next must read exactly what Read reads, in any buffer size.
		viaNext, nextErr := readAllNext(NewBodyReader(bufio.NewReaderSize(bytes.NewReader(in), 16), &ResponseHead{}, Chunked))
		if !bytes.Equal(viaNext, got) || (nextErr == nil) != (err == nil) {
			t.Fatalf("Next read %q (%v), Read %q (%v)", viaNext, nextErr, got, err)
		}
		compareChunkedWithNetHTTP(t, in, got, err)
	})
}

// compareChunkedWithNetHTTP checks what h1 read from the chunked body in,
// got and err, against net/http's chunked reader.
func compareChunkedWithNetHTTP(t *testing.T, in, got []byte, err error) {
	t.Helper()
	goBr := bufio.NewReader(bytes.NewReader(in))
	goGot, goErr := io.ReadAll(httputil.NewChunkedReader(goBr))
	// net/http also refuses bodies with over 16 KiB of framing beyond
	// its allowance, which short inputs cannot reach.
	if err == nil && len(in) < 16<<10 && !bytes.Contains(in, []byte(" ;")) && !bytes.Contains(in, []byte("\t;")) {
		if goErr != nil {
			t.Fatalf("h1 accepts what net/http rejects (%v): %q", goErr, in)
		}
		if !bytes.Equal(got, goGot) {
			t.Fatalf("h1 read %q, net/http %q", got, goGot)
		}
	}
	rest, _ := io.ReadAll(goBr)
	if goErr == nil && bytes.HasPrefix(rest, []byte("\r\n")) && !hasControl(in) {
		if err != nil {
			t.Fatalf("net/http accepts what h1 rejects (%v): %q", err, in)
		}
		if !bytes.Equal(got, goGot) {
			t.Fatalf("h1 read %q, net/http %q", got, goGot)
		}
	}
}

// hasControl reports bytes h1 refuses in chunk extensions and net/http
// never looks at.
func hasControl(b []byte) bool {
	return bytes.ContainsFunc(b, func(r rune) bool {
		return (r < ' ' && r != '\r' && r != '\n' && r != '\t') || r == 0x7f
	})
}

// FuzzChunkedRoundTrip writes data with ChunkedWriter in writes of a
// fuzzed size and reads it back.
func FuzzChunkedRoundTrip(f *testing.F) {
	f.Add([]byte("hello, world"), uint8(3), "X-Sum", "abc")
	f.Add([]byte{}, uint8(0), "", "")
	f.Add(bytes.Repeat([]byte{0, '\r', '\n'}, 100), uint8(255), "A", "")
	f.Fuzz(func(t *testing.T, data []byte, size uint8, trailerName, trailerValue string) {
		var trailers []Field
		if isToken(trailerName) && invalidValueByte(trailerValue) < 0 {
			trailers = []Field{{trailerName, strings.Trim(trailerValue, " \t")}}
		}
		var wire bytes.Buffer
		cw := NewChunkedWriter(&wire)
		for rest := data; len(rest) > 0; {
			n := min(len(rest), int(size)+1)
			if _, err := cw.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if err := cw.CloseWithTrailers(trailers); err != nil {
			t.Fatal(err)
		}
		r := NewBodyReader(bufio.NewReader(&wire), &ResponseHead{}, Chunked)
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back %q, %v; wrote %q", got, err, data)
		}
		if !slices.Equal(r.Trailers(), trailers) {
			t.Fatalf("trailers read back %q, wrote %q", r.Trailers(), trailers)
		}
	})
}
