package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// typicalHead is a ten-field response head as an application server sends
// it.
const typicalHead = "HTTP/1.1 200 OK\r\n" +
	"Date: Mon, 02 Jun 2025 10:00:00 GMT\r\n" +
	"Server: nginx/1.27.0\r\n" +
	"Content-Type: application/json; charset=utf-8\r\n" +
	"Content-Length: 1234\r\n" +
	"Connection: keep-alive\r\n" +
	"Cache-Control: private, max-age=0\r\n" +
	"Set-Cookie: session=abcdef0123456789; Path=/; HttpOnly; Secure\r\n" +
	"Vary: Accept-Encoding\r\n" +
	"X-Request-Id: 9f86d081884c7d659a2feaa0c55ad015\r\n" +
	"Strict-Transport-Security: max-age=63072000\r\n" +
	"\r\n"

func BenchmarkReadResponseHead(b *testing.B) {
	src := strings.NewReader(typicalHead)
	br := bufio.NewReader(src)
	var h ResponseHead
	b.SetBytes(int64(len(typicalHead)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(typicalHead)
		br.Reset(src)
		if err := ReadResponseHead(br, Limits{}, &h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNetHTTPReadResponse is the same head through net/http, for
// comparison.
func BenchmarkNetHTTPReadResponse(b *testing.B) {
	src := strings.NewReader(typicalHead)
	br := bufio.NewReader(src)
	req := &http.Request{Method: "GET"}
	b.SetBytes(int64(len(typicalHead)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(typicalHead)
		br.Reset(src)
		if _, err := http.ReadResponse(br, req); err != nil {
			b.Fatal(err)
		}
	}
}

// typicalRequest is a browser's GET with ten fields.
const typicalRequest = "GET /products/42?ref=home&utm_source=mail HTTP/1.1\r\n" +
	"Host: shop.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
	"Accept-Language: en-GB,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Referer: https://shop.example.com/\r\n" +
	"Connection: keep-alive\r\n" +
	"Cookie: session=abcdef0123456789; theme=dark\r\n" +
	"Upgrade-Insecure-Requests: 1\r\n" +
	"Priority: u=0, i\r\n" +
	"\r\n"

func BenchmarkReadRequestHead(b *testing.B) {
	src := strings.NewReader(typicalRequest)
	br := bufio.NewReader(src)
	var h RequestHead
	b.SetBytes(int64(len(typicalRequest)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(typicalRequest)
		br.Reset(src)
		if err := ReadRequestHead(br, Limits{}, &h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNetHTTPReadRequest is the same request through net/http, for
// comparison.
func BenchmarkNetHTTPReadRequest(b *testing.B) {
	src := strings.NewReader(typicalRequest)
	br := bufio.NewReader(src)
	b.SetBytes(int64(len(typicalRequest)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(typicalRequest)
		br.Reset(src)
		if _, err := http.ReadRequest(br); err != nil {
			b.Fatal(err)
		}
	}
}

// chunkedBody is 1 MiB in 16 KiB chunks, with the given trailers.
func chunkedBody(trailers []Field) []byte {
	var wire bytes.Buffer
	cw := NewChunkedWriter(&wire)
	chunk := bytes.Repeat([]byte("x"), 16<<10)
	for range 64 {
		cw.Write(chunk)
	}
	cw.CloseWithTrailers(trailers)
	return wire.Bytes()
}

func BenchmarkChunkedRead(b *testing.B) {
	wire := chunkedBody([]Field{{"X-Sum", "1"}})
	src := bytes.NewReader(wire)
	br := bufio.NewReaderSize(src, 32<<10)
	buf := make([]byte, 32<<10)
	var r BodyReader
	body := io.Reader(onlyReader{&r})
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(wire)
		br.Reset(src)
		r.Reset(br, &ResponseHead{}, Chunked)
		if _, err := io.CopyBuffer(io.Discard, body, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// onlyReader hides io.WriterTo-style fast paths, so the copy goes through
// Read.
type onlyReader struct{ io.Reader }

var benchHeader = http.Header{
	"Accept":          {"application/json"},
	"Accept-Encoding": {"gzip, br"},
	"User-Agent":      {"Mozilla/5.0 (X11; Linux x86_64)"},
	"X-Forwarded-For": {"203.0.113.7"},
	"X-Request-Id":    {"9f86d081884c7d659a2feaa0c55ad015"},
	"Cookie":          {"session=abcdef0123456789"},
}

func BenchmarkWriteRequestHead(b *testing.B) {
	w := bufio.NewWriter(io.Discard)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteRequestHead(w, "GET", "/api/v1/items?page=2", "app.internal", benchHeader, 0); err != nil {
			b.Fatal(err)
		}
		w.Flush()
	}
}

func BenchmarkChunkedWrite(b *testing.B) {
	w := bufio.NewWriterSize(io.Discard, 64<<10)
	cw := NewChunkedWriter(w)
	chunk := bytes.Repeat([]byte("x"), 16<<10)
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		cw.Write(chunk)
	}
}

// TestAllocations pins the allocation promises: one string per response or
// request head read, none per body read or head written.
func TestAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates and empties sync.Pools")
	}
	src := strings.NewReader(typicalHead)
	br := bufio.NewReader(src)
	var h ResponseHead
	wire := chunkedBody(nil)
	bsrc := bytes.NewReader(wire)
	bbr := bufio.NewReaderSize(bsrc, 32<<10)
	buf := make([]byte, 32<<10)
	var r BodyReader
	body := io.Reader(onlyReader{&r})
	w := bufio.NewWriter(io.Discard)
	cw := NewChunkedWriter(w)
	reqSrc := strings.NewReader(typicalRequest)
	reqBr := bufio.NewReader(reqSrc)
	var req RequestHead
	tests := []struct {
		name string
		max  float64
		run  func()
	}{
		{"ReadResponseHead", 1, func() {
			src.Reset(typicalHead)
			br.Reset(src)
			if err := ReadResponseHead(br, Limits{}, &h); err != nil {
				t.Fatal(err)
			}
		}},
		{"ReadRequestHead", 1, func() {
			reqSrc.Reset(typicalRequest)
			reqBr.Reset(reqSrc)
			if err := ReadRequestHead(reqBr, Limits{}, &req); err != nil {
				t.Fatal(err)
			}
		}},
		{"chunked request BodyReader", 0, func() {
			bsrc.Reset(wire)
			bbr.Reset(bsrc)
			r.ResetRequest(bbr, &RequestHead{Chunked: true, ContentLength: -1})
			if _, err := io.CopyBuffer(io.Discard, body, buf); err != nil {
				t.Fatal(err)
			}
		}},
		{"chunked BodyReader without trailers", 0, func() {
			bsrc.Reset(wire)
			bbr.Reset(bsrc)
			r.Reset(bbr, &ResponseHead{}, Chunked)
			if _, err := io.CopyBuffer(io.Discard, body, buf); err != nil {
				t.Fatal(err)
			}
		}},
		{"WriteRequestHead", 0, func() {
			WriteRequestHead(w, "GET", "/", "h", benchHeader, 0)
			w.Flush()
		}},
		{"WriteRequestHead with a length", 0, func() {
			WriteRequestHead(w, "POST", "/", "h", benchHeader, 4096)
			w.Flush()
		}},
		{"ChunkedWriter", 0, func() {
			cw.Reset(w)
			cw.Write(buf[:100])
			cw.Close()
			w.Flush()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, tt.run); got > tt.max {
				t.Errorf("%v allocations per run, want at most %v", got, tt.max)
			}
		})
	}
}
