package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/gateway"
	"github.com/portico-proxy/portico/internal/resolve"
)

// harness is a real gateway on a loopback port with its access log
// captured line by line.
type harness struct {
	t    testing.TB
	g    *gateway.Gateway
	URL  string
	logs *logSink
	// opLog captures portico's operator log (health changes, reloads).
	opLog *textSink
	// yaml and vars are what Load parses; tests change them and reload.
	mu   sync.Mutex
	yaml string
	vars map[string]string
}

type harnessOptions struct {
	resolver resolve.Config
	// accessLog replaces the captured log (benchmarks discard it).
	accessLog io.Writer
	// sendTimeout shortens the client send timeout.
	sendTimeout time.Duration
}

// startGateway serves yaml (with ${NAME} filled from vars) on 127.0.0.1.
// The listen address is forced to a free loopback port.
func startGateway(t testing.TB, yaml string, vars map[string]string, opts ...harnessOptions) *harness {
	t.Helper()
	h := &harness{t: t, logs: newLogSink(), opLog: newTextSink(), yaml: yaml, vars: vars}
	var o harnessOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	var accessLog io.Writer = h.logs
	if o.accessLog != nil {
		accessLog = o.accessLog
	}
	g, err := gateway.New(gateway.Options{
		Load:        h.load,
		AccessLog:   accessLog,
		Resolver:    o.resolver,
		SendTimeout: o.sendTimeout,
		Log:         slog.New(slog.NewTextHandler(h.opLog, nil)),
	})
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	h.g = g
	served := make(chan error, 1)
	go func() { served <- g.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Errorf("shutdown: %v\n%s", err, buf[:n])
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	h.URL = "http://" + g.Addrs()[0].String()
	return h
}

func (h *harness) load() (*config.Config, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	yaml := h.yaml
	if !strings.Contains(yaml, "listen:") {
		yaml = "listen: \"127.0.0.1:0\"\n" + yaml
	}
	return config.Parse("test.yaml", []byte(yaml), func(name string) (string, bool) {
		v, ok := h.vars[name]
		return v, ok
	})
}

// setConfig replaces what the next load reads.
func (h *harness) setConfig(yaml string, vars map[string]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.yaml, h.vars = yaml, vars
}

// startRawUpstream starts a loopback upstream that reads requests with
// net/http and lets answer write whatever bytes the test needs on the raw
// connection. It returns the upstream's address.
func startRawUpstream(t testing.TB, answer func(c net.Conn, req *http.Request)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveRaw(t, ln, answer)
	return ln.Addr().String()
}

// serveRaw serves ln as startRawUpstream describes, until ln is closed
// (at the latest when the test ends).
func serveRaw(t testing.TB, ln net.Listener, answer func(c net.Conn, req *http.Request)) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					answer(c, req)
				}
			}()
		}
	}()
}

// get sends a GET with the given header fields ("Name: value").
func (h *harness) get(path string, fields ...string) *http.Response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.URL+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, f := range fields {
		name, value, _ := strings.Cut(f, ":")
		req.Header.Add(name, strings.TrimSpace(value))
	}
	return h.do(req)
}

func (h *harness) do(req *http.Request) *http.Response {
	h.t.Helper()
	resp, err := testClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return resp
}

// testClient never follows redirects, never retries and gives up quickly.
var testClient = &http.Client{
	Timeout:       20 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 8},
}

func readBody(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return string(b)
}

// logLine waits for the access-log line of the request with the given ID.
func (h *harness) logLine(requestID string) map[string]any {
	h.t.Helper()
	return h.logs.await(h.t, func(m map[string]any) bool { return m["request_id"] == requestID })
}

// logSink collects access-log lines and lets tests await one.
type logSink struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	lines   []map[string]any
	changed chan struct{}
}

func newLogSink() *logSink { return &logSink{changed: make(chan struct{})} }

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	for {
		line, err := s.buf.ReadBytes('\n')
		if err != nil {
			// Keep a partial line for the next write.
			rest := append([]byte(nil), line...)
			s.buf.Reset()
			s.buf.Write(rest)
			break
		}
		var m map[string]any
		if json.Unmarshal(line, &m) == nil {
			s.lines = append(s.lines, m)
		}
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return len(p), nil
}

func (s *logSink) await(t testing.TB, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		s.mu.Lock()
		for _, m := range s.lines {
			if match(m) {
				s.mu.Unlock()
				return m
			}
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no matching access-log line; have %d lines", len(s.lines))
			return nil
		}
	}
}

// textSink collects operator-log lines and lets tests await one.
type textSink struct {
	mu      sync.Mutex
	text    strings.Builder
	changed chan struct{}
}

func newTextSink() *textSink { return &textSink{changed: make(chan struct{})} }

func (s *textSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.text.Write(p)
	close(s.changed)
	s.changed = make(chan struct{})
	return len(p), nil
}

// await waits until the log holds substr.
func (s *textSink) await(t testing.TB, substr string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		s.mu.Lock()
		found := strings.Contains(s.text.String(), substr)
		changed := s.changed
		s.mu.Unlock()
		if found {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("operator log never said %q", substr)
		}
	}
}

// failuresCounted returns portico_failures_total for cause, summed over
// its labels, from the admin API's /metrics.
func (h *harness) failuresCounted(cause string) float64 {
	h.t.Helper()
	return h.counted("portico_failures_total", `cause="`+cause+`"`)
}

// counted returns the sum of family's samples whose labels hold label,
// from the admin API's /metrics.
func (h *harness) counted(family, label string) float64 {
	h.t.Helper()
	addr := h.g.AdminAddr()
	if addr == nil {
		h.t.Fatal("the gateway has no admin address")
	}
	resp, err := testClient.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	body := readBody(h.t, resp)
	var sum float64
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, family+"{") && strings.Contains(line, label) {
			var v float64
			fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
			sum += v
		}
	}
	return sum
}
