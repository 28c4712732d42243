package gateway_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-proxy/portico/internal/faults"
)

// TestFailuresAfterTheHeadNeverLookWhole: once the head has gone out the
// status cannot change, so the client's stream is broken and the log names
// the cause with the bytes actually sent.
func TestFailuresAfterTheHeadNeverLookWhole(t *testing.T) {
	cases := []struct {
		name    string
		b       faults.Behavior
		extra   string
		method  string
		body    string
		cause   string
		minSent int
	}{
		{name: "body shorter than Content-Length", b: faults.TruncatedBody, cause: "http_response_incomplete", minSent: 10},
		{name: "reset mid-body", b: faults.ResetMidBody, cause: "http_response_incomplete"},
		{name: "bad chunk framing", b: faults.BadChunk, cause: "http_response_incomplete"},
		{name: "body stalls past the read timeout", b: faults.StallMidBody, extra: "\n    timeouts: {read: 300ms}", cause: "connection_read_timeout"},
		{
			name: "body over the configured limit", b: faults.Echo,
			method: http.MethodPost, body: strings.Repeat("x", 64<<10),
			extra: "", cause: "http_response_body_size",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startFault(t, tc.b)
			yaml := upstreamConfig(s.URL(), tc.extra)
			if tc.cause == "http_response_body_size" {
				yaml += "limits: {response_body_bytes: 1KiB}\n"
			}
			h := startGateway(t, yaml, nil)
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			req, _ := http.NewRequest(method, h.URL+"/", strings.NewReader(tc.body))
			resp := h.do(req)
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: the head should have been relayed", resp.StatusCode)
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("client read %d bytes and then %v; want an unexpected EOF (curl: exit 18)", len(got), err)
			}
			line := h.logLine(resp.Header.Get("X-Request-Id"))
			if line["error.type"] != tc.cause {
				t.Errorf("logged error.type %q, want %q", line["error.type"], tc.cause)
			}
			sent, _ := line["http.response.body.size"].(float64)
			if int(sent) != len(got) || len(got) < tc.minSent {
				t.Errorf("logged %v bytes sent, client got %d", line["http.response.body.size"], len(got))
			}
		})
	}
}

