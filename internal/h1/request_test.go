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

func TestReadRequestHeadValid(t *testing.T) {
	bigValue := strings.Repeat("v", 60<<10)
	tests := []struct {
		name  string
		in    string
		want  RequestHead
		frame Framing
	}{
		{
			name: "typical GET",
			in:   "GET /a/b?c=d&e HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
			want: RequestHead{Method: "GET", Target: "/a/b?c=d&e", Path: "/a/b", RawQuery: "c=d&e", Major: 1, Minor: 1,
				Host: "example.com", ContentLength: -1, Fields: []Field{{"Host", "example.com"}, {"Accept", "*/*"}}},
			frame: NoBody,
		},
		{
			name: "POST with a length",
			in:   "POST /upload HTTP/1.1\r\nHost: example.com:8080\r\nContent-Length: 11\r\n\r\n",
			want: RequestHead{Method: "POST", Target: "/upload", Path: "/upload", Major: 1, Minor: 1, Host: "example.com:8080",
				ContentLength: 11, Fields: []Field{{"Host", "example.com:8080"}, {"Content-Length", "11"}}},
			frame: Length,
		},
		{
			name: "Content-Length zero is a length",
			in:   "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
			want: RequestHead{Method: "POST", Target: "/", Path: "/", Major: 1, Minor: 1, Host: "h",
				ContentLength: 0, Fields: []Field{{"Host", "h"}, {"Content-Length", "0"}}},
			frame: Length,
		},
		{
			name: "identical repeated Content-Length",
			in:   "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n",
			want: RequestHead{Method: "PUT", Target: "/", Path: "/", Major: 1, Minor: 1, Host: "h",
				ContentLength: 5, Fields: []Field{{"Host", "h"}, {"Content-Length", "5"}, {"content-length", "5"}}},
			frame: Length,
		},
		{
			name: "chunked, case-insensitive, with empty list elements",
			in:   "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: , Chunked\r\n\r\n",
			want: RequestHead{Method: "POST", Target: "/", Path: "/", Major: 1, Minor: 1, Host: "h",
				ContentLength: -1, Chunked: true, Fields: []Field{{"Host", "h"}, {"Transfer-Encoding", ", Chunked"}}},
			frame: Chunked,
		},
		{
			name: "OWS around framing values is trimmed, not smuggled",
			in:   "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\tchunked \r\n\r\n",
			want: RequestHead{Method: "POST", Target: "/", Path: "/", Major: 1, Minor: 1, Host: "h",
				ContentLength: -1, Chunked: true, Fields: []Field{{"Host", "h"}, {"Transfer-Encoding", "chunked"}}},
			frame: Chunked,
		},
		{
			name: "Content-Length with OWS",
			in:   "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \t 7 \r\n\r\n",
			want: RequestHead{Method: "POST", Target: "/", Path: "/", Major: 1, Minor: 1, Host: "h",
				ContentLength: 7, Fields: []Field{{"Host", "h"}, {"Content-Length", "7"}}},
			frame: Length,
		},
		{
			name: "Expect 100-continue",
			in:   "PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
			want: RequestHead{Method: "PUT", Target: "/f", Path: "/f", Major: 1, Minor: 1, Host: "h", ContentLength: 1, ExpectContinue: true,
				Fields: []Field{{"Host", "h"}, {"Expect", "100-Continue"}, {"Content-Length", "1"}}},
			frame: Length,
		},
		{
			name: "WebSocket upgrade",
			in:   "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
			want: RequestHead{Method: "GET", Target: "/ws", Path: "/ws", Major: 1, Minor: 1, Host: "h", ContentLength: -1, Upgrade: "websocket",
				Fields: []Field{{"Host", "h"}, {"Connection", "keep-alive, Upgrade"}, {"Upgrade", "websocket"}}},
			frame: NoBody,
		},
		{
			name: "Upgrade without Connection: upgrade is ignored",
			in:   "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n\r\n",
			want: RequestHead{Method: "GET", Target: "/", Path: "/", Major: 1, Minor: 1, Host: "h", ContentLength: -1,
				Fields: []Field{{"Host", "h"}, {"Upgrade", "h2c"}}},
			frame: NoBody,
		},
		{
			name: "Connection close",
			in:   "GET / HTTP/1.1\r\nHost: h\r\nConnection: x-a, CLOSE\r\n\r\n",
			want: RequestHead{Method: "GET", Target: "/", Path: "/", Major: 1, Minor: 1, Host: "h", ContentLength: -1, Close: true,
				Fields: []Field{{"Host", "h"}, {"Connection", "x-a, CLOSE"}}},
			frame: NoBody,
		},
		{
			name:  "HTTP/1.0 without Host closes",
			in:    "GET / HTTP/1.0\r\n\r\n",
			want:  RequestHead{Method: "GET", Target: "/", Path: "/", Major: 1, Minor: 0, ContentLength: -1, Close: true},
			frame: NoBody,
		},
		{
			name: "HTTP/1.0 keep-alive ignores Expect and Upgrade",
			in:   "GET / HTTP/1.0\r\nConnection: keep-alive, upgrade\r\nExpect: 100-continue\r\nUpgrade: websocket\r\n\r\n",
			want: RequestHead{Method: "GET", Target: "/", Path: "/", Major: 1, Minor: 0, ContentLength: -1,
				Fields: []Field{{"Connection", "keep-alive, upgrade"}, {"Expect", "100-continue"}, {"Upgrade", "websocket"}}},
			frame: NoBody,
		},
		{
			name: "HTTP/1.2 reads as 1.1",
			in:   "GET / HTTP/1.2\r\nHost: h\r\n\r\n",
			want: RequestHead{Method: "GET", Target: "/", Path: "/", Major: 1, Minor: 1, Host: "h", ContentLength: -1,
				Fields: []Field{{"Host", "h"}}},
			frame: NoBody,
		},
		{
			name: "absolute-form authority wins over Host",
			in:   "GET HTTP://Example.com:81?q HTTP/1.1\r\nHost: other\r\n\r\n",
			want: RequestHead{Method: "GET", Target: "HTTP://Example.com:81?q", Path: "/", RawQuery: "q", Major: 1, Minor: 1,
				Host: "Example.com:81", ContentLength: -1, Fields: []Field{{"Host", "other"}}},
			frame: NoBody,
		},
		{
			name: "absolute-form https with path",
			in:   "GET https://[2001:db8::1]:8443/p%20q/?x=1 HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n",
			want: RequestHead{Method: "GET", Target: "https://[2001:db8::1]:8443/p%20q/?x=1", Path: "/p%20q/", RawQuery: "x=1", Major: 1, Minor: 1,
				Host: "[2001:db8::1]:8443", ContentLength: -1, Fields: []Field{{"Host", "[2001:db8::1]:8443"}}},
			frame: NoBody,
		},
		{
			name: "CONNECT authority-form",
			in:   "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
			want: RequestHead{Method: "CONNECT", Target: "example.com:443", Major: 1, Minor: 1, Host: "example.com:443", ContentLength: -1,
				Fields: []Field{{"Host", "example.com:443"}}},
			frame: NoBody,
		},
		{
			name: "CONNECT target wins over Host",
			in:   "CONNECT example.com:443 HTTP/1.1\r\nHost:\r\n\r\n",
			want: RequestHead{Method: "CONNECT", Target: "example.com:443", Major: 1, Minor: 1, Host: "example.com:443", ContentLength: -1,
				Fields: []Field{{"Host", ""}}},
			frame: NoBody,
		},
		{
			name: "OPTIONS asterisk-form",
			in:   "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
			want: RequestHead{Method: "OPTIONS", Target: "*", Path: "*", Major: 1, Minor: 1, Host: "h", ContentLength: -1,
				Fields: []Field{{"Host", "h"}}},
			frame: NoBody,
		},
		{
			name:  "empty Host",
			in:    "GET / HTTP/1.1\r\nHost:\r\n\r\n",
			want:  RequestHead{Method: "GET", Target: "/", Path: "/", Major: 1, Minor: 1, ContentLength: -1, Fields: []Field{{"Host", ""}}},
			frame: NoBody,
		},
		{
			name: "Host forms: IPv4, empty port, sub-delims, pct-encoded",
			in:   "GET / HTTP/1.1\r\nHost: 10.0.0.1:\r\nX: 1\r\n\r\n",
			want: RequestHead{Method: "GET", Target: "/", Path: "/", Major: 1, Minor: 1, Host: "10.0.0.1:", ContentLength: -1,
				Fields: []Field{{"Host", "10.0.0.1:"}, {"X", "1"}}},
			frame: NoBody,
		},
		{
			name:  "leading empty lines are skipped",
			in:    "\r\n\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
			want:  RequestHead{Method: "GET", Target: "/", Path: "/", Major: 1, Minor: 1, Host: "h", ContentLength: -1, Fields: []Field{{"Host", "h"}}},
			frame: NoBody,
		},
		{
			name: "bare LF line ends",
			in:   "GET / HTTP/1.1\nHost: h\nA: b\n\n",
			want: RequestHead{Method: "GET", Target: "/", Path: "/", Major: 1, Minor: 1, Host: "h", ContentLength: -1,
				Fields: []Field{{"Host", "h"}, {"A", "b"}}},
			frame: NoBody,
		},
		{
			name: "OWS trimmed, obs-text and UTF-8 kept",
			in:   "GET /caf\xc3\xa9 HTTP/1.1\r\nHost:h\r\nA: \t x y \t\r\nB:\r\nC: caf\xe9\r\n\r\n",
			want: RequestHead{Method: "GET", Target: "/caf\xc3\xa9", Path: "/caf\xc3\xa9", Major: 1, Minor: 1, Host: "h", ContentLength: -1,
				Fields: []Field{{"Host", "h"}, {"A", "x y"}, {"B", ""}, {"C", "caf\xe9"}}},
			frame: NoBody,
		},
		{
			name: "Transfer_Encoding is another field",
			in:   "POST / HTTP/1.1\r\nHost: h\r\nTransfer_Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
			want: RequestHead{Method: "POST", Target: "/", Path: "/", Major: 1, Minor: 1, Host: "h", ContentLength: 3,
				Fields: []Field{{"Host", "h"}, {"Transfer_Encoding", "chunked"}, {"Content-Length", "3"}}},
			frame: Length,
		},
		{
			name: "extension method",
			in:   "PROPFIND /dav HTTP/1.1\r\nHost: h\r\n\r\n",
			want: RequestHead{Method: "PROPFIND", Target: "/dav", Path: "/dav", Major: 1, Minor: 1, Host: "h", ContentLength: -1,
				Fields: []Field{{"Host", "h"}}},
			frame: NoBody,
		},
		{
			name: "large section under the limit",
			in:   "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + bigValue + "\r\nX-Big: " + bigValue + "\r\n\r\n",
			want: RequestHead{Method: "GET", Target: "/", Path: "/", Major: 1, Minor: 1, Host: "h", ContentLength: -1,
				Fields: []Field{{"Host", "h"}, {"X-Big", bigValue}, {"X-Big", bigValue}}},
			frame: NoBody,
		},
	}
	for _, tt := range tests {
		for _, shape := range readerShapes {
			t.Run(tt.name+"/"+shape.name, func(t *testing.T) {
				var h RequestHead
				br := shape.new(tt.in + "rest")
				if err := ReadRequestHead(br, Limits{}, &h); err != nil {
					t.Fatalf("ReadRequestHead: %v", err)
				}
				assertRequestHead(t, &h, &tt.want)
				if got := h.Framing(); got != tt.frame {
					t.Errorf("Framing() = %v, want %v", got, tt.frame)
				}
				if rest, _ := io.ReadAll(br); string(rest) != "rest" {
					t.Errorf("left %q after the head, want %q", rest, "rest")
				}
			})
		}
	}
}

