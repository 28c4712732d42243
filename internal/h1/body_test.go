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

func TestBodyReaderValid(t *testing.T) {
	tests := []struct {
		name     string
		framing  Framing
		length   int64
		in       string
		want     string
		trailers []Field
	}{
		{name: "length", framing: Length, length: 5, in: "helloNEXT", want: "hello"},
		{name: "length zero", framing: Length, length: 0, in: "NEXT", want: ""},
		{name: "no body", framing: NoBody, in: "NEXT", want: ""},
		{name: "tunnel leaves the bytes to the caller", framing: Tunnel, in: "NEXT", want: ""},
		{name: "until close", framing: UntilClose, in: "all of it", want: "all of it"},
		{name: "until close, empty", framing: UntilClose, in: "", want: ""},
		{name: "chunked", framing: Chunked, in: "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\nNEXT", want: "hello, world"},
		{name: "chunked, empty", framing: Chunked, in: "0\r\n\r\nNEXT", want: ""},
		{name: "chunked, hex cases and leading zeros", framing: Chunked, in: "000A\r\n0123456789\r\nb\r\nabcdefghijk\r\n00\r\n\r\nNEXT", want: "0123456789abcdefghijk"},
		{
			name: "chunked, extensions", framing: Chunked,
			in: "5;name=value\r\nhello\r\n1 ; a ; b=\"q;uoted\"\r\n!\r\n0;last\r\n\r\nNEXT", want: "hello!",
		},
		{name: "chunked, whitespace after size", framing: Chunked, in: "5 \t\r\nhello\r\n0\r\n\r\nNEXT", want: "hello"},
		{
			name: "chunked, trailers", framing: Chunked,
			in: "3\r\nabc\r\n0\r\nServer-Timing: db;dur=53\r\nX-Checksum:  abc \r\nX-Checksum: def\r\n\r\nNEXT", want: "abc",
			trailers: []Field{{"Server-Timing", "db;dur=53"}, {"X-Checksum", "abc"}, {"X-Checksum", "def"}},
		},
		{
			name: "chunked, trailer longer than the read buffer", framing: Chunked,
			in: "0\r\nX-Long: " + strings.Repeat("x", 300) + "\r\n\r\nNEXT", want: "",
			trailers: []Field{{"X-Long", strings.Repeat("x", 300)}},
		},
	}
	for _, tt := range tests {
		for _, shape := range readerShapes {
			t.Run(tt.name+"/"+shape.name, func(t *testing.T) {
				br := shape.new(tt.in)
				r := NewBodyReader(br, &ResponseHead{ContentLength: tt.length}, tt.framing)
				got, err := io.ReadAll(r)
				if err != nil {
					t.Fatalf("ReadAll: %v", err)
				}
				if string(got) != tt.want {
					t.Errorf("body = %q, want %q", got, tt.want)
				}
				if !slices.Equal(r.Trailers(), tt.trailers) {
					t.Errorf("trailers = %q, want %q", r.Trailers(), tt.trailers)
				}
				if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
					t.Errorf("Read after the end = %d, %v; want 0, EOF", n, err)
				}
				if tt.framing != UntilClose {
					if rest, _ := io.ReadAll(br); string(rest) != "NEXT" && tt.in != "" {
						t.Errorf("left %q after the body, want %q", rest, "NEXT")
					}
				}
			})
		}
	}
	for _, tt := range tests {
		for _, shape := range readerShapes {
			t.Run("Next/"+tt.name+"/"+shape.name, func(t *testing.T) {
				br := shape.new(tt.in)
				r := NewBodyReader(br, &ResponseHead{ContentLength: tt.length}, tt.framing)
				got, err := readAllNext(r)
				if err != nil {
					t.Fatalf("Next: %v", err)
				}
				if string(got) != tt.want {
					t.Errorf("body = %q, want %q", got, tt.want)
				}
				if !slices.Equal(r.Trailers(), tt.trailers) {
					t.Errorf("trailers = %q, want %q", r.Trailers(), tt.trailers)
				}
				if tt.framing != UntilClose {
					if rest, _ := io.ReadAll(br); string(rest) != "NEXT" && tt.in != "" {
						t.Errorf("left %q after the body, want %q", rest, "NEXT")
					}
				}
			})
		}
	}
}