// TestUnusualButValidAnswersPassIntact: rejecting valid answers is a
// defect too.
func TestUnusualButValidAnswersPassIntact(t *testing.T) {
	t.Run("103 Early Hints is forwarded before the final response", func(t *testing.T) {
		h := startGateway(t, upstreamConfig(startFault(t, faults.EarlyHints).URL(), ""), nil)
		var hints []string
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, header textproto.MIMEHeader) error {
			if code == http.StatusEarlyHints {
				hints = append(hints, header.Get("Link"))
			}
			return nil
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, h.URL+"/", nil)
		resp := h.do(req)
		readBody(t, resp)
		if resp.StatusCode != http.StatusOK || len(hints) != 1 || hints[0] != faults.EarlyHintsLink {
			t.Errorf("final %d, hints %q", resp.StatusCode, hints)
		}
		if resp.Header.Get("Link") != "" {
			t.Errorf("the 103's Link leaked into the final response")
		}
	})
	t.Run("close-delimited body", func(t *testing.T) {
		h := startGateway(t, upstreamConfig(startFault(t, faults.CloseDelimited).URL(), ""), nil)
		resp := h.get("/")
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK || body == "" {
			t.Errorf("%d %q", resp.StatusCode, body)
		}
		if line := h.logLine(resp.Header.Get("X-Request-Id")); line["error.type"] != "" {
			t.Errorf("logged %q for a valid close-delimited body", line["error.type"])
		}
	})
	t.Run("trailers", func(t *testing.T) {
		h := startGateway(t, upstreamConfig(startFault(t, faults.Trailers).URL(), ""), nil)
		resp := h.get("/", "TE: trailers")
		readBody(t, resp)
		if got := resp.Trailer.Get(faults.TrailerName); got != faults.TrailerValue {
			t.Errorf("trailer %s = %q, want %q", faults.TrailerName, got, faults.TrailerValue)
		}
	})
	t.Run("204 without a body", func(t *testing.T) {
		h := startGateway(t, upstreamConfig(startFault(t, faults.NoContent204).URL(), ""), nil)
		resp := h.get("/")
		if body := readBody(t, resp); resp.StatusCode != http.StatusNoContent || body != "" {
			t.Errorf("%d %q", resp.StatusCode, body)
		}
	})
	t.Run("HEAD response without a body keeps its length", func(t *testing.T) {
		h := startGateway(t, upstreamConfig(startFault(t, faults.OK).URL(), ""), nil)
		get := h.get("/")
		full := readBody(t, get)
		req, _ := http.NewRequest(http.MethodHead, h.URL+"/", nil)
		resp := h.do(req)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK || body != "" || resp.ContentLength != int64(len(full)) {
			t.Errorf("HEAD: %d, body %q, Content-Length %d (GET body %d bytes)", resp.StatusCode, body, resp.ContentLength, len(full))
		}
	})
	t.Run("custom status code", func(t *testing.T) {
		h := startGateway(t, upstreamConfig(startFault(t, faults.CustomStatus).URL(), ""), nil)
		resp := h.get("/")
		readBody(t, resp)
		if resp.StatusCode != faults.CustomStatusCode {
			t.Errorf("status %d, want %d", resp.StatusCode, faults.CustomStatusCode)
		}
	})
	t.Run("many Set-Cookie fields", func(t *testing.T) {
		h := startGateway(t, upstreamConfig(startFault(t, faults.ManySetCookie).URL(), ""), nil)
		resp := h.get("/")
		readBody(t, resp)
		if n := len(resp.Header.Values("Set-Cookie")); resp.StatusCode != http.StatusOK || n != faults.SetCookieCount {
			t.Errorf("%d with %d Set-Cookie fields, want %d", resp.StatusCode, n, faults.SetCookieCount)
		}
	})
	t.Run("large header section under the limit", func(t *testing.T) {
		s, err := faults.StartWith(faults.HeaderSectionTooLarge, faults.Options{HeaderSectionSize: 200 << 10})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		h := startGateway(t, upstreamConfig(s.URL(), ""), nil)
		resp := h.get("/")
		readBody(t, resp)
		var size int
		for k, vv := range resp.Header {
			for _, v := range vv {
				size += len(k) + len(v)
			}
		}
		if resp.StatusCode != http.StatusOK || size < 190<<10 {
			t.Errorf("%d with %d header bytes", resp.StatusCode, size)
		}
	})
	t.Run("a POST body reaches the upstream whole", func(t *testing.T) {
		h := startGateway(t, upstreamConfig(startFault(t, faults.Echo).URL(), ""), nil)
		payload := bytes.Repeat([]byte("portico "), 4096)
		req, _ := http.NewRequest(http.MethodPost, h.URL+"/", bytes.NewReader(payload))
		resp := h.do(req)
		if body := readBody(t, resp); body != string(payload) {
			t.Errorf("echoed %d bytes, sent %d", len(body), len(payload))
		}
		if line := h.logLine(resp.Header.Get("X-Request-Id")); line["http.request.body.size"] != float64(len(payload)) {
			t.Errorf("logged %v request bytes", line["http.request.body.size"])
		}
	})
}

// TestWebSocketUpgradeTunnels: a valid switch is relayed and bytes then
// flow both ways through the tunnel.
func TestWebSocketUpgradeTunnels(t *testing.T) {
	h := startGateway(t, upstreamConfig(startFault(t, faults.UpgradeOK).URL(), ""), nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /chat HTTP/1.1\r\nHost: test\r\n" + strings.Join(websocketFields, "\r\n") + "\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("%d, accept %q", resp.StatusCode, resp.Header.Get("Sec-WebSocket-Accept"))
	}
	for _, msg := range []string{"hello", "through the tunnel"} {
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
			t.Fatalf("echo %q: %q, %v", msg, got, err)
		}
	}
	conn.(*net.TCPConn).CloseWrite()
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after closing our side: %q, %v", rest, err)
	}
	line := h.logLine(resp.Header.Get("X-Request-Id"))
	if line["http.response.status_code"] != float64(101) || line["error.type"] != "" {
		t.Errorf("logged %v %v", line["http.response.status_code"], line["error.type"])
	}
}

// TestEarlyAnswerToAnUploadKeepsThePoolHealthy: an upstream may answer
// before it has read the request body (RFC 9112 §9.3); the answer is
// relayed, and the connection it cut short is not reused for the next
// request.
func TestEarlyAnswerToAnUploadKeepsThePoolHealthy(t *testing.T) {
	app := startRawUpstream(t, func(c net.Conn, req *http.Request) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly")
		io.Copy(io.Discard, req.Body)
	})
	h := startGateway(t, upstreamConfig("http://"+app, ""), nil)
	for i := range 20 {
		req, _ := http.NewRequest(http.MethodPost, h.URL+"/", bytes.NewReader(make([]byte, 256<<10)))
		resp := h.do(req)
		if body := readBody(t, resp); resp.StatusCode != http.StatusOK || body != "early" {
			t.Fatalf("upload %d: %d %q (%s)", i, resp.StatusCode, body, resp.Header.Get("Proxy-Status"))
		}
	}
}