func assertRequestHead(t *testing.T, got, want *RequestHead) {
	t.Helper()
	if got.Method != want.Method || got.Target != want.Target || got.Major != want.Major || got.Minor != want.Minor {
		t.Errorf("request line = %q %q HTTP/%d.%d, want %q %q HTTP/%d.%d",
			got.Method, got.Target, got.Major, got.Minor, want.Method, want.Target, want.Major, want.Minor)
	}
	if got.Path != want.Path || got.RawQuery != want.RawQuery || got.Host != want.Host {
		t.Errorf("path, query, host = %q, %q, %q; want %q, %q, %q", got.Path, got.RawQuery, got.Host, want.Path, want.RawQuery, want.Host)
	}
	if got.ContentLength != want.ContentLength || got.Chunked != want.Chunked || got.Close != want.Close ||
		got.ExpectContinue != want.ExpectContinue || got.Upgrade != want.Upgrade {
		t.Errorf("length %d chunked %v close %v expect %v upgrade %q; want length %d chunked %v close %v expect %v upgrade %q",
			got.ContentLength, got.Chunked, got.Close, got.ExpectContinue, got.Upgrade,
			want.ContentLength, want.Chunked, want.Close, want.ExpectContinue, want.Upgrade)
	}
	if !slices.Equal(got.Fields, want.Fields) {
		t.Errorf("fields = %q, want %q", got.Fields, want.Fields)
	}
}

