package h1

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/portico-proxy/portico/internal/failure"
)

func TestWriteResponseHead(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		reason        string
		fields        []Field
		contentLength int64
		chunked       bool
		close         bool
		want          string
	}{
		{
			name: "200 with a length, fields in order", status: 200, contentLength: 5,
			fields: []Field{{"Content-Type", "text/plain"}, {"Set-Cookie", "a=1"}, {"set-cookie", "b=2"}},
			want:   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nContent-Length: 5\r\n\r\n",
		},
		{
			name: "chunked", status: 200, contentLength: -1, chunked: true,
			want: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		},
		{
			name: "empty body says so", status: 404, contentLength: 0,
			want: "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
		},
		{
			name: "close-delimited with close", status: 200, contentLength: -1, close: true,
			want: "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
		},
		{
			name: "custom reason passes", status: 200, reason: "Okay Then", contentLength: 0,
			want: "HTTP/1.1 200 Okay Then\r\nContent-Length: 0\r\n\r\n",
		},
		{
			name: "unregistered code keeps the SP", status: 599, contentLength: 0,
			want: "HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n",
		},
		{
			name: "caller's framing fields are skipped", status: 200, contentLength: 3,
			fields: []Field{{"Content-Length", "99"}, {"transfer-encoding", "chunked"}, {"X-A", "b"}},
			want:   "HTTP/1.1 200 OK\r\nX-A: b\r\nContent-Length: 3\r\n\r\n",
		},
		{
			name: "100 Continue has no framing", status: 100, contentLength: 0,
			want: "HTTP/1.1 100 Continue\r\n\r\n",
		},
		{
			name: "101 keeps Connection and Upgrade", status: 101, contentLength: -1,
			fields: []Field{{"Connection", "Upgrade"}, {"Upgrade", "websocket"}},
			want:   "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
		},
		{
			name: "204 has no framing", status: 204, contentLength: 0, close: true,
			want: "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
		},
		{
			name: "304 keeps the representation's length", status: 304, contentLength: 1234,
			want: "HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n",
		},
		{
			name: "obs-text in a value passes", status: 200, contentLength: 0,
			fields: []Field{{"X", "caf\xe9\tx"}},
			want:   "HTTP/1.1 200 OK\r\nX: caf\xe9\tx\r\nContent-Length: 0\r\n\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := bufio.NewWriter(&buf)
			if err := WriteResponseHead(w, tt.status, tt.reason, tt.fields, tt.contentLength, tt.chunked, tt.close); err != nil {
				t.Fatal(err)
			}
			w.Flush()
			if buf.String() != tt.want {
				t.Errorf("wrote\n%q\nwant\n%q", buf.String(), tt.want)
			}
			h := http.Header{}
			for _, f := range tt.fields {
				h.Add(f.Name, f.Value)
			}
			buf.Reset()
			if err := WriteResponseHeadFromHeader(w, tt.status, tt.reason, h, tt.contentLength, tt.chunked, tt.close); err != nil {
				t.Fatal(err)
			}
			w.Flush()
			if len(tt.fields) <= 1 && buf.String() != tt.want {
				t.Errorf("from a header wrote\n%q\nwant\n%q", buf.String(), tt.want)
			}
		})
	}
}

// TestWriteResponseHeadFromHeaderSorts pins the order of a header's fields:
// sorted by name, values in order.
func TestWriteResponseHeadFromHeaderSorts(t *testing.T) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	h := http.Header{"Vary": {"Accept"}, "Set-Cookie": {"b=2", "a=1"}, "Cache-Control": {"no-store"}, "Content-Length": {"7"}}
	if err := WriteResponseHeadFromHeader(w, 502, "", h, 10, false, false); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	const want = "HTTP/1.1 502 Bad Gateway\r\nCache-Control: no-store\r\nSet-Cookie: b=2\r\nSet-Cookie: a=1\r\nVary: Accept\r\nContent-Length: 10\r\n\r\n"
	if buf.String() != want {
		t.Errorf("wrote\n%q\nwant\n%q", buf.String(), want)
	}
}

// TestWriteResponseHeadReadsBack checks that net/http reads what we write
// as we meant it.
func TestWriteResponseHeadReadsBack(t *testing.T) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	fields := []Field{{"X-A", "1"}, {"X-A", "2"}}
	if err := WriteResponseHead(w, 201, "", fields, 2, false, true); err != nil {
		t.Fatal(err)
	}
	w.WriteString("hi")
	w.Flush()
	resp, err := http.ReadResponse(bufio.NewReader(&buf), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 201 || resp.ContentLength != 2 || !resp.Close || strings.Join(resp.Header["X-A"], ",") != "1,2" {
		t.Errorf("net/http read status %d length %d close %v X-A %q", resp.StatusCode, resp.ContentLength, resp.Close, resp.Header["X-A"])
	}
}

func TestWriteResponseHeadInvalid(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		reason        string
		fields        []Field
		contentLength int64
		chunked       bool
	}{
		{name: "status below 100", status: 99},
		{name: "status above 999", status: 1000},
		{name: "CRLF in reason", status: 200, reason: "OK\r\nX: y"},
		{name: "LF in value", status: 200, fields: []Field{{"A", "b\nc"}}},
		{name: "NUL in value", status: 200, fields: []Field{{"A", "b\x00c"}}},
		{name: "colon in name", status: 200, fields: []Field{{"A:B", "c"}}},
		{name: "empty name", status: 200, fields: []Field{{"", "c"}}},
		{name: "chunked and a length", status: 200, contentLength: 3, chunked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := bufio.NewWriter(&buf)
			err := WriteResponseHead(w, tt.status, tt.reason, tt.fields, tt.contentLength, tt.chunked, false)
			if failure.ClassOf(err) != failure.ProxyInternalError {
				t.Fatalf("err = %v, want proxy_internal_error", err)
			}
			h := http.Header{}
			for _, f := range tt.fields {
				h[f.Name] = append(h[f.Name], f.Value)
			}
			err = WriteResponseHeadFromHeader(w, tt.status, tt.reason, h, tt.contentLength, tt.chunked, false)
			if failure.ClassOf(err) != failure.ProxyInternalError {
				t.Fatalf("from a header: err = %v, want proxy_internal_error", err)
			}
			w.Flush()
			if buf.Len() != 0 {
				t.Errorf("wrote %q for an invalid head", buf.String())
			}
		})
	}
}

func TestWriteResponseHeadPassesWriteErrors(t *testing.T) {
	w := bufio.NewWriterSize(errWriter{}, 16)
	err := WriteResponseHead(w, 200, "", []Field{{"X", strings.Repeat("a", 64)}}, 0, false, false)
	if !errors.Is(err, errTimeout{}) {
		t.Fatalf("err = %v, want it to wrap the writer's error", err)
	}
	if _, ok := failure.As(err); ok {
		t.Errorf("err = %v is classified", err)
	}
}