// TestBodilessAnswersKeepTheUpstreamConnection: a HEAD answer or a 204 is
// whole with its head, so its upstream connection goes back to the pool
// instead of being closed.
func TestBodilessAnswersKeepTheUpstreamConnection(t *testing.T) {
	for _, tc := range []struct {
		name   string
		b      faults.Behavior
		method string
	}{
		{"HEAD", faults.OK, http.MethodHead},
		{"204", faults.NoContent204, http.MethodGet},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := startFault(t, tc.b)
			h := startGateway(t, upstreamConfig(app.URL(), ""), nil)
			for range 3 {
				req, _ := http.NewRequest(tc.method, h.URL+"/", nil)
				readBody(t, h.do(req))
			}
			resp, err := testClient.Get("http://" + h.g.AdminAddr().String() + "/api/upstreams")
			if err != nil {
				t.Fatal(err)
			}
			if body := readBody(t, resp); !strings.Contains(body, `"idle_connections": 1`) {
				t.Errorf("after three %s answers the pool holds no idle connection:\n%s", tc.name, body)
			}
		})
	}
}

// TestClientLeavingAbandonsTheUpstreamExchange: a client that closes its
// connection while its request waits on a slow upstream cancels the
// request; the upstream connection is closed rather than kept waiting for
// an answer no one will read, and the log says the client left (499).
func TestClientLeavingAbandonsTheUpstreamExchange(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	requested := make(chan struct{})
	upstreamClosed := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			upstreamClosed <- err
			return
		}
		close(requested)
		// Never answer; wait for the proxy to give up on the connection.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = br.ReadByte()
		upstreamClosed <- err
	}()
	// Timeouts far beyond the test's own wait: only the client's leaving
	// can end the exchange in time.
	h := startGateway(t, upstreamConfig("http://"+ln.Addr().String(), "\n    timeouts: {response_header: 60s, read: 60s}"), nil)

	client, err := net.Dial("tcp", strings.TrimPrefix(h.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(client, "GET /slow HTTP/1.1\r\nHost: app.test\r\nX-Request-Id: leaving-client\r\n\r\n")
	select {
	case <-requested:
	case err := <-upstreamClosed:
		t.Fatalf("upstream never got the request: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("upstream never got the request")
	}
	client.Close()

	select {
	case err := <-upstreamClosed:
		if !errors.Is(err, io.EOF) {
			t.Errorf("upstream connection ended with %v, want the proxy closing it (EOF)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream connection stayed open after the client left")
	}
	line := h.logLine("leaving-client")
	if line["http.response.status_code"] != float64(499) {
		t.Errorf("logged status %v, want 499; line: %v", line["http.response.status_code"], line)
	}
}

// TestResetEndsACloseDelimitedBodyAsIncomplete: a body that ends with
// the connection (no length, no chunks) is whole only if the connection
// closes cleanly; a reset, however soon it follows the last bytes, must
// never pass for the end.
func TestResetEndsACloseDelimitedBodyAsIncomplete(t *testing.T) {
	app := startRawUpstream(t, func(c net.Conn, _ *http.Request) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n0123456789")
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
	h := startGateway(t, upstreamConfig("http://"+app, ""), nil)
	for i := range 20 {
		resp := h.get("/", "X-Request-Id: reset-"+strconv.Itoa(i))
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Fatalf("round %d: the client got %q as a whole body; want it cut", i, got)
		}
		line := h.logLine("reset-" + strconv.Itoa(i))
		if line["error.type"] != "http_response_incomplete" {
			t.Errorf("round %d: logged error.type %v, want http_response_incomplete", i, line["error.type"])
		}
	}
}

// TestClientThatStopsReadingIsCut: a client that keeps its connection open
// but takes no more of a large response is disconnected after the send
// timeout; the upstream exchange behind it ends too, and the log says the
// client stopped reading.
func TestClientThatStopsReadingIsCut(t *testing.T) {
	upstreamDone := make(chan error, 1)
	addr := startRawUpstream(t, func(c net.Conn, req *http.Request) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
		chunk := []byte(strings.Repeat("x", 32<<10))
		for {
			if _, err := c.Write(chunk); err != nil {
				upstreamDone <- err
				return
			}
		}
	})
	h := startGateway(t, upstreamConfig("http://"+addr, "\n    timeouts: {response_header: 60s, read: 60s}"), nil,
		harnessOptions{sendTimeout: 300 * time.Millisecond})

	client, err := net.Dial("tcp", strings.TrimPrefix(h.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	io.WriteString(client, "GET /big HTTP/1.1\r\nHost: app.test\r\nX-Request-Id: stalled-client\r\n\r\n")

	line := h.logLine("stalled-client")
	if line["http.response.status_code"] != float64(499) {
		t.Errorf("logged status %v, want 499; line: %v", line["http.response.status_code"], line)
	}
	if msg, _ := line["error.message"].(string); !strings.Contains(msg, "stopped reading") {
		t.Errorf("logged error.message %q, want it to say the client stopped reading", msg)
	}
	select {
	case <-upstreamDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream kept sending after the client was cut")
	}
}

// TestIdleUpstreamConnectionsAgeOut: an upstream connection is reused
// while younger than idle_timeout and replaced, and closed, once older.
func TestIdleUpstreamConnectionsAgeOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 8)
	closed := make(chan struct{}, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			go func() {
				defer func() { closed <- struct{}{} }()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}()
		}
	}()
	const idle = 300 * time.Millisecond
	h := startGateway(t, upstreamConfig("http://"+ln.Addr().String(), "\n    idle_timeout: 300ms"), nil)

	get := func() {
		t.Helper()
		resp := h.get("/")
		io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200", resp.StatusCode)
		}
	}
	get()
	get()
	if n := len(accepted); n != 1 {
		t.Fatalf("two requests in quick succession opened %d upstream connections, want 1", n)
	}
	time.Sleep(idle + idle/2) // the age under test
	get()
	if n := len(accepted); n != 2 {
		t.Fatalf("a request after idle_timeout found %d upstream connections opened in all, want a second one", n)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection idle past idle_timeout was never closed")
	}
}