// readAllNext reads a body to its end through Next, copying each view
// before the next call invalidates it.
func readAllNext(r *BodyReader) ([]byte, error) {
	var all []byte
	for {
		b, err := r.Next()
		all = append(all, b...)
		if err == io.EOF {
			return all, nil
		}
		if err != nil {
			return all, err
		}
	}
}

func TestBodyReaderIncomplete(t *testing.T) {
	tests := []struct {
		name    string
		framing Framing
		length  int64
		in      io.Reader
		eof     bool // the cause is the connection ending
	}{
		{name: "shorter than Content-Length", framing: Length, length: 10, in: strings.NewReader("short"), eof: true},
		{name: "nothing of Content-Length", framing: Length, length: 10, in: strings.NewReader(""), eof: true},
		{name: "close-delimited cut", framing: UntilClose, in: io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(io.ErrUnexpectedEOF)), eof: true},
		{name: "closed mid-chunk", framing: Chunked, in: strings.NewReader("5\r\nhel"), eof: true},
		{name: "closed before the chunk's CRLF", framing: Chunked, in: strings.NewReader("5\r\nhello"), eof: true},
		{name: "closed before the last chunk", framing: Chunked, in: strings.NewReader("5\r\nhello\r\n"), eof: true},
		{name: "closed in the trailers", framing: Chunked, in: strings.NewReader("0\r\nA: b\r\n"), eof: true},
		{name: "closed in a size line", framing: Chunked, in: strings.NewReader("5"), eof: true},
		{name: "size not hex", framing: Chunked, in: strings.NewReader("x\r\nhello\r\n0\r\n\r\n")},
		{name: "empty size line", framing: Chunked, in: strings.NewReader("\r\n")},
		{name: "signed size", framing: Chunked, in: strings.NewReader("+5\r\nhello\r\n0\r\n\r\n")},
		{name: "garbage after size", framing: Chunked, in: strings.NewReader("5x\r\nhello\r\n0\r\n\r\n")},
		{name: "size overflows int64", framing: Chunked, in: strings.NewReader("8000000000000000\r\n")},
		{name: "size of 17 digits", framing: Chunked, in: strings.NewReader("00000000000000005\r\nhello\r\n0\r\n\r\n")},
		{name: "bare LF after size", framing: Chunked, in: strings.NewReader("5\nhello\r\n0\r\n\r\n")},
		{name: "bare CR in size line", framing: Chunked, in: strings.NewReader("5\r;x\r\nhello\r\n0\r\n\r\n")},
		{name: "control in extension", framing: Chunked, in: strings.NewReader("5;a\x00\r\nhello\r\n0\r\n\r\n")},
		{name: "size line too long", framing: Chunked, in: strings.NewReader("5;" + strings.Repeat("x", 5000) + "\r\nhello\r\n0\r\n\r\n")},
		{name: "data longer than size", framing: Chunked, in: strings.NewReader("3\r\nhello\r\n0\r\n\r\n")},
		{name: "bare LF after data", framing: Chunked, in: strings.NewReader("5\r\nhello\n0\r\n\r\n")},
		{name: "obs-fold in trailers", framing: Chunked, in: strings.NewReader("0\r\nA: b\r\n c\r\n\r\n")},
		{name: "trailer without colon", framing: Chunked, in: strings.NewReader("0\r\nnonsense\r\n\r\n")},
		{name: "trailer with bare LF", framing: Chunked, in: strings.NewReader("0\r\nA: b\n\r\n")},
		{name: "trailer section too large", framing: Chunked, in: strings.NewReader("0\r\n" + strings.Repeat("A: "+strings.Repeat("b", 1000)+"\r\n", 70) + "\r\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewBodyReader(bufio.NewReaderSize(tt.in, 16), &ResponseHead{ContentLength: tt.length}, tt.framing)
			_, err := io.ReadAll(r)
			fe, ok := failure.As(err)
			if !ok || fe.Class != failure.HTTPResponseIncomplete || fe.Phase != failure.PhaseReadBody {
				t.Fatalf("err = %v, want http_response_incomplete in read_body", err)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) != tt.eof {
				t.Errorf("errors.Is(%v, io.ErrUnexpectedEOF) = %v, want %v", err, !tt.eof, tt.eof)
			}
			if _, again := r.Read(make([]byte, 8)); again != err {
				t.Errorf("Read after the failure = %v, want the same error", again)
			}
		})
	}
	for _, tt := range tests {
		t.Run("Next/"+tt.name, func(t *testing.T) {
			if seeker, ok := tt.in.(io.Seeker); ok {
				seeker.Seek(0, io.SeekStart)
			} else {
				t.Skip("input cannot be read twice")
			}
			r := NewBodyReader(bufio.NewReaderSize(tt.in, 16), &ResponseHead{ContentLength: tt.length}, tt.framing)
			_, err := readAllNext(r)
			if fe, ok := failure.As(err); !ok || fe.Class != failure.HTTPResponseIncomplete || errors.Is(err, io.ErrUnexpectedEOF) != tt.eof {
				t.Fatalf("err = %v, want http_response_incomplete (unexpected EOF: %v)", err, tt.eof)
			}
		})
	}
}

