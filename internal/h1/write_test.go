package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/portico-proxy/portico/internal/failure"
)

func TestWriteRequestHead(t *testing.T) {
	tests := []struct {
		name          string
		method        string
		target        string
		host          string
		header        http.Header
		contentLength int64
		want          string
	}{
		{
			name: "GET without a body", method: "GET", target: "/a?b=c", host: "example.com",
			header: http.Header{"User-Agent": {"x"}, "Accept": {"*/*"}, "X-Forwarded-For": {"10.0.0.1", "10.0.0.2"}},
			want:   "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nUser-Agent: x\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\n\r\n",
		},
		{
			name: "POST with a length", method: "POST", target: "/", host: "h", contentLength: 42,
			want: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 42\r\n\r\n",
		},
		{
			name: "empty POST says so", method: "POST", target: "/", host: "h",
			want: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
		},
		{
			name: "unknown length is chunked", method: "PUT", target: "/", host: "h", contentLength: -1,
			want: "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
		},
		{
			name: "caller's framing fields are skipped", method: "POST", target: "/", host: "h", contentLength: 3,
			header: http.Header{"Host": {"evil"}, "Content-Length": {"99"}, "Transfer-Encoding": {"chunked"}, "X-A": {"b"}},
			want:   "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-A: b\r\n\r\n",
		},
		{
			name: "no host, asterisk target", method: "OPTIONS", target: "*",
			want: "OPTIONS * HTTP/1.1\r\n\r\n",
		},
		{
			name: "UTF-8 target", method: "GET", target: "/caf\xc3\xa9", host: "h",
			want: "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A writer smaller than a field line must write the same head.
			var small bytes.Buffer
			sw := bufio.NewWriterSize(&small, 16)
			if err := WriteRequestHead(sw, tt.method, tt.target, tt.host, tt.header, tt.contentLength); err != nil {
				t.Fatal(err)
			}
			sw.Flush()
			if small.String() != tt.want {
				t.Errorf("through a 16-byte writer, wrote\n%q\nwant\n%q", small.String(), tt.want)
			}
			var buf bytes.Buffer
			w := bufio.NewWriter(&buf)
			if err := WriteRequestHead(w, tt.method, tt.target, tt.host, tt.header, tt.contentLength); err != nil {
				t.Fatal(err)
			}
			w.Flush()
			if buf.String() != tt.want {
				t.Errorf("wrote\n%q\nwant\n%q", buf.String(), tt.want)
			}
			req, err := http.ReadRequest(bufio.NewReader(&buf))
			if err != nil {
				t.Fatalf("net/http cannot read the head: %v", err)
			}
			if req.Method != tt.method || req.RequestURI != tt.target {
				t.Errorf("net/http read %s %s, want %s %s", req.Method, req.RequestURI, tt.method, tt.target)
			}
		})
	}
}

