package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"slices"
	"testing"
	"testing/iotest"

	"github.com/portico-proxy/portico/internal/failure"
)

// FuzzReadRequestHead reads the same bytes with ReadRequestHead and with
// http.ReadRequest and demands the same method, target, host, fields and
// framing wherever both accept. ReadRequestHead is deliberately stricter
// where net/http's reader repairs, ignores or leaves to its server what a
// proxy must refuse:
//
//   - Transfer-Encoding with Content-Length: net/http drops the
//     Content-Length and reads chunked, h1 refuses (RFC 9112 §6.1, CL.TE and
//     TE.CL smuggling);
//   - Transfer-Encoding in an HTTP/1.0 request: net/http ignores it and
//     frames by Content-Length, h1 refuses (RFC 9112 §6.1);
//   - obs-fold and whitespace before the first field line: net/http unfolds
//     them, h1 refuses (RFC 9112 §5.2, §2.2);
//   - HTTP/1.1 without Host, a Host that is not an authority: net/http's
//     reader takes them and its server answers 400 without Proxy-Status;
//   - HTTP major versions other than 1 (505), a fragment in the target, a
//     target form the method does not take (authority-form without CONNECT,
//     "*" without OPTIONS), userinfo and schemes other than http and https
//     in absolute-form, IPv6 zones: net/http accepts them;
//   - CONNECT with a path target (net/rpc's form): net/http accepts it;
//   - a port over 65535 or non-numeric, in Host or an absolute-form target.
//
// And it is more lenient in two places the RFCs allow:
//
//   - up to four empty lines before the request line (RFC 9112 §2.2):
//     net/http refuses any;
//   - Transfer-Encoding as a list with empty elements (", chunked") or
//     surrounding whitespace (RFC 9110 §5.6.1): net/http takes only one
//     field that is exactly "chunked".
//
// HTTP/1.2 to 1.9 read as 1.1 in h1 (RFC 9110 §2.5), as themselves in
// net/http; the comparison allows for it.

var requestSeeds = []string{
	// Valid heads: a browser's GET, the smallest 1.1 and 1.0 requests,
	// both body framings, every target form, an IPv6 Host, a WebSocket
	// upgrade, Expect, a leading CRLF and bare LF line ends.
	typicalRequest,
	"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET / HTTP/1.0\r\n\r\n",
	"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
	"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	"GET http://a.example:8080/p?q HTTP/1.1\r\nHost: b\r\n\r\n",
	"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
	"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
	"\r\nGET / HTTP/1.1\r\nHost: h\r\nPragma: no-cache\r\n\r\n",
	// Smuggling vectors: CL.TE, differing lengths, TE in HTTP/1.0,
	// TE.TE obfuscations, obs-fold, a repeated Host.
	"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
	"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
	"POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
	"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n",
	"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n",
	"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	"GET / HTTP/1.1\nHost: h\nA: b\n c\n\n",
	"GET / HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n",
	// Not HTTP/1.x: a fragment, HTTP/2 without and with its preface, TLS.
	"GET /a%20b?c#d HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
}

// requestStatuses are the statuses a request error may carry.
var requestStatuses = []int{400, 414, 431, 501, 505}

func FuzzReadRequestHead(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var h RequestHead
		err := ReadRequestHead(bufio.NewReader(bytes.NewReader(in)), Limits{}, &h)
		assertSameLineByLine(t, in, &h, err)
		switch {
		case err == io.EOF:
			if len(bytes.Trim(in, "\r\n")) > 0 {
				t.Fatalf("io.EOF for a request that began: %q", in)
			}
			return
		case err == ErrHTTP2Preface:
			if !bytes.HasPrefix(in, []byte(http2PrefaceLine)) {
				t.Fatalf("ErrHTTP2Preface without the preface: %q", in)
			}
			return
		case err != nil:
			fe, ok := failure.As(err)
			if !ok || fe.Class != failure.HTTPRequestError || fe.Phase != failure.PhaseReadRequest || !slices.Contains(requestStatuses, fe.Status()) {
				t.Fatalf("error %v is not an http_request_error with a request status", err)
			}
			return
		}
		if h.Major != 1 || h.Minor > 1 || h.Method == "" || h.Target == "" {
			t.Fatalf("accepted %q %q HTTP/%d.%d", h.Method, h.Target, h.Major, h.Minor)
		}
		if h.Chunked && h.ContentLength >= 0 {
			t.Fatalf("accepted both chunked and Content-Length %d", h.ContentLength)
		}
		req, goErr := http.ReadRequest(bufio.NewReader(bytes.NewReader(in)))
		if goErr != nil {
			if in[0] == '\r' || in[0] == '\n' || lenientTransferEncoding(h.Fields) {
				return
			}
			t.Fatalf("h1 accepts what net/http rejects (%v): %q", goErr, in)
		}
		if req.Method != h.Method || req.RequestURI != h.Target || req.Host != h.Host {
			t.Fatalf("h1 read %q %q host %q, net/http %q %q host %q", h.Method, h.Target, h.Host, req.Method, req.RequestURI, req.Host)
		}
		if req.ProtoMajor != h.Major || min(req.ProtoMinor, 1) != h.Minor {
			t.Fatalf("h1 read HTTP/%d.%d, net/http %s", h.Major, h.Minor, req.Proto)
		}
		assertSameRequestFields(t, &h, req.Header)
		assertSameRequestFraming(t, &h, req)
	})
}

