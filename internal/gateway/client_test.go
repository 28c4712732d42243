package gateway_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-proxy/portico/internal/faults"
	"github.com/portico-proxy/portico/internal/proxystatus"
)

// rawExchange writes raw bytes to the gateway and reads one response; it
// also reports whether the gateway closed the connection after it.
func rawExchange(t *testing.T, h *harness, request string) (resp *http.Response, body string, closed bool) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", request, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// Whatever the client sent after the bad request must not be answered:
	// the connection ends.
	rest, err := io.ReadAll(br)
	closed = err == nil && len(rest) == 0
	if len(rest) > 0 {
		t.Errorf("more bytes after the answer (a smuggled request answered?): %q", rest)
	}
	return resp, string(b), closed
}

// TestMalformedRequestsAreRefusedAndNeverForwarded: every smuggling vector
// and malformed head gets portico's own 400 (or 431), with Proxy-Status,
// never reaches the upstream, and ends the connection, so nothing after it
// on the connection is read as a request (RFC 9112 §6.1, §6.3).
func TestMalformedRequestsAreRefusedAndNeverForwarded(t *testing.T) {
	app := startFault(t, faults.OK)
	h := startGateway(t, upstreamConfig(app.URL(), ""), nil)
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	cases := []struct {
		name    string
		request string
		status  int
	}{
		{"Content-Length with Transfer-Encoding", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"two different Content-Lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc" + smuggled, 400},
		{"Content-Length list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc" + smuggled, 400},
		{"signed Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc" + smuggled, 400},
		{"obfuscated Transfer-Encoding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"space before the colon", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"obsolete line folding", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n" + smuggled, 400},
		{"no Host in HTTP/1.1", "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n" + smuggled, 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + smuggled, 400},
		{"bare CR in a field", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n" + smuggled, 400},
		{"oversize header", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 70<<10) + "\r\n\r\n" + smuggled, 431},
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n" + smuggled, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := app.RequestCount()
			resp, body, closed := rawExchange(t, h, tc.request)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d; body %q", resp.StatusCode, tc.status, body)
			}
			if !closed {
				t.Errorf("connection left open after a request whose framing is untrusted")
			}
			members, err := proxystatus.ParseHeader(resp.Header)
			if tc.name != "bad chunk size" {
				if err != nil || len(members) != 1 {
					t.Fatalf("Proxy-Status %q: %v", resp.Header.Values("Proxy-Status"), err)
				}
				if v, _ := members[0].Param("error"); v.Str != "http_request_error" {
					t.Errorf("Proxy-Status error %q", v.Str)
				}
				if got := app.RequestCount() - before; got != 0 {
					t.Errorf("%d requests reached the upstream", got)
				}
				line := h.logLine(resp.Header.Get("X-Request-Id"))
				if line["error.type"] != "http_request_error" {
					t.Errorf("logged %v", line["error.type"])
				}
			}
		})
	}
}

func TestKeepAliveAndPipelining(t *testing.T) {
	app := startFault(t, faults.OK)
	h := startGateway(t, upstreamConfig(app.URL(), ""), nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	// Three requests in one write: answered in order on one connection.
	io.WriteString(conn, "GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\nGET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	br := bufio.NewReader(conn)
	for _, path := range []string{"/one", "/two", "/three"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("X-Echo-Path"); got != path {
			t.Errorf("answer for %s came for %s", got, path)
		}
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after Connection: close, read %v", err)
	}
}

func TestExpectContinue(t *testing.T) {
	echo := startFault(t, faults.Echo)
	h := startGateway(t, upstreamConfig(echo.URL(), ""), nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("before sending the body: %q, %v", line, err)
	}
	br.ReadString('\n') // the empty line ending the interim head
	io.WriteString(conn, "hello")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := io.ReadAll(resp.Body); string(body) != "hello" {
		t.Errorf("echoed %q", body)
	}
}

func TestHTTP10ClientGetsAWholeAnswer(t *testing.T) {
	sse := startFault(t, faults.CloseDelimited)
	h := startGateway(t, upstreamConfig(sse.URL(), ""), nil)
	resp, body, closed := rawExchange(t, h, "GET / HTTP/1.0\r\n\r\n")
	if resp.StatusCode != 200 || body == "" || !closed {
		t.Errorf("HTTP/1.0: %d, %d bytes, closed %v", resp.StatusCode, len(body), closed)
	}
}

func TestCustomReasonPhrasePasses(t *testing.T) {
	app := startFault(t, faults.CustomStatus)
	h := startGateway(t, upstreamConfig(app.URL(), ""), nil)
	resp := h.get("/")
	readBody(t, resp)
	if resp.Status != "299 "+faults.CustomReason {
		t.Errorf("status line %q, want %q", resp.Status, "299 "+faults.CustomReason)
	}
}

// TestHTTP2PriorKnowledge: a client that opens with the HTTP/2 preface is
// served over HTTP/2 by the same proxy.
func TestHTTP2PriorKnowledge(t *testing.T) {
	app := startFault(t, faults.OK)
	closedAddr, err := faults.ClosedAddr()
	if err != nil {
		t.Fatal(err)
	}
	h := startGateway(t, `
trusted_networks: ["127.0.0.0/8"]
upstreams:
  app:
    targets: ["`+app.URL()+`"]
  down:
    targets: ["http://`+closedAddr+`"]
routes:
  - upstream: app
  - path_prefix: /down
    upstream: down
`, nil)
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &protocols}, Timeout: 10 * time.Second}
	resp, err := client.Get(h.URL + "/h2")
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || resp.Header.Get("X-Echo-Path") != "/h2" {
		t.Errorf("%s %d path %q", resp.Proto, resp.StatusCode, resp.Header.Get("X-Echo-Path"))
	}
	resp, err = client.Get(h.URL + "/down")
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != 502 || !strings.Contains(resp.Header.Get("Proxy-Status"), "error=connection_refused") {
		t.Errorf("over HTTP/2: %d %q", resp.StatusCode, resp.Header.Get("Proxy-Status"))
	}
}

