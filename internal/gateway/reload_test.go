package gateway_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/faults"
)

// blockingUpstream answers only when release is closed, and says so on
// entered when a request arrives.
type blockingUpstream struct {
	addr    string
	entered chan struct{}
	release chan struct{}
}

func startBlockingUpstream(t *testing.T, name string) *blockingUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &blockingUpstream{addr: ln.Addr().String(), entered: make(chan struct{}, 16), release: make(chan struct{})}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.entered <- struct{}{}
		if r.URL.Path == "/slow" {
			<-u.release
		}
		w.Header().Set("X-Served-By", name)
		w.Write([]byte(name))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() {
		select {
		case <-u.release:
		default:
			close(u.release)
		}
		srv.Close()
	})
	return u
}

const routeToTarget = `
upstreams:
  app:
    targets: ["http://${TARGET}"]
routes:
  - upstream: app
`

func TestReloadKeepsInFlightRequestsAndSwitchesNewOnes(t *testing.T) {
	oldUp := startBlockingUpstream(t, "old")
	newUp := startBlockingUpstream(t, "new")
	h := startGateway(t, routeToTarget, map[string]string{"TARGET": oldUp.addr})

	inFlight := make(chan *http.Response, 1)
	go func() {
		resp, err := testClient.Get(h.URL + "/slow")
		if err != nil {
			t.Error(err)
			close(inFlight)
			return
		}
		inFlight <- resp
	}()
	<-oldUp.entered

	h.setConfig(routeToTarget, map[string]string{"TARGET": newUp.addr})
	if err := h.g.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	resp := h.get("/")
	if got := readBody(t, resp); got != "new" {
		t.Errorf("request after reload served by %q", got)
	}

	close(oldUp.release)
	old, ok := <-inFlight
	if !ok {
		t.Fatal("in-flight request failed")
	}
	if got := readBody(t, old); old.StatusCode != http.StatusOK || got != "old" {
		t.Errorf("in-flight request across reload: %d %q", old.StatusCode, got)
	}
}

func TestReloadRefusesBadConfigAndKeepsServing(t *testing.T) {
	up := startBlockingUpstream(t, "up")
	h := startGateway(t, routeToTarget, map[string]string{"TARGET": up.addr})

	h.setConfig(routeToTarget+"  - path_prefix: /x\n    upstream: missing\n", map[string]string{"TARGET": up.addr})
	err := h.g.Reload()
	var list config.ErrorList
	if !errors.As(err, &list) || len(list) != 1 || list[0].Line == 0 {
		t.Fatalf("reload of a bad file: %v, want one positioned config error", err)
	}
	resp := h.get("/")
	if got := readBody(t, resp); got != "up" {
		t.Errorf("after refused reload: %d %q", resp.StatusCode, got)
	}
}

