package faults

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testTimeout bounds every client operation; nothing here should take long.
const testTimeout = 2 * time.Second

func startServer(t *testing.T, b Behavior, o Options) *Server {
	t.Helper()
	s, err := StartWith(b, o)
	if err != nil {
		t.Fatalf("start %v: %v", b, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: testTimeout}
}

// dialRaw connects to s and sends request, for the cases where Go's client
// would hide what the server sent.
func dialRaw(t *testing.T, s *Server, request string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr(), testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	return c
}

func get(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: faults.test\r\n\r\n"
}

func TestOKEchoesRequestAndKeepsAlive(t *testing.T) {
	s := startServer(t, OK, Options{Name: "app-1"})
	client := newClient(t)
	for i := range 2 {
		req, _ := http.NewRequest(http.MethodPost, s.URL()+"/a%2Fb/c?q=1", strings.NewReader("12345"))
		req.Header.Set("X-Echo-Headers", "1")
		req.Header.Add("X-Forwarded-For", "192.0.2.1")
		var reused bool
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"X-Echo-Method":                 "POST",
			"X-Echo-Path":                   "/a%2Fb/c",
			"X-Echo-Target":                 "/a%2Fb/c?q=1",
			"X-Echo-Host":                   s.Addr(),
			"X-Echo-Body-Length":            "5",
			"X-Echo-Header-X-Forwarded-For": "192.0.2.1",
			"X-Served-By":                   "app-1",
			"X-Echo-Header-X-Echo-Headers":  "1",
			"X-Echo-Header-Content-Length":  "5",
			"X-Echo-Header-Accept-Encoding": "gzip",
		}
		for name, v := range want {
			if got := resp.Header.Get(name); got != v {
				t.Errorf("%s = %q, want %q", name, got, v)
			}
		}
		if resp.StatusCode != http.StatusOK || string(body) != "ok from app-1\n" {
			t.Errorf("got %d %q", resp.StatusCode, body)
		}
		if i == 1 && !reused {
			t.Error("second request did not reuse the connection")
		}
	}
	if got := s.RequestCount(); got != 2 {
		t.Errorf("RequestCount = %d, want 2", got)
	}
	for range 2 {
		if line := <-s.Requests(); line != "POST /a%2Fb/c?q=1 HTTP/1.1" {
			t.Errorf("request line %q", line)
		}
	}
}

func TestEchoStreamsBodyBack(t *testing.T) {
	s := startServer(t, Echo, Options{})
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest(http.MethodPost, s.URL(), pr)
	respc := make(chan *http.Response, 1)
	errc := make(chan error, 1)
	go func() {
		resp, err := newClient(t).Do(req)
		if err != nil {
			errc <- err
			return
		}
		respc <- resp
	}()
	// The first piece must come back before the request body ends.
	if _, err := io.WriteString(pw, "first "); err != nil {
		t.Fatal(err)
	}
	var resp *http.Response
	select {
	case resp = <-respc:
	case err := <-errc:
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, len("first "))
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first " {
		t.Fatalf("first piece %q, %v", buf, err)
	}
	io.WriteString(pw, "second")
	pw.Close()
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "second" {
		t.Fatalf("rest %q, %v", rest, err)
	}
	if !slices.Equal(resp.TransferEncoding, []string{"chunked"}) {
		t.Errorf("TransferEncoding = %v, want chunked", resp.TransferEncoding)
	}
}