// TestHTTP2ProtocolErrorIsCountedAndLogged: an HTTP/2 client that breaks
// the protocol is answered by net/http's server (GOAWAY with
// PROTOCOL_ERROR), and the operator still sees it: counted by name in
// portico_http2_errors_total and logged as a warning.
func TestHTTP2ProtocolErrorIsCountedAndLogged(t *testing.T) {
	app := startFault(t, faults.OK)
	h := startGateway(t, upstreamConfig(app.URL(), ""), nil)
	c := openHTTP2(t, h)
	// WINDOW_UPDATE on the connection with an increment of 0: a
	// connection error (RFC 9113 §6.9).
	const zeroWindowUpdate = "\x00\x00\x04\x08\x00\x00\x00\x00\x00" + "\x00\x00\x00\x00"
	if _, err := io.WriteString(c, zeroWindowUpdate); err != nil {
		t.Fatal(err)
	}
	frames := bufio.NewReader(c)
	for {
		var head [9]byte
		if _, err := io.ReadFull(frames, head[:]); err != nil {
			t.Fatalf("reading frames until GOAWAY: %v", err)
		}
		payload := make([]byte, int(head[0])<<16|int(head[1])<<8|int(head[2]))
		if _, err := io.ReadFull(frames, payload); err != nil {
			t.Fatal(err)
		}
		if head[3] != 0x7 { // GOAWAY
			continue
		}
		if len(payload) < 8 || payload[7] != 0x1 || payload[4]|payload[5]|payload[6] != 0 {
			t.Fatalf("GOAWAY payload % x, want error code PROTOCOL_ERROR (1)", payload)
		}
		break
	}
	if n := h.counted("portico_http2_errors_total", `error="frame_windowupdate_zero_inc_conn"`); n != 1 {
		t.Errorf("portico_http2_errors_total{error=\"frame_windowupdate_zero_inc_conn\"} = %v, want 1", n)
	}
	h.opLog.await(t, "level=WARN msg=\"http2: server connection error from 127.0.0.1:")
}

// TestRequestBodyLimit: a body over limits.request_body_bytes is answered
// 413: at once, without the upstream, when its Content-Length says so; as
// soon as it grows past the limit when it streams chunked.
func TestRequestBodyLimit(t *testing.T) {
	var requests atomic.Int64
	addr := startRawUpstream(t, func(c net.Conn, req *http.Request) {
		requests.Add(1)
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	h := startGateway(t, upstreamConfig("http://"+addr, "")+"limits: {request_body_bytes: 1KiB}\n", nil)
	post := func(body io.Reader, length int64) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, h.URL+"/", body)
		req.ContentLength = length
		return h.do(req)
	}

	resp := post(strings.NewReader(strings.Repeat("x", 1024)), 1024)
	if readBody(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("a body of exactly the limit: %d, want 200", resp.StatusCode)
	}
	before := requests.Load()
	resp = post(strings.NewReader(strings.Repeat("x", 1025)), 1025)
	readBody(t, resp)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(resp.Header.Get("Proxy-Status"), "http_request_error") {
		t.Errorf("Content-Length over the limit: %d %q, want 413 http_request_error", resp.StatusCode, resp.Header.Get("Proxy-Status"))
	}
	if requests.Load() != before {
		t.Error("the upstream was asked although Content-Length was over the limit")
	}
	// Chunked: the length is known only as it streams.
	resp = post(io.MultiReader(strings.NewReader(strings.Repeat("x", 800)), strings.NewReader(strings.Repeat("y", 800))), -1)
	readBody(t, resp)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a chunked body growing past the limit: %d, want 413", resp.StatusCode)
	}
}