// TestReloadKeepsClientConnections: a keep-alive client connection opened
// before reloads carries the next request after them.
func TestReloadKeepsClientConnections(t *testing.T) {
	up := startBlockingUpstream(t, "up")
	h := startGateway(t, routeToTarget, map[string]string{"TARGET": up.addr})
	conn, err := net.Dial("tcp", h.g.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	get := func() {
		t.Helper()
		if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: test\r\n\r\n")); err != nil {
			t.Fatalf("writing on the kept connection: %v", err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading from the kept connection: %v", err)
		}
		if body := readBody(t, resp); body != "up" {
			t.Fatalf("body %q", body)
		}
	}
	get()
	for range 3 {
		if err := h.g.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	get()
}

func TestShutdownDrainsInFlightRequests(t *testing.T) {
	up := startBlockingUpstream(t, "up")
	h := startGateway(t, routeToTarget, map[string]string{"TARGET": up.addr})

	done := make(chan error, 1)
	go func() {
		resp, err := testClient.Get(h.URL + "/slow")
		if err == nil {
			if body := readBody(t, resp); body != "up" {
				err = errors.New("body " + body)
			}
		}
		done <- err
	}()
	<-up.entered

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shutdown <- h.g.Shutdown(ctx)
	}()
	// New connections are refused once the listener is closed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", h.g.Addrs()[0].String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting during drain")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(up.release)
	if err := <-done; err != nil {
		t.Fatalf("in-flight request during drain: %v", err)
	}
	if err := <-shutdown; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// openTunnel upgrades a connection through h to the echoing upstream and
// returns it with its reader.
func openTunnel(t *testing.T, h *harness) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET /chat HTTP/1.1\r\nHost: test\r\n"+strings.Join(websocketFields, "\r\n")+"\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	return conn, br
}

func echo(t *testing.T, conn net.Conn, br *bufio.Reader, msg string) error {
	t.Helper()
	if _, err := io.WriteString(conn, msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(br, got); err != nil {
		return err
	}
	if string(got) != msg {
		return fmt.Errorf("echoed %q, want %q", got, msg)
	}
	return nil
}

// TestShutdownWaitsForOpenTunnels: a drain lets an upgraded connection
// (WebSocket) run on until it ends by itself, within the grace period.
func TestShutdownWaitsForOpenTunnels(t *testing.T) {
	h := startGateway(t, upstreamConfig(startFault(t, faults.UpgradeOK).URL(), ""), nil)
	conn, br := openTunnel(t, h)

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shutdown <- h.g.Shutdown(ctx)
	}()
	// The listener closes first; the tunnel must still carry traffic after.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", h.g.Addrs()[0].String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting during drain")
		}
	}
	if err := echo(t, conn, br, "still open during the drain"); err != nil {
		t.Fatalf("tunnel during drain: %v", err)
	}
	select {
	case err := <-shutdown:
		t.Fatalf("shutdown returned (%v) while a tunnel was open", err)
	default:
	}
	conn.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, br)
	if err := <-shutdown; err != nil {
		t.Fatalf("shutdown after the tunnel ended: %v", err)
	}
}

// TestShutdownCutsTunnelsAfterGrace: a tunnel still open when the grace
// period ends is closed, and the drain says requests were cut.
func TestShutdownCutsTunnelsAfterGrace(t *testing.T) {
	h := startGateway(t, upstreamConfig(startFault(t, faults.UpgradeOK).URL(), ""), nil)
	conn, br := openTunnel(t, h)
	if err := echo(t, conn, br, "open"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := h.g.Shutdown(ctx); err == nil {
		t.Error("shutdown with a tunnel open past the grace period reported success")
	}
	if _, err := io.Copy(io.Discard, br); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reading the cut tunnel: %v, want its end", err)
	}
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestReloadRebindsListeners: a reload that adds, drops or moves listen
// and admin addresses takes effect without a restart; connections on a
// dropped address finish their requests; an address already taken
// refuses the reload and changes nothing.
func TestReloadRebindsListeners(t *testing.T) {
	app := startFault(t, faults.OK)
	a, b, adminA, adminB := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	config := func(listen, admin string) string {
		return "listen: [" + listen + "]\nadmin: \"" + admin + "\"\n" +
			"upstreams:\n  app:\n    targets: [\"" + app.URL() + "\"]\nroutes:\n  - upstream: app\n"
	}
	h := startGateway(t, config(`"`+a+`"`, adminA), nil)
	// Each check opens a new connection: one kept from before would
	// outlive its listener, by design.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	answers := func(addr string) bool {
		resp, err := fresh.Get("http://" + addr + "/")
		if err != nil {
			return false
		}
		readBody(t, resp)
		return true
	}
	kept, err := net.Dial("tcp", a)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	keptReader := bufio.NewReader(kept)
	onKept := func() error {
		io.WriteString(kept, "GET / HTTP/1.1\r\nHost: test\r\n\r\n")
		resp, err := http.ReadResponse(keptReader, nil)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return err
	}
	if err := onKept(); err != nil {
		t.Fatal(err)
	}

	h.setConfig(config(`"`+a+`", "`+b+`"`, adminA), nil)
	if err := h.g.Reload(); err != nil {
		t.Fatalf("reload adding %s: %v", b, err)
	}
	if !answers(a) || !answers(b) {
		t.Fatalf("after adding %s: %s answers %v, %s answers %v; want both", b, a, answers(a), b, answers(b))
	}

	h.setConfig(config(`"`+b+`"`, adminB), nil)
	if err := h.g.Reload(); err != nil {
		t.Fatalf("reload dropping %s and moving the admin API: %v", a, err)
	}
	if answers(a) || !answers(b) {
		t.Errorf("after dropping %s: it answers %v, %s answers %v; want only %s", a, answers(a), b, answers(b), b)
	}
	if err := onKept(); err != nil {
		t.Errorf("a connection accepted on the dropped address: %v, want it still served", err)
	}
	if answers(adminA) || !answers(adminB) {
		t.Errorf("admin API on %s %v, on %s %v; want it moved", adminA, answers(adminA), adminB, answers(adminB))
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	h.setConfig(config(`"`+b+`", "`+taken.Addr().String()+`"`, adminB), nil)
	if err := h.g.Reload(); err == nil || !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Errorf("reload onto a taken address: %v, want an error naming it", err)
	}
	if !answers(b) || len(h.g.Addrs()) != 1 {
		t.Errorf("after the refused reload: %s answers %v, addresses %v; want the previous ones", b, answers(b), h.g.Addrs())
	}
}

