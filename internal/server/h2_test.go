package server

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// http2Client opens a loopback connection, hands its server side to h and
// returns its client side once the server has sent its SETTINGS, that is,
// once the connection is being served.
func http2Client(t *testing.T, h *http2Servers) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if !h.hand(server) {
		t.Fatal("the HTTP/2 servers refused a connection before shutting down")
	}
	const emptySettings = "\x00\x00\x00\x04\x00\x00\x00\x00\x00"
	io.WriteString(client, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"+emptySettings)
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	var head [9]byte
	if _, err := io.ReadFull(client, head[:]); err != nil || head[3] != 0x4 {
		t.Fatalf("first frame from the server: % x, %v; want SETTINGS", head, err)
	}
	return client
}

func (h *http2Servers) retiredCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.retired)
}

// TestRetiredHTTP2ServersAreForgotten: a server replaced by new timeouts
// is kept while it has connections, for shutdown to reach them, and
// forgotten once the last one closes; one without connections is not kept
// at all, so reloads do not pile servers up.
func TestRetiredHTTP2ServersAreForgotten(t *testing.T) {
	h := &http2Servers{handler: http.NotFoundHandler()}
	defer h.close()
	h.start(time.Second, time.Second)
	h.start(2*time.Second, 2*time.Second)
	if n := h.retiredCount(); n != 0 {
		t.Fatalf("a replaced server without connections was kept (%d retired)", n)
	}

	c := http2Client(t, h)
	h.start(3*time.Second, 3*time.Second)
	if n := h.retiredCount(); n != 1 {
		t.Fatalf("%d servers retired, want the replaced one, which still serves a connection", n)
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for h.retiredCount() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the retired server was still kept 5s after its last connection closed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
