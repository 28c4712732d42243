package server

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/portico-proxy/portico/internal/faults"
)

// TestStalledTLSHandshakeIsLetGo: a client that opens a connection to an
// HTTPS listener and never completes its handshake is disconnected after
// the head timeout, like one that never sends its request head.
func TestStalledTLSHandshakeIsLetGo(t *testing.T) {
	ca, err := faults.NewCA("portico test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(faults.LeafOptions{DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}),
		ReadHeaderTimeout: 200 * time.Millisecond,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{leaf}}))
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
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("a silent TLS client: %v, want the server to close the connection", err)
	}
}