// TestReloadAppliesClientTimeouts: client_timeouts take effect on reload,
// without a restart: a connection that sends nothing is let go after the
// new, shorter head timeout. The kernel holds a silent connection for
// about a second before handing it over (the listener defers accepts),
// and the timeout starts then.
func TestReloadAppliesClientTimeouts(t *testing.T) {
	app := startFault(t, faults.OK)
	h := startGateway(t, upstreamConfig(app.URL(), ""), nil)
	h.setConfig(upstreamConfig(app.URL(), "")+"client_timeouts: {head: 200ms}\n", nil)
	if err := h.g.Reload(); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", h.g.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	began := time.Now()
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("a silent client after the reload: %v, want its connection closed by the 200ms head timeout", err)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("the silent client was let go after %v, want about 1.2s (1s in the kernel, then the 200ms head timeout)", took)
	}
}

// openHTTP2 opens an HTTP/2 connection with prior knowledge (RFC 9113
// §3.3) and returns once the server has answered with its SETTINGS, so
// the connection is being served by then.
func openHTTP2(t *testing.T, h *harness) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", h.g.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	const emptySettings = "\x00\x00\x00\x04\x00\x00\x00\x00\x00"
	if _, err := io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"+emptySettings); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var head [9]byte
	if _, err := io.ReadFull(c, head[:]); err != nil || head[3] != 0x4 {
		t.Fatalf("first frame from the server: % x, %v; want SETTINGS", head, err)
	}
	if _, err := io.CopyN(io.Discard, c, int64(head[0])<<16|int64(head[1])<<8|int64(head[2])); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestReloadAppliesClientTimeoutsToNewHTTP2Connections: an HTTP/2
// connection opened after a reload gets the new idle timeout; one opened
// before keeps the timeout it started with.
func TestReloadAppliesClientTimeoutsToNewHTTP2Connections(t *testing.T) {
	app := startFault(t, faults.OK)
	h := startGateway(t, upstreamConfig(app.URL(), ""), nil)
	before := openHTTP2(t, h)
	h.setConfig(upstreamConfig(app.URL(), "")+"client_timeouts: {idle: 200ms}\n", nil)
	if err := h.g.Reload(); err != nil {
		t.Fatal(err)
	}
	after := openHTTP2(t, h)
	began := time.Now()
	if _, err := io.Copy(io.Discard, after); isTimeout(err) {
		t.Fatalf("an idle HTTP/2 connection opened after the reload was kept open: %v; want it closed by the 200ms idle timeout", err)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("the idle HTTP/2 connection was closed after %v, want about 200ms", took)
	}
	before.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := io.Copy(io.Discard, before); !isTimeout(err) {
		t.Errorf("the HTTP/2 connection opened before the reload ended (%v); it keeps the 75s idle timeout it began with", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