// TestWellFormedAnswers checks the behaviours a correct proxy must pass
// through unchanged.
func TestWellFormedAnswers(t *testing.T) {
	tests := []struct {
		b     Behavior
		check func(t *testing.T, resp *http.Response, body []byte)
	}{
		{Origin502, func(t *testing.T, resp *http.Response, _ []byte) {
			if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("Proxy-Status") != OriginProxyStatus {
				t.Errorf("got %d, Proxy-Status %q", resp.StatusCode, resp.Header.Get("Proxy-Status"))
			}
		}},
		{CustomStatus, func(t *testing.T, resp *http.Response, _ []byte) {
			if resp.StatusCode != CustomStatusCode || resp.Status != "299 Custom Reason" {
				t.Errorf("status %q", resp.Status)
			}
		}},
		{NoContent204, func(t *testing.T, resp *http.Response, body []byte) {
			if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
				t.Errorf("got %d with %d body bytes", resp.StatusCode, len(body))
			}
		}},
		{Trailers, func(t *testing.T, resp *http.Response, body []byte) {
			if string(body) != "hello" || resp.Trailer.Get(TrailerName) != TrailerValue {
				t.Errorf("body %q, trailer %v", body, resp.Trailer)
			}
		}},
		{CloseDelimited, func(t *testing.T, resp *http.Response, body []byte) {
			if resp.ContentLength != -1 || !resp.Close || len(body) == 0 {
				t.Errorf("ContentLength %d, Close %v, body %q", resp.ContentLength, resp.Close, body)
			}
		}},
		{ManySetCookie, func(t *testing.T, resp *http.Response, _ []byte) {
			cookies := resp.Header.Values("Set-Cookie")
			size := 0
			for _, c := range cookies {
				size += len(c)
			}
			if len(cookies) != SetCookieCount || len(resp.Cookies()) != SetCookieCount || size < 38<<10 {
				t.Errorf("%d Set-Cookie fields of %d bytes, %d valid", len(cookies), size, len(resp.Cookies()))
			}
		}},
		{ObsFold, func(t *testing.T, resp *http.Response, _ []byte) {
			// Go's client unfolds; the raw bytes are checked in TestObsFoldOnTheWire.
			if got := resp.Header.Get("X-Folded"); got != "first second" {
				t.Errorf("X-Folded = %q", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.b.String(), func(t *testing.T) {
			s := startServer(t, tt.b, Options{})
			resp, err := newClient(t).Get(s.URL())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, resp, body)
		})
	}
}

func TestEarlyHintsSends103First(t *testing.T) {
	s := startServer(t, EarlyHints, Options{})
	var hints []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		if code == http.StatusEarlyHints {
			hints = append(hints, h.Get("Link"))
		}
		return nil
	}}
	req, _ := http.NewRequest(http.MethodGet, s.URL(), nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !slices.Equal(hints, []string{EarlyHintsLink}) {
		t.Errorf("status %d, hints %q", resp.StatusCode, hints)
	}
}

func TestObsFoldOnTheWire(t *testing.T) {
	s := startServer(t, ObsFold, Options{})
	c := dialRaw(t, s, get("/"))
	raw, _ := io.ReadAll(c)
	if !strings.Contains(string(raw), "X-Folded: first\r\n  second\r\n") {
		t.Errorf("no folded field in %q", raw)
	}
}

// TestHeadFailures checks behaviours that keep Go's client from getting a
// response at all.
func TestHeadFailures(t *testing.T) {
	tests := []struct {
		b     Behavior
		check func(t *testing.T, err error)
	}{
		{CloseBeforeHead, wantErrorIs(io.EOF)},
		{ResetBeforeHead, wantErrorIs(syscall.ECONNRESET)},
		{Silent, wantTimeout},
		{Garbage, anyError},
		{HTTP09, anyError},
		{BadStatusLine, anyError},
		{BadHeaderSyntax, anyError},
		{ConflictingContentLength, anyError},
		{UnknownTransferCoding, anyError},
		{HeaderSectionTooLarge, anyError},
	}
	for _, tt := range tests {
		t.Run(tt.b.String(), func(t *testing.T) {
			s := startServer(t, tt.b, Options{})
			tr := &http.Transport{MaxResponseHeaderBytes: 64 << 10, ResponseHeaderTimeout: 200 * time.Millisecond}
			defer tr.CloseIdleConnections()
			resp, err := tr.RoundTrip(mustRequest(t, s.URL()))
			if err == nil {
				resp.Body.Close()
				t.Fatalf("got %s, want an error", resp.Status)
			}
			tt.check(t, err)
		})
	}
}

func mustRequest(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func wantErrorIs(target error) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, target) {
			t.Errorf("error %v, want %v", err, target)
		}
	}
}

func wantTimeout(t *testing.T, err error) {
	t.Helper()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("error %v, want a timeout", err)
	}
}

// anyError accepts every error: Go's client reports these faults only as
// text, and the callers have already checked that there is one.
func anyError(*testing.T, error) {}

