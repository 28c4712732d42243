package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startSendServer serves handler with a short send timeout and returns
// the address; the server is shut down when the test ends.
func startSendServer(t *testing.T, sendTimeout time.Duration, handler http.HandlerFunc) (*Server, string) {
	t.Helper()
	s := New(Options{Handler: handler, SendTimeout: sendTimeout})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, ln.Addr().String()
}

// TestSendTimeoutCutsAClientThatStopsReading: a client that keeps its
// connection open but reads nothing makes the handler's write fail with a
// timeout, instead of holding the handler for ever.
func TestSendTimeoutCutsAClientThatStopsReading(t *testing.T) {
	writeErr := make(chan error, 1)
	s, addr := startSendServer(t, 300*time.Millisecond, func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 32<<10))
		for {
			if _, err := w.Write(chunk); err != nil {
				writeErr <- err
				return
			}
		}
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")

	select {
	case err := <-writeErr:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write to a client that stopped reading failed with %v, want a timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a write to a client that stopped reading was never cut")
	}
	// The server lets the connection go.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		open := len(s.conns)
		s.mu.Unlock()
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server still holds the connection of a client that stopped reading")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSendTimeoutSparesASlowReader: a client reading slowly but steadily
// gets the whole response, however long it takes in all.
func TestSendTimeoutSparesASlowReader(t *testing.T) {
	const total = 16 << 20
	writeErr := make(chan error, 1)
	_, addr := startSendServer(t, 300*time.Millisecond, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(total))
		chunk := []byte(strings.Repeat("x", 32<<10))
		for sent := 0; sent < total; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 64<<10)
	got := 0
	for {
		n, err := c.Read(buf)
		got += n
		if err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond) // a slow reader, by design
	}
	if err := <-writeErr; err != nil {
		t.Fatalf("a slow but steady reader had its response cut: %v", err)
	}
	if got < total {
		t.Fatalf("got %d bytes, want the whole %d-byte body and its head", got, total)
	}
}
