package gateway

import (
	"context"
	"syscall"
	"testing"
)

// TestClientListenersDeferAccept: a client listener hands over a
// connection only once the client has sent something.
func TestClientListenersDeferAccept(t *testing.T) {
	ln, err := clientListen.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	raw, err := ln.(interface {
		SyscallConn() (syscall.RawConn, error)
	}).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var secs int
	var optErr error
	if err := raw.Control(func(fd uintptr) {
		secs, optErr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT)
	}); err != nil || optErr != nil {
		t.Fatal(err, optErr)
	}
	if secs <= 0 {
		t.Errorf("TCP_DEFER_ACCEPT on a client listener = %d, want it set", secs)
	}
}