// TestBadFramingOnTheWire reads heads raw, where Go's client would fail or
// repair what the server sent.
func TestBadFramingOnTheWire(t *testing.T) {
	tests := []struct {
		b          Behavior
		wantFields map[string][]string
	}{
		{ConflictingContentLength, map[string][]string{"Content-Length": {"5", "6"}}},
		{ContentLengthWithTransferEncoding, map[string][]string{"Content-Length": {"5"}, "Transfer-Encoding": {"chunked"}}},
		{UnknownTransferCoding, map[string][]string{"Transfer-Encoding": {UnknownCoding}}},
	}
	for _, tt := range tests {
		t.Run(tt.b.String(), func(t *testing.T) {
			s := startServer(t, tt.b, Options{})
			c := dialRaw(t, s, get("/"))
			tp := textproto.NewReader(bufio.NewReader(c))
			if line, err := tp.ReadLine(); err != nil || line != "HTTP/1.1 200 OK" {
				t.Fatalf("status line %q, %v", line, err)
			}
			h, err := tp.ReadMIMEHeader()
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range tt.wantFields {
				if got := h.Values(name); !slices.Equal(got, want) {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestHeaderTooLarge(t *testing.T) {
	const size = 20 << 10
	s := startServer(t, HeaderTooLarge, Options{HeaderSize: size})
	c := dialRaw(t, s, get("/"))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(resp.Header.Get(HugeHeaderName)); got != size {
		t.Errorf("%s is %d bytes, want %d", HugeHeaderName, got, size)
	}
}

func TestHeaderSectionSize(t *testing.T) {
	const size = 100 << 10
	s := startServer(t, HeaderSectionTooLarge, Options{HeaderSectionSize: size})
	c := dialRaw(t, s, get("/"))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	total, longest := 0, 0
	for name, values := range resp.Header {
		for _, v := range values {
			total += len(name) + len(": ") + len(v) + len("\r\n")
			longest = max(longest, len(v))
		}
	}
	if total < size || longest > 1024 {
		t.Errorf("header section %d bytes, longest value %d; want at least %d in small fields", total, longest, size)
	}
}

// TestBodyFailures checks behaviours whose head is fine but whose body
// breaks.
func TestBodyFailures(t *testing.T) {
	tests := []struct {
		b     Behavior
		check func(t *testing.T, err error)
	}{
		{TruncatedBody, wantErrorIs(io.ErrUnexpectedEOF)},
		{ResetMidBody, wantErrorIs(syscall.ECONNRESET)},
		{BadChunk, anyError},
		{StallMidBody, wantTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.b.String(), func(t *testing.T) {
			s := startServer(t, tt.b, Options{})
			client := newClient(t)
			client.Timeout = 300 * time.Millisecond
			resp, err := client.Get(s.URL())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err == nil {
				t.Fatalf("read %q without error", body)
			}
			if tt.b != BadChunk && string(body) != partialBody {
				t.Errorf("body %q, want %q", body, partialBody)
			}
			tt.check(t, err)
		})
	}
}

func TestStopsReadingBodyBlocksWriter(t *testing.T) {
	s := startServer(t, StopsReadingBody, Options{})
	const size = 64 << 20
	c := dialRaw(t, s, "POST /upload HTTP/1.1\r\nHost: faults.test\r\nContent-Length: 67108864\r\n\r\n")
	<-s.Requests()
	c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	n, err := c.Write(make([]byte, size))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("wrote %d bytes, error %v; want the deadline to pass", n, err)
	}
}

func TestSlowHeadAnswersAfterDelay(t *testing.T) {
	const delay = 100 * time.Millisecond
	s := startServer(t, SlowHead, Options{Delay: delay})
	start := time.Now()
	resp, err := newClient(t).Get(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if elapsed := time.Since(start); elapsed < delay || resp.StatusCode != http.StatusOK {
		t.Errorf("status %d after %v, want 200 after %v", resp.StatusCode, elapsed, delay)
	}
}

func TestUpgrade(t *testing.T) {
	// The sample key and answer of RFC 6455 §1.3.
	const key, accept = "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
	request := "GET /ws HTTP/1.1\r\nHost: faults.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	tests := []struct {
		b          Behavior
		wantStatus int
		wantAccept bool
	}{
		{UpgradeOK, http.StatusSwitchingProtocols, true},
		{UpgradeBotched, http.StatusSwitchingProtocols, false},
		{UpgradeRefused, http.StatusOK, false},
	}
	for _, tt := range tests {
		t.Run(tt.b.String(), func(t *testing.T) {
			s := startServer(t, tt.b, Options{})
			c := dialRaw(t, s, request)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus || (resp.Header.Get("Sec-WebSocket-Accept") == accept) != tt.wantAccept {
				t.Fatalf("status %d, Sec-WebSocket-Accept %q", resp.StatusCode, resp.Header.Get("Sec-WebSocket-Accept"))
			}
			if tt.b != UpgradeOK {
				return
			}
			io.WriteString(c, "ping")
			got := make([]byte, 4)
			if _, err := io.ReadFull(br, got); err != nil || string(got) != "ping" {
				t.Errorf("echoed %q, %v", got, err)
			}
		})
	}
}

func TestSSEFlushesEachEvent(t *testing.T) {
	s := startServer(t, SSE, Options{})
	resp, err := newClient(t).Get(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	for n, want := range []string{"event 1", "event 2"} {
		if n > 0 {
			s.Tick()
		}
		event := readEvent(t, br)
		if event != "data: "+want {
			t.Errorf("event %d: %q", n+1, event)
		}
	}
}

// readEvent returns the data line of the next event.
func readEvent(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var data string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			return data
		}
		if strings.HasPrefix(line, "data: ") {
			data = line
		}
	}
}

func TestByPath(t *testing.T) {
	s := startServer(t, ByPath, Options{})
	client := newClient(t)
	client.Timeout = 300 * time.Millisecond
	tests := []struct {
		path       string
		wantStatus int // 0: want an error
	}{
		{"/", http.StatusOK},
		{"/demo/fail/origin-502", http.StatusBadGateway},
		{"/demo/fail/custom-status", CustomStatusCode},
		{"/demo/fail/garbage", 0},
		{"/demo/fail/timeout", 0},
		{"/demo/fail/reset", 0},
		{"/demo/fail/no-such-fault", http.StatusNotFound},
		{"/demo/fail/by-path", http.StatusNotFound},
		{"/after-failures", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := client.Get(s.URL() + tt.path)
			if err != nil {
				if tt.wantStatus != 0 {
					t.Fatal(err)
				}
				return
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
		})
	}
}

func TestBehaviorNamesRoundTrip(t *testing.T) {
	names := BehaviorNames()
	if slices.Contains(names, ByPath.String()) {
		t.Errorf("BehaviorNames lists %q", ByPath)
	}
	for b := range numBehaviors {
		got, ok := ParseBehavior(b.String())
		if !ok || got != b {
			t.Errorf("ParseBehavior(%q) = %v, %v", b.String(), got, ok)
		}
	}
	for _, name := range names {
		if _, ok := ParseBehavior(name); !ok {
			t.Errorf("ParseBehavior(%q) failed for a listed name", name)
		}
	}
	if b, ok := ParseBehavior("timeout"); !ok || b != Silent {
		t.Errorf("timeout parsed as %v, %v", b, ok)
	}
	if _, ok := ParseBehavior("nope"); ok {
		t.Error("unknown name parsed")
	}
}

func TestSetBehavior(t *testing.T) {
	s := startServer(t, OK, Options{})
	client := newClient(t)
	s.SetBehavior(Origin502)
	resp, err := client.Get(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d after SetBehavior(Origin502)", resp.StatusCode)
	}
}

func TestCloseUnblocksStalledHandlers(t *testing.T) {
	for _, b := range []Behavior{Silent, StallMidBody, StopsReadingBody, SSE, UpgradeOK, SlowHead} {
		t.Run(b.String(), func(t *testing.T) {
			s, err := StartWith(b, Options{Delay: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			request := get("/")
			if b == UpgradeOK {
				request = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
			}
			c := dialRaw(t, s, request)
			<-s.Requests()
			closed := make(chan error, 1)
			go func() { closed <- s.Close() }()
			select {
			case err := <-closed:
				if err != nil {
					t.Errorf("Close: %v", err)
				}
			case <-time.After(testTimeout):
				t.Fatal("Close did not return")
			}
			io.Copy(io.Discard, c)
			if _, err := net.DialTimeout("tcp", s.Addr(), testTimeout); err == nil {
				t.Error("server still accepts after Close")
			}
		})
	}
}

func TestClosedAddrRefuses(t *testing.T) {
	addr, err := ClosedAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, err = net.DialTimeout("tcp", addr, testTimeout)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial %s: %v, want connection refused", addr, err)
	}
}

func TestIPv6(t *testing.T) {
	s, err := StartWith(OK, Options{IPv6: true})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer s.Close()
	resp, err := newClient(t).Get(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(s.Addr(), "[::1]:") {
		t.Errorf("Addr %s", s.Addr())
	}
}
