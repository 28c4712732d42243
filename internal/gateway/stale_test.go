package gateway_test

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// switchableUpstream answers each request with the response its path
// names in responses, or 503 once broken is set.
type switchableUpstream struct {
	addr   string
	ln     net.Listener
	broken atomic.Bool
}

func startSwitchableUpstream(t *testing.T, responses map[string]string) *switchableUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &switchableUpstream{addr: ln.Addr().String(), ln: ln}
	serveRaw(t, ln, func(c net.Conn, req *http.Request) {
		if u.broken.Load() {
			io.WriteString(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy")
			return
		}
		io.WriteString(c, responses[req.URL.Path])
	})
	return u
}

// staleGateway routes to u with stale_if_error on, keeping no idle
// upstream connection, so that a closed listener refuses the next request.
func staleGateway(t *testing.T, u *switchableUpstream, staleKeys string) *harness {
	return startGateway(t, staleConfig(u.addr, "app", staleKeys), nil)
}

// staleConfig routes everything to the upstream named upstream, at addr,
// with stale_if_error set to staleKeys.
func staleConfig(addr, upstream, staleKeys string) string {
	return `
trusted_networks: ["127.0.0.0/8"]
upstreams:
  ` + upstream + `:
    targets: ["http://` + addr + `"]
    max_idle_per_target: 0
routes:
  - upstream: ` + upstream + `
    stale_if_error: ` + staleKeys + `
`
}

// ok200 is a 200 response with body and the extra field lines.
func ok200(body, extra string) string {
	return "HTTP/1.1 200 OK\r\n" + extra + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// TestStaleIfErrorAnswersForAFailingUpstream: once a response was kept,
// an upstream that refuses connections, or answers 503, is answered for
// with it; the client learns from Proxy-Status and Age, the log keeps the
// cause.
func TestStaleIfErrorAnswersForAFailingUpstream(t *testing.T) {
	u := startSwitchableUpstream(t, map[string]string{"/page": ok200("version one", "Cache-Control: max-age=60\r\n")})
	h := staleGateway(t, u, "{max_age: 10m}")

	resp := h.get("/page")
	if body := readBody(t, resp); resp.StatusCode != 200 || body != "version one" {
		t.Fatalf("first GET: %d %q", resp.StatusCode, body)
	}

	u.broken.Store(true)
	resp = h.get("/page", "X-Request-Id: stale-503")
	body := readBody(t, resp)
	if resp.StatusCode != 200 || body != "version one" || resp.Header.Get("Age") == "" {
		t.Fatalf("GET with the upstream answering 503: %d %q, Age %q; want the kept 200", resp.StatusCode, body, resp.Header.Get("Age"))
	}
	if ps := resp.Header.Get("Proxy-Status"); !strings.Contains(ps, "received-status=503") {
		t.Errorf("Proxy-Status %q, want portico's member with received-status=503", ps)
	}

	u.ln.Close()
	resp = h.get("/page", "X-Request-Id: stale-refused")
	body = readBody(t, resp)
	if resp.StatusCode != 200 || body != "version one" {
		t.Fatalf("GET with the upstream gone: %d %q; want the kept 200", resp.StatusCode, body)
	}
	if ps := resp.Header.Get("Proxy-Status"); !strings.Contains(ps, "error=connection_refused") {
		t.Errorf("Proxy-Status %q, want error=connection_refused", ps)
	}
	line := h.logLine("stale-refused")
	msg, _ := line["error.message"].(string)
	if line["http.response.status_code"] != float64(200) || line["error.type"] != "connection_refused" || !strings.Contains(msg, "kept response") {
		t.Errorf("logged %v %v %q; want 200, connection_refused and the kept response named", line["http.response.status_code"], line["error.type"], msg)
	}

	resp = h.get("/never-kept")
	if readBody(t, resp); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("GET of a path never kept with the upstream gone: %d, want 502", resp.StatusCode)
	}
}

// TestStaleIfErrorKeepsOnlyWhatMayBeShared: responses a shared cache must
// not store, or must not serve stale, and requests with credentials, are
// never answered for.
func TestStaleIfErrorKeepsOnlyWhatMayBeShared(t *testing.T) {
	responses := map[string]string{
		"/private":   ok200("mine", "Cache-Control: private\r\n"),
		"/no-store":  ok200("none", "Cache-Control: no-store\r\n"),
		"/revalid":   ok200("must", "Cache-Control: max-age=60, must-revalidate\r\n"),
		"/cookie":    ok200("sess", "Set-Cookie: id=1\r\n"),
		"/vary":      ok200("lang", "Vary: Accept-Language\r\n"),
		"/expired":   ok200("gone", "Cache-Control: max-age=0, stale-if-error=0\r\n"),
		"/too-large": ok200(strings.Repeat("x", 2048), ""),
		"/shared":    ok200("fine", ""),
	}
	u := startSwitchableUpstream(t, responses)
	h := staleGateway(t, u, "{max_body: 1KiB}")
	type get struct{ path, field string }
	gets := []get{{"/private", ""}, {"/no-store", ""}, {"/revalid", ""}, {"/cookie", ""}, {"/vary", ""}, {"/expired", ""}, {"/too-large", ""}, {"/shared", "Cookie: a=b"}, {"/shared", ""}}
	for _, g := range gets {
		fields := []string{}
		if g.field != "" {
			fields = append(fields, g.field)
		}
		resp := h.get(g.path, fields...)
		if readBody(t, resp); resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", g.path, resp.StatusCode)
		}
	}
	u.broken.Store(true)
	for _, g := range gets {
		fields := []string{}
		if g.field != "" {
			fields = append(fields, g.field)
		}
		resp := h.get(g.path, fields...)
		readBody(t, resp)
		kept := resp.StatusCode == 200
		if want := g.path == "/shared" && g.field == ""; kept != want {
			t.Errorf("GET %s %s with the upstream answering 503: %d; kept response served %v, want %v", g.path, g.field, resp.StatusCode, kept, want)
		}
	}
}

// TestStaleIfErrorSurvivesAReload: a reload keeps the responses a route
// kept, also when its stale_if_error limits change, so an upstream that
// fails right after a reload is still answered for; a route sent to
// another upstream starts empty, since what it kept came from elsewhere.
func TestStaleIfErrorSurvivesAReload(t *testing.T) {
	u := startSwitchableUpstream(t, map[string]string{"/page": ok200("kept before the reload", "Cache-Control: max-age=60\r\n")})
	h := staleGateway(t, u, "{max_age: 10m}")
	if resp := h.get("/page"); readBody(t, resp) != "kept before the reload" {
		t.Fatalf("first GET: %d", resp.StatusCode)
	}
	u.broken.Store(true)

	for _, limits := range []string{"{max_age: 10m}", "{max_age: 5m, max_body: 1KiB}"} {
		h.setConfig(staleConfig(u.addr, "app", limits), nil)
		if err := h.g.Reload(); err != nil {
			t.Fatal(err)
		}
		resp := h.get("/page")
		if body := readBody(t, resp); resp.StatusCode != 200 || body != "kept before the reload" {
			t.Errorf("after a reload to stale_if_error %s: %d %q, want the response kept before it", limits, resp.StatusCode, body)
		}
	}

	h.setConfig(staleConfig(u.addr, "other", "{max_age: 10m}"), nil)
	if err := h.g.Reload(); err != nil {
		t.Fatal(err)
	}
	if resp := h.get("/page"); readBody(t, resp) != "busy" || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("after the route moved to another upstream: %d, want the upstream's own 503, nothing kept", resp.StatusCode)
	}
}