// TestBytesAfterAResponseAreNotReadAsTheNext: an upstream that sends more
// than the response it framed leaves its connection unfit for reuse; the
// next request goes out on a fresh connection and is answered properly.
func TestBytesAfterAResponseAreNotReadAsTheNext(t *testing.T) {
	addr := startRawUpstream(t, func(c net.Conn, req *http.Request) {
		if req.URL.Path == "/overlong" {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")
	})
	h := startGateway(t, upstreamConfig("http://"+addr, ""), nil)
	for _, tc := range []struct{ path, body string }{{"/overlong", "ok"}, {"/next", "fresh"}} {
		resp := h.get(tc.path)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != tc.body {
			t.Fatalf("GET %s: %d %q, want 200 %q", tc.path, resp.StatusCode, body, tc.body)
		}
	}
}

// TestIdleConnectionWithStrayBytesIsNotReused: bytes an upstream sends on
// an idle connection, after the response they would follow, are never
// taken for the next request's response.
func TestIdleConnectionWithStrayBytesIsNotReused(t *testing.T) {
	sendStray, straySent := make(chan struct{}), make(chan struct{})
	addr := startRawUpstream(t, func(c net.Conn, req *http.Request) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")
		if req.URL.Path == "/first" {
			go func() {
				<-sendStray
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")
				close(straySent)
			}()
		}
	})
	h := startGateway(t, upstreamConfig("http://"+addr, ""), nil)
	for _, path := range []string{"/first", "/second"} {
		if path == "/second" {
			// The first response is whole and its connection idle: the
			// stray bytes come after it, as a separate arrival.
			close(sendStray)
			<-straySent
			time.Sleep(5 * time.Millisecond) // idle long enough to be checked
		}
		resp := h.get(path)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "fresh" {
			t.Fatalf("GET %s: %d %q, want 200 \"fresh\"", path, resp.StatusCode, body)
		}
	}
}

// TestPostAfterUpstreamClosedIdleConnection: a POST, which cannot be sent
// twice, never goes out on a connection the upstream closed while it was
// idle (its keep-alive timeout), so it gets no 502.
func TestPostAfterUpstreamClosedIdleConnection(t *testing.T) {
	closed := make(chan struct{}, 4)
	addr := startRawUpstream(t, func(c net.Conn, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		if req.URL.Path == "/first" {
			c.Close() // as an upstream's idle timeout would, later
			closed <- struct{}{}
		}
	})
	h := startGateway(t, upstreamConfig("http://"+addr, ""), nil)
	resp := h.get("/first")
	io.ReadAll(resp.Body)
	resp.Body.Close()
	<-closed
	time.Sleep(5 * time.Millisecond) // idle long enough to be checked

	resp, err := http.Post(h.URL+"/second", "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Fatalf("POST after the upstream closed its idle connection: %d %q, want 200 \"ok\"", resp.StatusCode, body)
	}
}
