package h1

import (
	"bufio"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/portico-proxy/portico/internal/failure"
)

// readerShapes feed the same bytes in different splits: the result of a
// parse must not depend on how the network cut the stream.
var readerShapes = []struct {
	name string
	new  func(string) *bufio.Reader
}{
	{"whole", func(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }},
	{"one-byte", func(s string) *bufio.Reader {
		return bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(s)), 16)
	}},
	{"half", func(s string) *bufio.Reader { return bufio.NewReaderSize(iotest.HalfReader(strings.NewReader(s)), 64) }},
}

func TestReadResponseHeadValid(t *testing.T) {
	bigValue := strings.Repeat("v", 60<<10)
	tests := []struct {
		name   string
		in     string
		method string
		want   ResponseHead
		frame  Framing
	}{
		{
			name: "typical",
			in:   "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 12\r\n\r\n",
			want: ResponseHead{Major: 1, Minor: 1, Status: 200, Reason: "OK", ContentLength: 12,
				Fields: []Field{{"Content-Type", "text/html"}, {"Content-Length", "12"}}},
			frame: Length,
		},
		{
			name: "repeated Set-Cookie kept in order",
			in:   "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nSET-COOKIE: c=3\r\nContent-Length: 0\r\n\r\n",
			want: ResponseHead{Major: 1, Minor: 1, Status: 200, Reason: "OK", ContentLength: 0,
				Fields: []Field{{"Set-Cookie", "a=1"}, {"set-cookie", "b=2"}, {"SET-COOKIE", "c=3"}, {"Content-Length", "0"}}},
			frame: Length,
		},
		{
			name:  "custom status passes intact",
			in:    "HTTP/1.1 299 Whatever\r\n\r\n",
			want:  ResponseHead{Major: 1, Minor: 1, Status: 299, Reason: "Whatever", ContentLength: -1},
			frame: UntilClose,
		},
		{
			name:  "status 999 with reason of spaces and obs-text",
			in:    "HTTP/1.1 999 Gar\xe7on  \t x\r\n\r\n",
			want:  ResponseHead{Major: 1, Minor: 1, Status: 999, Reason: "Gar\xe7on  \t x", ContentLength: -1},
			frame: UntilClose,
		},
		{
			name:  "empty reason after SP",
			in:    "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n",
			want:  ResponseHead{Major: 1, Minor: 1, Status: 200, ContentLength: 0, Fields: []Field{{"Content-Length", "0"}}},
			frame: Length,
		},
		{
			name:  "no SP after status code",
			in:    "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
			want:  ResponseHead{Major: 1, Minor: 1, Status: 200, ContentLength: 0, Fields: []Field{{"Content-Length", "0"}}},
			frame: Length,
		},
		{
			name:  "HTTP/1.0 close-delimited",
			in:    "HTTP/1.0 200 OK\r\nServer: old\r\n\r\n",
			want:  ResponseHead{Major: 1, Minor: 0, Status: 200, Reason: "OK", ContentLength: -1, Close: true, Fields: []Field{{"Server", "old"}}},
			frame: UntilClose,
		},
		{
			name: "HTTP/1.0 keep-alive",
			in:   "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 3\r\n\r\n",
			want: ResponseHead{Major: 1, Minor: 0, Status: 200, Reason: "OK", ContentLength: 3,
				Fields: []Field{{"Connection", "Keep-Alive"}, {"Content-Length", "3"}}},
			frame: Length,
		},
		{
			name: "Connection close among other options",
			in:   "HTTP/1.1 200 OK\r\nConnection: x-foo\r\nConnection: , CLOSE ,\r\nContent-Length: 1\r\n\r\n",
			want: ResponseHead{Major: 1, Minor: 1, Status: 200, Reason: "OK", ContentLength: 1, Close: true,
				Fields: []Field{{"Connection", "x-foo"}, {"Connection", ", CLOSE ,"}, {"Content-Length", "1"}}},
			frame: Length,
		},
		{
			name:  "204 ignores a body framing",
			in:    "HTTP/1.1 204 No Content\r\n\r\n",
			want:  ResponseHead{Major: 1, Minor: 1, Status: 204, Reason: "No Content", ContentLength: -1},
			frame: NoBody,
		},
		{
			name: "304 with the representation's Content-Length",
			in:   "HTTP/1.1 304 Not Modified\r\nContent-Length: 500\r\n\r\n",
			want: ResponseHead{Major: 1, Minor: 1, Status: 304, Reason: "Not Modified", ContentLength: 500,
				Fields: []Field{{"Content-Length", "500"}}},
			frame: NoBody,
		},
		{
			name:   "HEAD response has no body",
			in:     "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n",
			method: "HEAD",
			want: ResponseHead{Major: 1, Minor: 1, Status: 200, Reason: "OK", ContentLength: 500,
				Fields: []Field{{"Content-Length", "500"}}},
			frame: NoBody,
		},
		{
			name: "chunked, coding case-insensitive",
			in:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n",
			want: ResponseHead{Major: 1, Minor: 1, Status: 200, Reason: "OK", ContentLength: -1, Chunked: true,
				Fields: []Field{{"Transfer-Encoding", "Chunked"}}},
			frame: Chunked,
		},
		{
			name: "chunked with empty list elements",
			in:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: , chunked\r\n\r\n",
			want: ResponseHead{Major: 1, Minor: 1, Status: 200, Reason: "OK", ContentLength: -1, Chunked: true,
				Fields: []Field{{"Transfer-Encoding", ", chunked"}}},
			frame: Chunked,
		},
		{
			name: "identical repeated Content-Length",
			in:   "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
			want: ResponseHead{Major: 1, Minor: 1, Status: 200, Reason: "OK", ContentLength: 5,
				Fields: []Field{{"Content-Length", "5"}, {"Content-Length", "5"}}},
			frame: Length,
		},
		{
			name:   "2xx to CONNECT is a tunnel",
			in:     "HTTP/1.1 200 Connection established\r\nContent-Length: 10\r\n\r\n",
			method: "CONNECT",
			want: ResponseHead{Major: 1, Minor: 1, Status: 200, Reason: "Connection established", ContentLength: 10,
				Fields: []Field{{"Content-Length", "10"}}},
			frame: Tunnel,
		},
		{
			name: "101 is a tunnel",
			in:   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
			want: ResponseHead{Major: 1, Minor: 1, Status: 101, Reason: "Switching Protocols", ContentLength: -1,
				Fields: []Field{{"Upgrade", "websocket"}, {"Connection", "Upgrade"}}},
			frame: Tunnel,
		},
		{
			name: "OWS trimmed, empty value, obs-text kept",
			in:   "HTTP/1.1 200 OK\r\nA: \t x y \t\r\nB:\r\nC:caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n",
			want: ResponseHead{Major: 1, Minor: 1, Status: 200, Reason: "OK", ContentLength: 0,
				Fields: []Field{{"A", "x y"}, {"B", ""}, {"C", "caf\xc3\xa9"}, {"Content-Length", "0"}}},
			frame: Length,
		},
		{
			name: "bare LF line ends",
			in:   "HTTP/1.1 200 OK\nA: 1\nContent-Length: 0\n\n",
			want: ResponseHead{Major: 1, Minor: 1, Status: 200, Reason: "OK", ContentLength: 0,
				Fields: []Field{{"A", "1"}, {"Content-Length", "0"}}},
			frame: Length,
		},
		{
			name: "large section under the limit",
			in:   "HTTP/1.1 200 OK\r\nX-Big: " + bigValue + "\r\nX-Big: " + bigValue + "\r\nContent-Length: 0\r\n\r\n",
			want: ResponseHead{Major: 1, Minor: 1, Status: 200, Reason: "OK", ContentLength: 0,
				Fields: []Field{{"X-Big", bigValue}, {"X-Big", bigValue}, {"Content-Length", "0"}}},
			frame: Length,
		},
	}
	for _, tt := range tests {
		for _, shape := range readerShapes {
			t.Run(tt.name+"/"+shape.name, func(t *testing.T) {
				var h ResponseHead
				br := shape.new(tt.in + "rest")
				if err := ReadResponseHead(br, Limits{}, &h); err != nil {
					t.Fatalf("ReadResponseHead: %v", err)
				}
				assertHead(t, &h, &tt.want)
				method := cmpOr(tt.method, "GET")
				if got := h.Framing(method); got != tt.frame {
					t.Errorf("Framing(%s) = %v, want %v", method, got, tt.frame)
				}
				if rest, _ := io.ReadAll(br); string(rest) != "rest" {
					t.Errorf("left %q after the head, want %q", rest, "rest")
				}
			})
		}
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func assertHead(t *testing.T, got, want *ResponseHead) {
	t.Helper()
	if got.Major != want.Major || got.Minor != want.Minor || got.Status != want.Status || got.Reason != want.Reason {
		t.Errorf("status line = HTTP/%d.%d %d %q, want HTTP/%d.%d %d %q",
			got.Major, got.Minor, got.Status, got.Reason, want.Major, want.Minor, want.Status, want.Reason)
	}
	if got.ContentLength != want.ContentLength || got.Chunked != want.Chunked || got.Close != want.Close {
		t.Errorf("framing = length %d chunked %v close %v, want length %d chunked %v close %v",
			got.ContentLength, got.Chunked, got.Close, want.ContentLength, want.Chunked, want.Close)
	}
	if !slices.Equal(got.Fields, want.Fields) {
		t.Errorf("fields = %q, want %q", got.Fields, want.Fields)
	}
}

// TestReadResponseHeadInformational reads a 103 and then the final head on
// one connection, reusing the head: the first head's strings survive.
func TestReadResponseHeadInformational(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"))
	var h ResponseHead
	if err := ReadResponseHead(br, Limits{}, &h); err != nil {
		t.Fatal(err)
	}
	if h.Status != 103 || h.Framing("GET") != NoBody {
		t.Fatalf("first head: status %d framing %v, want 103 no-body", h.Status, h.Framing("GET"))
	}
	link := h.Fields[0]
	if err := ReadResponseHead(br, Limits{}, &h); err != nil {
		t.Fatal(err)
	}
	if h.Status != 200 || h.ContentLength != 2 {
		t.Fatalf("second head: status %d length %d, want 200 and 2", h.Status, h.ContentLength)
	}
	if link != (Field{"Link", "</a.css>; rel=preload"}) {
		t.Errorf("field kept from the 103 changed to %q", link)
	}
	body, err := io.ReadAll(NewBodyReader(br, &h, h.Framing("GET")))
	if err != nil || string(body) != "hi" {
		t.Errorf("body = %q, %v; want \"hi\"", body, err)
	}
}

func TestReadResponseHeadInvalid(t *testing.T) {
	const ok = "HTTP/1.1 200 OK\r\n"
	tests := []struct {
		name  string
		in    string
		lim   Limits
		class failure.Class
		param *failure.Param
	}{
		{name: "HTTP/0.9 body", in: "<html><body>hi</body></html>\r\n", class: failure.HTTPProtocolError},
		{name: "TLS record", in: "\x15\x03\x03\x00\x02\x02\x46", class: failure.HTTPProtocolError},
		{name: "lowercase name", in: "http/1.1 200 OK\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "leading empty line", in: "\r\nHTTP/1.1 200 OK\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "HTTP/2.0", in: "HTTP/2.0 200 OK\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "HTTP/1.2", in: "HTTP/1.2 200 OK\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "HTTP/0.9 version", in: "HTTP/0.9 200 OK\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "two-digit version", in: "HTTP/1.10 200 OK\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "two-digit status", in: "HTTP/1.1 20 OK\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "status below 100", in: "HTTP/1.1 099 OK\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "four-digit status", in: "HTTP/1.1 2000 OK\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "signed status", in: "HTTP/1.1 +20 OK\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "two spaces before status", in: "HTTP/1.1  200 OK\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "tab after status", in: "HTTP/1.1 200\tOK\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "NUL in reason", in: "HTTP/1.1 200 O\x00K\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "bare CR in status line", in: "HTTP/1.1 200 O\rK\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "bare CR in value", in: ok + "A: x\ry\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "bare CR ends a line", in: ok + "A: x\rB: y\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "obs-fold", in: ok + "A: x\r\n y\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "whitespace before first field", in: ok + " A: x\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "whitespace before colon", in: ok + "A : x\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "invalid name byte", in: ok + "A@B: x\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "non-ASCII name", in: ok + "Caf\xc3\xa9: x\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "empty name", in: ok + ": x\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "no colon", in: ok + "just words\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "NUL in value", in: ok + "A: x\x00y\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "control in value", in: ok + "A: x\x01y\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "DEL in value", in: ok + "A: x\x7fy\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "different Content-Lengths", in: ok + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "Content-Length list", in: ok + "Content-Length: 5, 5\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "negative Content-Length", in: ok + "Content-Length: -1\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "signed Content-Length", in: ok + "Content-Length: +1\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "empty Content-Length", in: ok + "Content-Length:\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "overflowing Content-Length", in: ok + "Content-Length: 9223372036854775808\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "Transfer-Encoding with Content-Length", in: ok + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "Transfer-Encoding on HTTP/1.0", in: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "chunked twice", in: ok + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", class: failure.HTTPProtocolError},
		{name: "empty Transfer-Encoding", in: ok + "Transfer-Encoding: ,\r\n\r\n", class: failure.HTTPProtocolError},
		{
			name: "gzip alone", in: ok + "Transfer-Encoding: gzip\r\n\r\n",
			class: failure.HTTPResponseTransferCoding, param: &failure.Param{Key: "coding", Value: "gzip", Kind: failure.String},
		},
		{
			name: "gzip before chunked", in: ok + "Transfer-Encoding: GZIP, chunked\r\n\r\n",
			class: failure.HTTPResponseTransferCoding, param: &failure.Param{Key: "coding", Value: "gzip", Kind: failure.String},
		},
		{
			name: "chunked not final", in: ok + "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n",
			class: failure.HTTPResponseTransferCoding, param: &failure.Param{Key: "coding", Value: "identity", Kind: failure.String},
		},
		{
			name: "section over the limit", in: ok + "A: " + strings.Repeat("a", 100) + "\r\n\r\n", lim: Limits{HeaderSection: 64},
			class: failure.HTTPResponseHeaderSectionSize, param: &failure.Param{Key: "header-section-size", Int: 64, Kind: failure.Integer},
		},
		{
			name: "section over the limit by its final CRLF", in: ok + "A: b\r\n\r\n", lim: Limits{HeaderSection: len(ok) + 7},
			class: failure.HTTPResponseHeaderSectionSize, param: &failure.Param{Key: "header-section-size", Int: int64(len(ok) + 7), Kind: failure.Integer},
		},
		{
			name: "line over the limit", in: ok + "X-Big: " + strings.Repeat("a", 100) + "\r\n\r\n", lim: Limits{HeaderLine: 64},
			class: failure.HTTPResponseHeaderSize, param: &failure.Param{Key: "header-name", Value: "x-big", Kind: failure.String},
		},
		{
			name: "line over the limit and the section", in: ok + "X-Big: " + strings.Repeat("a", 200) + "\r\n\r\n", lim: Limits{HeaderLine: 64, HeaderSection: 128},
			class: failure.HTTPResponseHeaderSize, param: &failure.Param{Key: "header-name", Value: "x-big", Kind: failure.String},
		},
		{name: "line over the limit without a colon", in: ok + strings.Repeat("a", 100) + "\r\n\r\n", lim: Limits{HeaderLine: 64}, class: failure.HTTPProtocolError},
		{name: "status line over the limit", in: "HTTP/1.1 200 " + strings.Repeat("a", 100) + "\r\n\r\n", lim: Limits{HeaderLine: 64}, class: failure.HTTPProtocolError},
		{name: "truncated in the status line", in: "HTTP/1.1 20", class: failure.HTTPProtocolError},
		{name: "truncated before the empty line", in: ok + "A: b\r\n", class: failure.HTTPProtocolError},
		{name: "no response", in: "", class: failure.ConnectionTerminated},
	}
	for _, tt := range tests {
		for _, shape := range readerShapes {
			t.Run(tt.name+"/"+shape.name, func(t *testing.T) {
				var h ResponseHead
				err := ReadResponseHead(shape.new(tt.in), tt.lim, &h)
				fe, ok := failure.As(err)
				if !ok {
					t.Fatalf("err = %v, want a *failure.Error", err)
				}
				if fe.Class != tt.class || fe.Phase != failure.PhaseReadHead {
					t.Fatalf("err = %v (%v in %v), want %v in read_head", err, fe.Class, fe.Phase, tt.class)
				}
				if fe.Details == "" {
					t.Errorf("err %v has no details", err)
				}
				if tt.param != nil {
					if p, ok := fe.Param(tt.param.Key); !ok || p != *tt.param {
						t.Errorf("param %s = %+v, want %+v", tt.param.Key, p, *tt.param)
					}
				}
			})
		}
	}
}

// TestReadResponseHeadEndOfStream pins the two ways a connection can end
// during a head: before any byte, which the transport may retry, and after
// some.
func TestReadResponseHeadEndOfStream(t *testing.T) {
	tests := []struct {
		name    string
		in      io.Reader
		class   failure.Class
		isNoRsp bool
		cause   error
	}{
		{"EOF before any byte", strings.NewReader(""), failure.ConnectionTerminated, true, io.EOF},
		{"unexpected EOF before any byte", iotest.ErrReader(io.ErrUnexpectedEOF), failure.ConnectionTerminated, true, io.ErrUnexpectedEOF},
		{"EOF inside the head", strings.NewReader("HTTP/1.1 200 OK\r\n"), failure.HTTPProtocolError, false, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h ResponseHead
			err := ReadResponseHead(bufio.NewReader(tt.in), Limits{}, &h)
			if got := failure.ClassOf(err); got != tt.class {
				t.Errorf("class = %v, want %v (%v)", got, tt.class, err)
			}
			if errors.Is(err, ErrNoResponse) != tt.isNoRsp {
				t.Errorf("errors.Is(%v, ErrNoResponse) = %v, want %v", err, !tt.isNoRsp, tt.isNoRsp)
			}
			if !errors.Is(err, tt.cause) {
				t.Errorf("err %v does not wrap %v", err, tt.cause)
			}
		})
	}
}

// errTimeout stands for a connection error only the transport classifies.
type errTimeout struct{}

func (errTimeout) Error() string { return "i/o timeout" }
func (errTimeout) Timeout() bool { return true }

// TestReadResponseHeadPassesIOErrors checks that the reader's own errors
// come back wrapped and unclassified, wherever in the head they strike.
func TestReadResponseHeadPassesIOErrors(t *testing.T) {
	tests := []struct{ name, prefix string }{
		{"before any byte", ""},
		{"inside a field line", "HTTP/1.1 200 OK\r\nA:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h ResponseHead
			in := io.MultiReader(strings.NewReader(tt.prefix), iotest.ErrReader(errTimeout{}))
			err := ReadResponseHead(bufio.NewReader(in), Limits{}, &h)
			if !errors.Is(err, errTimeout{}) {
				t.Fatalf("err = %v, want it to wrap the reader's error", err)
			}
			if _, ok := failure.As(err); ok {
				t.Errorf("err = %v is classified; the transport classifies I/O errors", err)
			}
		})
	}
}
