package gateway

import "syscall"

// deferAccept has the kernel hand a client connection over only once its
// first bytes have arrived, or about a second after it opened, as nginx's
// `deferred` and HAProxy's `defer-accept` do. The client speaks first in
// HTTP and TLS, so the first read finds the request instead of finding
// nothing and waiting for it; this saved about 2.6 µs of CPU per new
// connection (docs/performance.md). Failing to set it changes nothing
// else, so the listener opens either way.
func deferAccept(_, _ string, c syscall.RawConn) error {
	return c.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT, 1)
	})
}