// TestBodyReaderPassesIOErrors checks that errors of the connection other
// than its end come back unclassified, so a read timeout stays a timeout.
func TestBodyReaderPassesIOErrors(t *testing.T) {
	tests := []struct {
		name    string
		framing Framing
		prefix  string
	}{
		{"length", Length, "abc"},
		{"until close", UntilClose, "abc"},
		{"chunk data", Chunked, "5\r\nab"},
		{"chunk-size line", Chunked, "5\r\nhello\r\n"},
		{"trailers", Chunked, "0\r\nA: b\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := io.MultiReader(strings.NewReader(tt.prefix), iotest.ErrReader(errTimeout{}))
			_, err := io.ReadAll(NewBodyReader(bufio.NewReader(in), &ResponseHead{ContentLength: 100}, tt.framing))
			if !errors.Is(err, errTimeout{}) {
				t.Fatalf("err = %v, want it to wrap the reader's error", err)
			}
			if _, ok := failure.As(err); ok {
				t.Errorf("err = %v is classified; the transport classifies I/O errors", err)
			}
		})
	}
}

// TestBodyReaderEndsWithLastData pins that a body whose end is already
// buffered ends on the read that returns its last bytes, so the transport
// can reuse the connection without another read.
func TestBodyReaderEndsWithLastData(t *testing.T) {
	tests := []struct {
		name    string
		framing Framing
		in      string
	}{
		{"length", Length, "hello"},
		{"chunked", Chunked, "5\r\nhello\r\n0\r\nA: b\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewBodyReader(bufio.NewReader(strings.NewReader(tt.in)), &ResponseHead{ContentLength: 5}, tt.framing)
			n, err := r.Read(make([]byte, 64))
			if n != 5 || err != io.EOF {
				t.Errorf("Read = %d, %v; want 5, EOF", n, err)
			}
		})
	}
}

// TestBodyReaderReset reuses one reader for two bodies.
func TestBodyReaderReset(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("0\r\nA: b\r\n\r\n2\r\nhi\r\n0\r\n\r\n"))
	r := NewBodyReader(br, &ResponseHead{}, Chunked)
	if _, err := io.ReadAll(r); err != nil || len(r.Trailers()) != 1 {
		t.Fatalf("first body: %v, trailers %q", err, r.Trailers())
	}
	r.Reset(br, &ResponseHead{}, Chunked)
	if r.Trailers() != nil {
		t.Errorf("trailers before the end = %q, want none", r.Trailers())
	}
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "hi" || r.Trailers() != nil {
		t.Errorf("second body = %q, %v, trailers %q; want \"hi\" and none", got, err, r.Trailers())
	}
}