// assertSameLineByLine reads in again a byte at a time, which keeps the
// head from ever lying whole in the buffer, and demands the same result:
// the in-place fast path must accept exactly what the line reader accepts.
func assertSameLineByLine(t *testing.T, in []byte, h *RequestHead, err error) {
	t.Helper()
	var slow RequestHead
	slowErr := ReadRequestHead(bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(in)), 16), Limits{}, &slow)
	if (err == nil) != (slowErr == nil) || failure.ClassOf(err) != failure.ClassOf(slowErr) {
		t.Fatalf("buffered: %v; byte by byte: %v", err, slowErr)
	}
	if fe, ok := failure.As(err); ok {
		if slowFe, _ := failure.As(slowErr); fe.Status() != slowFe.Status() {
			t.Fatalf("buffered: %v; byte by byte: %v", err, slowErr)
		}
	}
	if err != nil {
		return
	}
	if h.Method != slow.Method || h.Target != slow.Target || h.Host != slow.Host || h.Minor != slow.Minor ||
		h.ContentLength != slow.ContentLength || h.Chunked != slow.Chunked || !slices.Equal(h.Fields, slow.Fields) {
		t.Fatalf("buffered read %+v, byte by byte %+v", h, &slow)
	}
}

// assertSameRequestFields compares the fields net/http keeps in a request's
// Header: it moves Host and Transfer-Encoding out, folds repeated
// Content-Length into one, and adds Cache-Control for Pragma: no-cache.
func assertSameRequestFields(t *testing.T, h *RequestHead, goHeader http.Header) {
	t.Helper()
	ours := http.Header{}
	for _, f := range h.Fields {
		ours.Add(f.Name, f.Value)
	}
	for _, name := range []string{"Host", "Transfer-Encoding", "Content-Length", "Cache-Control"} {
		if name == "Cache-Control" && ours.Get("Pragma") == "" {
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

func assertSameRequestFraming(t *testing.T, h *RequestHead, req *http.Request) {
	t.Helper()
	goChunked := slices.Equal(req.TransferEncoding, []string{"chunked"})
	switch h.Framing() {
	case Chunked:
		if !goChunked {
			t.Fatalf("h1 reads chunked, net/http %q", req.TransferEncoding)
		}
	case Length:
		if goChunked || req.ContentLength != h.ContentLength {
			t.Fatalf("h1 reads %d bytes, net/http %d (chunked %v)", h.ContentLength, req.ContentLength, goChunked)
		}
	case NoBody:
		if goChunked || req.ContentLength != 0 {
			t.Fatalf("h1 reads no body, net/http %d bytes (chunked %v)", req.ContentLength, goChunked)
		}
	default:
		t.Fatalf("request framing %v", h.Framing())
	}
	if h.Close != req.Close {
		t.Fatalf("h1 closes %v, net/http %v", h.Close, req.Close)
	}
}

// FuzzRequestChunkedReader checks chunked request bodies against
// net/http's chunked reader, with the same deliberate differences as
// FuzzChunkedReader, and checks that the request reader reads exactly what
// the response reader does, failing only as a request error.
func FuzzRequestChunkedReader(f *testing.F) {
	for _, s := range chunkedSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := io.ReadAll(newRequestBodyReader(bufio.NewReader(bytes.NewReader(in)), &RequestHead{Chunked: true, ContentLength: -1}))
		if err != nil {
			fe, ok := failure.As(err)
			if !ok || fe.Class != failure.HTTPRequestError || fe.Status() != http.StatusBadRequest || fe.Phase != failure.PhaseReadRequest {
				t.Fatalf("error %v is not an http_request_error 400", err)
			}
		}
		asResponse, respErr := io.ReadAll(NewBodyReader(bufio.NewReader(bytes.NewReader(in)), &ResponseHead{}, Chunked))
		if !bytes.Equal(got, asResponse) || (err == nil) != (respErr == nil) {
			t.Fatalf("request reader read %q, %v; response reader %q, %v", got, err, asResponse, respErr)
		}
		compareChunkedWithNetHTTP(t, in, got, err)
	})
}