// TestReadRequestHeadInvalid covers each rule, and each request smuggling
// vector by name: every one is refused, never repaired.
func TestReadRequestHeadInvalid(t *testing.T) {
	const get = "GET / HTTP/1.1\r\nHost: h\r\n"
	const post = "POST / HTTP/1.1\r\nHost: h\r\n"
	tests := []struct {
		name   string
		in     string
		lim    Limits
		status int
	}{
		// Request line (RFC 9112 §3).
		{name: "HTTP/0.9 request", in: "GET /\r\n\r\n", status: 400},
		{name: "lowercase HTTP name", in: "GET / http/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "two spaces after method", in: "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "two spaces before version", in: "GET /  HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "trailing space after version", in: "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", status: 400},
		{name: "tab as separator", in: "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "space in target", in: "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "tab in target", in: "GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "NUL in target", in: "GET /a\x00b HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "DEL in target", in: "GET /a\x7fb HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "method not a token", in: "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "non-ASCII method", in: "G\xc3\x89T / HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "request line starts with a space", in: " GET / HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "TLS handshake", in: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", status: 400},
		{name: "binary garbage", in: "\x00\x01\x02\r\n\r\n", status: 400},
		{name: "two-digit minor version", in: "GET / HTTP/1.10\r\nHost: h\r\n\r\n", status: 400},
		{name: "HTTP/2.0 without the preface", in: "GET / HTTP/2.0\r\nHost: h\r\n\r\n", status: 505},
		{name: "HTTP/0.9 version", in: "GET / HTTP/0.9\r\nHost: h\r\n\r\n", status: 505},
		{name: "HTTP/3.0", in: "GET / HTTP/3.0\r\nHost: h\r\n\r\n", status: 505},
		{name: "too many leading empty lines", in: strings.Repeat("\r\n", maxLeadingEmptyLines+1) + get + "\r\n", status: 400},
		{name: "bare CR in request line", in: "GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},

		// Request target (RFC 9112 §3.2).
		{name: "fragment", in: "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "bad percent-encoding in path", in: "GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "truncated percent-encoding in path", in: "GET /a%4 HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "relative target", in: "GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "authority-form without CONNECT", in: "GET h:80 HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "asterisk-form without OPTIONS", in: "GET * HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "CONNECT without port", in: "CONNECT h HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "CONNECT with a path", in: "CONNECT /x HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "absolute-form with another scheme", in: "GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "absolute-form with userinfo", in: "GET http://u:p@h/ HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "absolute-form with empty host", in: "GET http:///a HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "absolute-form with bad port", in: "GET http://h:x/ HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},

		// Host (RFC 9112 §3.2).
		{name: "HTTP/1.1 without Host", in: "GET / HTTP/1.1\r\nA: b\r\n\r\n", status: 400},
		{name: "absolute-form without Host", in: "GET http://h/ HTTP/1.1\r\n\r\n", status: 400},
		{name: "two Host fields", in: get + "Host: h\r\n\r\n", status: 400},
		{name: "two different Host fields", in: get + "host: evil\r\n\r\n", status: 400},
		{name: "Host list", in: "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", status: 400},
		{name: "Host with userinfo", in: "GET / HTTP/1.1\r\nHost: u@h\r\n\r\n", status: 400},
		{name: "Host with a path", in: "GET / HTTP/1.1\r\nHost: h/x\r\n\r\n", status: 400},
		{name: "Host with a space", in: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", status: 400},
		{name: "Host port not numeric", in: "GET / HTTP/1.1\r\nHost: h:8o\r\n\r\n", status: 400},
		{name: "Host port too large", in: "GET / HTTP/1.1\r\nHost: h:65536\r\n\r\n", status: 400},
		{name: "Host with two ports", in: "GET / HTTP/1.1\r\nHost: h:1:2\r\n\r\n", status: 400},
		{name: "Host port only", in: "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", status: 400},
		{name: "Host unbracketed IPv6", in: "GET / HTTP/1.1\r\nHost: 2001:db8::1\r\n\r\n", status: 400},
		{name: "Host IPv6 with zone", in: "GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]\r\n\r\n", status: 400},
		{name: "Host bracketed IPv4", in: "GET / HTTP/1.1\r\nHost: [10.0.0.1]\r\n\r\n", status: 400},
		{name: "Host unclosed bracket", in: "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", status: 400},
		{name: "Host bad percent-encoding", in: "GET / HTTP/1.1\r\nHost: a%g1\r\n\r\n", status: 400},

		// Field lines (RFC 9112 §5).
		{name: "whitespace before colon", in: get + "A : b\r\n\r\n", status: 400},
		{name: "tab before colon", in: get + "A\t: b\r\n\r\n", status: 400},
		{name: "obs-fold", in: get + "A: b\r\n c\r\n\r\n", status: 400},
		{name: "obs-fold with tab", in: get + "A: b\r\n\tc\r\n\r\n", status: 400},
		{name: "whitespace before the first field", in: "GET / HTTP/1.1\r\n Host: h\r\n\r\n", status: 400},
		{name: "field name not a token", in: get + "A(b): c\r\n\r\n", status: 400},
		{name: "non-ASCII field name", in: get + "Caf\xc3\xa9: x\r\n\r\n", status: 400},
		{name: "empty field name", in: get + ": x\r\n\r\n", status: 400},
		{name: "no colon", in: get + "just words\r\n\r\n", status: 400},
		{name: "NUL in value", in: get + "A: x\x00y\r\n\r\n", status: 400},
		{name: "control in value", in: get + "A: x\x0by\r\n\r\n", status: 400},
		{name: "DEL in value", in: get + "A: x\x7fy\r\n\r\n", status: 400},
		{name: "bare CR in value", in: get + "A: x\ry\r\n\r\n", status: 400},
		{name: "bare CR ends a field line", in: get + "A: x\rTransfer-Encoding: chunked\r\n\r\n", status: 400},
		{name: "bare CR ends the head", in: get + "\r\r\n", status: 400},

		// Content-Length (RFC 9110 §8.6, RFC 9112 §6.3).
		{name: "different Content-Lengths", in: post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", status: 400},
		{name: "Content-Length list", in: post + "Content-Length: 5, 6\r\n\r\n", status: 400},
		{name: "Content-Length list of equal values", in: post + "Content-Length: 5, 5\r\n\r\n", status: 400},
		{name: "same length spelt differently", in: post + "Content-Length: 5\r\nContent-Length: 05\r\n\r\n", status: 400},
		{name: "Content-Length with a plus", in: post + "Content-Length: +5\r\n\r\n", status: 400},
		{name: "negative Content-Length", in: post + "Content-Length: -1\r\n\r\n", status: 400},
		{name: "Content-Length with inner space", in: post + "Content-Length: 1 0\r\n\r\n", status: 400},
		{name: "Content-Length in hex", in: post + "Content-Length: 0x10\r\n\r\n", status: 400},
		{name: "empty Content-Length", in: post + "Content-Length:\r\n\r\n", status: 400},
		{name: "Content-Length with a vertical tab", in: post + "Content-Length: \x0b5\r\n\r\n", status: 400},
		{name: "Content-Length with a leading space in the name", in: "POST / HTTP/1.1\r\n Content-Length: 5\r\nHost: h\r\n\r\n", status: 400},
		{name: "Content-Length after a folded line", in: post + "X: a\r\n Content-Length: 5\r\n\r\n", status: 400},
		{name: "overflowing Content-Length", in: post + "Content-Length: 9223372036854775808\r\n\r\n", status: 400},

		// Transfer-Encoding (RFC 9112 §6.1): CL.TE, TE.CL and TE.TE.
		{name: "CL.TE", in: post + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400},
		{name: "TE.CL", in: post + "Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n", status: 400},
		{name: "TE.CL with Content-Length zero", in: post + "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", status: 400},
		{name: "TE in HTTP/1.0", in: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400},
		{name: "TE.TE xchunked", in: post + "Transfer-Encoding: xchunked\r\n\r\n", status: 400},
		{name: "TE.TE chunked then identity", in: post + "Transfer-Encoding: chunked, identity\r\n\r\n", status: 400},
		{name: "TE.TE chunked then identity field", in: post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", status: 400},
		{name: "TE.TE duplicated chunked", in: post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400},
		{name: "TE.TE chunked twice in a list", in: post + "Transfer-Encoding: chunked, chunked\r\n\r\n", status: 400},
		{name: "TE.TE space before colon", in: post + "Transfer-Encoding : chunked\r\n\r\n", status: 400},
		{name: "TE.TE tab before colon", in: post + "Transfer-Encoding\t: chunked\r\n\r\n", status: 400},
		{name: "TE.TE value folded onto the next line", in: post + "Transfer-Encoding:\r\n chunked\r\n\r\n", status: 400},
		{name: "TE.TE vertical tab", in: post + "Transfer-Encoding: \x0bchunked\r\n\r\n", status: 400},
		{name: "TE.TE NUL after chunked", in: post + "Transfer-Encoding: chunked\x00\r\n\r\n", status: 400},
		{name: "TE.TE bare CR before the name", in: post + "X: a\rTransfer-Encoding: chunked\r\n\r\n", status: 400},
		{name: "TE.TE chunked with a parameter", in: post + "Transfer-Encoding: chunked;q=1\r\n\r\n", status: 400},
		{name: "TE.TE quoted chunked", in: post + "Transfer-Encoding: \"chunked\"\r\n\r\n", status: 400},
		{name: "TE.TE empty value", in: post + "Transfer-Encoding:\r\n\r\n", status: 400},
		{name: "TE.TE only commas", in: post + "Transfer-Encoding: , ,\r\n\r\n", status: 400},
		{name: "identity alone", in: post + "Transfer-Encoding: identity\r\n\r\n", status: 400},
		{name: "gzip alone", in: post + "Transfer-Encoding: gzip\r\n\r\n", status: 400},
		{name: "gzip before chunked", in: post + "Transfer-Encoding: gzip, chunked\r\n\r\n", status: 501},
		{name: "gzip field before chunked field", in: post + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", status: 501},
		{name: "invalid coding before chunked", in: post + "Transfer-Encoding: g@zip, chunked\r\n\r\n", status: 400},

		// Limits (RFC 9112 §3, RFC 6585 §5).
		{name: "section over the limit", in: get + "A: " + strings.Repeat("a", 100) + "\r\n\r\n", lim: Limits{HeaderSection: 64}, status: 431},
		{name: "line over the limit", in: get + "X-Big: " + strings.Repeat("a", 100) + "\r\n\r\n", lim: Limits{HeaderLine: 64}, status: 431},
		{name: "line over the limit without a name", in: get + strings.Repeat("a", 100) + "\r\n\r\n", lim: Limits{HeaderLine: 64}, status: 400},
		{name: "request line over the limit", in: "GET /" + strings.Repeat("a", 100) + " HTTP/1.1\r\n\r\n", lim: Limits{HeaderLine: 64}, status: 414},
		{name: "method over the limit", in: strings.Repeat("G", 100) + " / HTTP/1.1\r\n\r\n", lim: Limits{HeaderLine: 64}, status: 400},
		{name: "empty lines count toward the section", in: "\r\n\r\n" + get + "\r\n", lim: Limits{HeaderSection: len(get) + 3}, status: 431},

		// Truncation.
		{name: "truncated in the request line", in: "GET / HT", status: 400},
		{name: "truncated before the empty line", in: get, status: 400},
	}
	for _, tt := range tests {
		for _, shape := range readerShapes {
			t.Run(tt.name+"/"+shape.name, func(t *testing.T) {
				var h RequestHead
				err := ReadRequestHead(shape.new(tt.in), tt.lim, &h)
				assertRequestError(t, err, tt.status)
			})
		}
	}
}

func assertRequestError(t *testing.T, err error, status int) {
	t.Helper()
	fe, ok := failure.As(err)
	if !ok {
		t.Fatalf("err = %v, want a *failure.Error", err)
	}
	if fe.Class != failure.HTTPRequestError || fe.Phase != failure.PhaseReadRequest {
		t.Fatalf("err = %v (%v in %v), want http_request_error in read_request", err, fe.Class, fe.Phase)
	}
	if fe.Status() != status {
		t.Errorf("status = %d, want %d (%v)", fe.Status(), status, err)
	}
	if fe.Details == "" {
		t.Errorf("err %v has no details", err)
	}
}

// TestReadRequestHeadEndOfStream pins how a connection may end: quietly
// before a request begins, as a 400 inside one.
func TestReadRequestHeadEndOfStream(t *testing.T) {
	tests := []struct {
		name   string
		in     io.Reader
		status int // 0: io.EOF, unwrapped
	}{
		{"EOF before any byte", strings.NewReader(""), 0},
		{"unexpected EOF before any byte", iotest.ErrReader(io.ErrUnexpectedEOF), 0},
		{"EOF after empty lines", strings.NewReader("\r\n\r\n"), 0},
		{"EOF after a CR", strings.NewReader("\r\n\r"), 0},
		{"EOF inside the request line", strings.NewReader("GET / HTTP/1.1"), 400},
		{"EOF inside the head", strings.NewReader("GET / HTTP/1.1\r\nHost: h\r\n"), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h RequestHead
			err := ReadRequestHead(bufio.NewReader(tt.in), Limits{}, &h)
			if tt.status == 0 {
				if err != io.EOF {
					t.Fatalf("err = %v, want io.EOF unwrapped", err)
				}
				return
			}
			assertRequestError(t, err, tt.status)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("err %v does not wrap io.ErrUnexpectedEOF", err)
			}
		})
	}
}

// TestReadRequestHeadPassesIOErrors checks that the reader's own errors
// come back wrapped and unclassified, so an idle timeout closes quietly.
func TestReadRequestHeadPassesIOErrors(t *testing.T) {
	tests := []struct{ name, prefix string }{
		{"before any byte", ""},
		{"after empty lines", "\r\n"},
		{"inside a field line", "GET / HTTP/1.1\r\nHost:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h RequestHead
			in := io.MultiReader(strings.NewReader(tt.prefix), iotest.ErrReader(errTimeout{}))
			err := ReadRequestHead(bufio.NewReader(in), Limits{}, &h)
			if !errors.Is(err, errTimeout{}) {
				t.Fatalf("err = %v, want it to wrap the reader's error", err)
			}
			if _, ok := failure.As(err); ok {
				t.Errorf("err = %v is classified; the server loop closes quietly on I/O errors", err)
			}
		})
	}
}

// TestReadRequestHeadHTTP2Preface checks that the preface is recognised
// without consuming a byte, so the connection can go to an HTTP/2 server
// as it arrived.
func TestReadRequestHeadHTTP2Preface(t *testing.T) {
	const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	for _, shape := range readerShapes {
		t.Run(shape.name, func(t *testing.T) {
			br := shape.new(preface + "\x00\x00\x12\x04")
			var h RequestHead
			if err := ReadRequestHead(br, Limits{}, &h); err != ErrHTTP2Preface {
				t.Fatalf("err = %v, want ErrHTTP2Preface", err)
			}
			if rest, _ := io.ReadAll(br); string(rest) != preface+"\x00\x00\x12\x04" {
				t.Errorf("left %q, want the whole preface", rest)
			}
		})
	}
	t.Run("PRI as an HTTP/1.1 method", func(t *testing.T) {
		var h RequestHead
		err := ReadRequestHead(bufio.NewReader(strings.NewReader("PRI / HTTP/1.1\r\nHost: h\r\n\r\n")), Limits{}, &h)
		if err != nil || h.Method != "PRI" {
			t.Errorf("method %q, err %v; want PRI, nil", h.Method, err)
		}
	})
}

// TestReadRequestHeadReuse reads two pipelined requests into one head: the
// first one's strings survive the second read.
func TestReadRequestHeadReuse(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("POST /a HTTP/1.1\r\nHost: one\r\nContent-Length: 2\r\n\r\nhi" +
		"GET /b HTTP/1.1\r\nHost: two\r\n\r\n"))
	var h RequestHead
	if err := ReadRequestHead(br, Limits{}, &h); err != nil {
		t.Fatal(err)
	}
	path, host, field := h.Path, h.Host, h.Fields[0]
	body, err := io.ReadAll(newRequestBodyReader(br, &h))
	if err != nil || string(body) != "hi" {
		t.Fatalf("body = %q, %v; want \"hi\"", body, err)
	}
	if err := ReadRequestHead(br, Limits{}, &h); err != nil {
		t.Fatal(err)
	}
	if h.Path != "/b" || h.Host != "two" {
		t.Errorf("second request: path %q host %q, want /b and two", h.Path, h.Host)
	}
	if path != "/a" || host != "one" || field != (Field{"Host", "one"}) {
		t.Errorf("first request's strings changed to %q, %q, %q", path, host, field)
	}
}

func TestRequestBodyReader(t *testing.T) {
	tests := []struct {
		name string
		head string
		body string
		want string
	}{
		{name: "no body", head: "GET / HTTP/1.1\r\nHost: h\r\n\r\n", body: "NEXT", want: ""},
		{name: "length", head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n", body: "helloNEXT", want: "hello"},
		{name: "length zero", head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", body: "NEXT", want: ""},
		{name: "chunked", head: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", body: "5\r\nhello\r\n1;x=y\r\n!\r\n0\r\n\r\nNEXT", want: "hello!"},
		{name: "HTTP/1.0 without a length has no body", head: "POST / HTTP/1.0\r\n\r\n", body: "NEXT", want: ""},
	}
	for _, tt := range tests {
		for _, shape := range readerShapes {
			t.Run(tt.name+"/"+shape.name, func(t *testing.T) {
				br := shape.new(tt.head + tt.body)
				var h RequestHead
				if err := ReadRequestHead(br, Limits{}, &h); err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(newRequestBodyReader(br, &h))
				if err != nil || string(got) != tt.want {
					t.Fatalf("body = %q, %v; want %q", got, err, tt.want)
				}
				if rest, _ := io.ReadAll(br); string(rest) != "NEXT" {
					t.Errorf("left %q after the body, want NEXT", rest)
				}
			})
		}
	}
}

// TestRequestBodyReaderInvalid checks that a request body that breaks its
// framing or stops short is a request error, so the connection is closed.
func TestRequestBodyReaderInvalid(t *testing.T) {
	chunked := &RequestHead{Chunked: true, ContentLength: -1}
	tests := []struct {
		name      string
		head      *RequestHead
		body      string
		truncated bool // the client stopped sending
	}{
		{name: "short of Content-Length", head: &RequestHead{ContentLength: 10}, body: "hello", truncated: true},
		{name: "ends inside a chunk", head: chunked, body: "5\r\nhel", truncated: true},
		{name: "ends in a chunk-size line", head: chunked, body: "5", truncated: true},
		{name: "ends before the last chunk", head: chunked, body: "5\r\nhello\r\n", truncated: true},
		{name: "ends in the trailers", head: chunked, body: "0\r\nA: b\r\n", truncated: true},
		{name: "chunk size not hex", head: chunked, body: "g\r\nx\r\n0\r\n\r\n"},
		{name: "chunk size with a sign", head: chunked, body: "+5\r\nhello\r\n0\r\n\r\n"},
		{name: "chunk size with a 0x prefix", head: chunked, body: "0x5\r\nhello\r\n0\r\n\r\n"},
		{name: "chunk size overflows", head: chunked, body: "8000000000000000\r\n"},
		{name: "chunk size too long", head: chunked, body: "00000000000000001\r\nx\r\n0\r\n\r\n"},
		{name: "chunk size line ends in a bare LF", head: chunked, body: "5\nhello\r\n0\r\n\r\n"},
		{name: "chunk data longer than its size", head: chunked, body: "3\r\nhello\r\n0\r\n\r\n"},
		{name: "chunk data ends in a bare LF", head: chunked, body: "5\r\nhello\n0\r\n\r\n"},
		{name: "control byte in an extension", head: chunked, body: "5;a=\x01\r\nhello\r\n0\r\n\r\n"},
		{name: "obs-fold in the trailers", head: chunked, body: "0\r\nA: b\r\n c\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := io.ReadAll(newRequestBodyReader(bufio.NewReader(strings.NewReader(tt.body)), tt.head))
			assertRequestError(t, err, 400)
			if errors.Is(err, io.ErrUnexpectedEOF) != tt.truncated {
				t.Errorf("errors.Is(%v, io.ErrUnexpectedEOF) = %v, want %v", err, !tt.truncated, tt.truncated)
			}
		})
	}
}

// TestReadRequestHeadLimitBoundaries pins the limits to the byte, counting
// line terminators, whether the head arrives whole or in pieces.
func TestReadRequestHeadLimitBoundaries(t *testing.T) {
	const field = "X-Field: " + "0123456789" + "\r\n"
	const head = "GET / HTTP/1.1\r\nHost: h\r\n" + field + "\r\n"
	tests := []struct {
		name   string
		lim    Limits
		status int // 0: accepted
	}{
		{"section exactly at the limit", Limits{HeaderSection: len(head)}, 0},
		{"section one byte over", Limits{HeaderSection: len(head) - 1}, 431},
		{"line exactly at the limit", Limits{HeaderLine: len(field)}, 0},
		{"line one byte over", Limits{HeaderLine: len(field) - 1}, 431},
	}
	for _, tt := range tests {
		for _, shape := range readerShapes {
			t.Run(tt.name+"/"+shape.name, func(t *testing.T) {
				var h RequestHead
				err := ReadRequestHead(shape.new(head), tt.lim, &h)
				if tt.status == 0 {
					if err != nil {
						t.Fatalf("err = %v, want none", err)
					}
					return
				}
				assertRequestError(t, err, tt.status)
			})
		}
	}
}

// newRequestBodyReader returns a reader of the request body that follows h
// on br, framed as h.Framing says.
func newRequestBodyReader(br *bufio.Reader, h *RequestHead) *BodyReader {
	r := new(BodyReader)
	r.ResetRequest(br, h)
	return r
}