func TestWriteRequestHeadInvalid(t *testing.T) {
	tests := []struct {
		name   string
		method string
		target string
		host   string
		header http.Header
	}{
		{name: "method with space", method: "GE T", target: "/"},
		{name: "empty method", method: "", target: "/"},
		{name: "empty target", method: "GET", target: ""},
		{name: "space in target", method: "GET", target: "/a b"},
		{name: "CRLF in target", method: "GET", target: "/a\r\nX: y"},
		{name: "CRLF in host", method: "GET", target: "/", host: "h\r\nX: y"},
		{name: "CRLF in value", method: "GET", target: "/", header: http.Header{"A": {"b\r\nX: y"}}},
		{name: "NUL in value", method: "GET", target: "/", header: http.Header{"A": {"b\x00"}}},
		{name: "colon in name", method: "GET", target: "/", header: http.Header{"A:B": {"c"}}},
		{name: "empty name", method: "GET", target: "/", header: http.Header{"": {"c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := bufio.NewWriter(io.Discard)
			err := WriteRequestHead(w, tt.method, tt.target, tt.host, tt.header, 0)
			fe, ok := failure.As(err)
			if !ok || fe.Class != failure.ProxyInternalError || fe.Phase != failure.PhaseWriteRequest {
				t.Fatalf("err = %v, want proxy_internal_error in write_request", err)
			}
			if w.Buffered() != 0 {
				t.Errorf("%d bytes written of an invalid head", w.Buffered())
			}
			var fields []Field
			for k, vs := range tt.header {
				for _, v := range vs {
					fields = append(fields, Field{k, v})
				}
			}
			if tt.host != "" {
				fields = append(fields, Field{"Host", tt.host})
			}
			if err := WriteForwardedRequestHead(w, tt.method, tt.target, "", nil, nil, fields, 0); failure.ClassOf(err) != failure.ProxyInternalError || w.Buffered() != 0 {
				t.Errorf("WriteForwardedRequestHead: err = %v with %d bytes written, want proxy_internal_error and none", err, w.Buffered())
			}
		})
	}
}

func TestWritePassesIOErrors(t *testing.T) {
	w := bufio.NewWriterSize(errWriter{}, 16)
	err := WriteRequestHead(w, "GET", "/"+strings.Repeat("a", 64), "h", nil, 0)
	if !errors.Is(err, errTimeout{}) {
		t.Errorf("WriteRequestHead err = %v, want it to wrap the writer's error", err)
	}
	cw := NewChunkedWriter(errWriter{})
	if _, err := cw.Write([]byte("x")); !errors.Is(err, errTimeout{}) {
		t.Errorf("ChunkedWriter.Write err = %v, want it to wrap the writer's error", err)
	}
	if err := cw.Close(); !errors.Is(err, errTimeout{}) {
		t.Errorf("ChunkedWriter.Close err = %v, want it to wrap the writer's error", err)
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errTimeout{} }

// TestChunkedRoundTrip writes bodies with ChunkedWriter and reads them back
// with BodyReader and with net/http's chunked reader.
func TestChunkedRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		writes   []string
		trailers []Field
	}{
		{name: "no writes"},
		{name: "one write", writes: []string{"hello"}},
		{name: "empty writes skipped", writes: []string{"", "a", "", "bc"}},
		{name: "large write", writes: []string{strings.Repeat("x", 70000)}},
		{name: "trailers", writes: []string{"data"}, trailers: []Field{{"Digest", "sha-256=abc"}, {"X-N", "1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			cw := NewChunkedWriter(&buf)
			for _, s := range tt.writes {
				if n, err := cw.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if err := cw.CloseWithTrailers(tt.trailers); err != nil {
				t.Fatal(err)
			}
			wire := buf.String()
			r := NewBodyReader(bufio.NewReader(strings.NewReader(wire)), &ResponseHead{}, Chunked)
			got, err := io.ReadAll(r)
			want := strings.Join(tt.writes, "")
			if err != nil || string(got) != want {
				t.Errorf("read back %d bytes, %v; want %d bytes", len(got), err, len(want))
			}
			if !slices.Equal(r.Trailers(), tt.trailers) {
				t.Errorf("trailers = %q, want %q", r.Trailers(), tt.trailers)
			}
			req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + wire)))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := io.ReadAll(req.Body); err != nil || string(got) != want {
				t.Errorf("net/http read back %d bytes, %v; want %d bytes", len(got), err, len(want))
			}
		})
	}
}

func TestChunkedWriterMisuse(t *testing.T) {
	tests := []struct {
		name string
		use  func(*ChunkedWriter) error
	}{
		{"write after close", func(cw *ChunkedWriter) error {
			cw.Close()
			_, err := cw.Write([]byte("x"))
			return err
		}},
		{"close twice", func(cw *ChunkedWriter) error {
			cw.Close()
			return cw.Close()
		}},
		{"invalid trailer", func(cw *ChunkedWriter) error {
			return cw.CloseWithTrailers([]Field{{"X", "a\r\nb"}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.use(NewChunkedWriter(io.Discard)); failure.ClassOf(err) != failure.ProxyInternalError {
				t.Errorf("err = %v, want proxy_internal_error", err)
			}
		})
	}
}
