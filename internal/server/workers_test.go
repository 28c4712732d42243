package server

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestWorkersServeConnectionAfterConnection: connections opened one after
// another are served by the same few goroutines, and none is left once the
// server has shut down.
func TestWorkersServeConnectionAfterConnection(t *testing.T) {
	before := runtime.NumGoroutine()
	s := New(Options{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()

	const connections = 50
	for range connections {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		// The server closes after the answer; wait for it so the next
		// connection finds the worker idle again.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		c.Read(make([]byte, 1))
		c.Close()
	}
	s.workers.mu.Lock()
	idle := len(s.workers.idle)
	s.workers.mu.Unlock()
	// A connection may arrive just before the worker of the previous one
	// parks, so a few workers may have been started; never one each.
	if idle == 0 || idle > connections/2 {
		t.Errorf("%d connections one after another left %d idle workers, want a few", connections, idle)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != ErrServerClosed {
		t.Fatalf("Serve returned %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Errorf("%d goroutines after shutdown, %d before the server started", n, before)
	}
}

// TestShutdownClosesIdleKeepAliveConnections: a kept-alive connection
// waiting for its next request, holding no read buffer, is closed by a
// shutdown, which then completes.
func TestShutdownClosesIdleKeepAliveConnections(t *testing.T) {
	s := New(Options{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for range 2 {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("idle connection after shutdown: read %v, want EOF", err)
	}
	if err := <-served; err != ErrServerClosed {
		t.Errorf("Serve returned %v", err)
	}
}

// TestTunnelsGetKeepAliveProbes: a connection a handler takes over (a
// WebSocket tunnel) gets TCP keep-alive probes, so a client that vanished
// is found even though the tunnel has no timeout. The listener, like the
// gateway's, turns probes off for connections that serve requests, whose
// idle timeout ends them.
func TestTunnelsGetKeepAliveProbes(t *testing.T) {
	probes := make(chan int, 1)
	keepAliveOf := func(c net.Conn) int {
		raw, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Error(err)
			return -1
		}
		v := -1
		raw.Control(func(fd uintptr) { v, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) })
		return v
	}
	s := New(Options{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/tunnel" {
			io.WriteString(w, "ok")
			return
		}
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		probes <- keepAliveOf(c)
	})})
	noProbes := net.ListenConfig{KeepAlive: -1}
	ln, err := noProbes.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /tunnel HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case p := <-probes:
		if p != 1 {
			t.Errorf("SO_KEEPALIVE on a hijacked connection is %d, want 1", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler never took the connection over")
	}
}
