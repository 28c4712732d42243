package faults

import (
	"net"
	"strconv"
	"syscall"
)

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

// Unanswered is a 127.0.0.1 address whose listen queue is full: the kernel
// drops further SYNs, so connecting to it times out, as it does towards a
// host that has gone silent.
type Unanswered struct {
	fd     int
	filler net.Conn
	addr   string
}

// StartUnanswered opens the listener with a backlog of 0 and fills its one
// slot with a connection that is never accepted.
func StartUnanswered() (*Unanswered, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, err
	}
	u := &Unanswered{fd: fd}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		u.Close()
		return nil, err
	}
	if err := syscall.Listen(fd, 0); err != nil {
		u.Close()
		return nil, err
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		u.Close()
		return nil, err
	}
	u.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	if u.filler, err = net.Dial("tcp4", u.addr); err != nil {
		u.Close()
		return nil, err
	}
	return u, nil
}

// Addr returns the address, as host:port.
func (u *Unanswered) Addr() string { return u.addr }

// Close releases the listener and its queued connection.
func (u *Unanswered) Close() error {
	if u.filler != nil {
		u.filler.Close()
	}
	return syscall.Close(u.fd)
}
