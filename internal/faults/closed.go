package faults

import "net"

// ClosedAddr returns a 127.0.0.1 address that refuses connections: it binds
// a port, notes it and closes the listener. Nothing else listens there unless
// the kernel hands the port out again, which it avoids doing at once.
func ClosedAddr() (string, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", err
	}
	return addr, nil
}
