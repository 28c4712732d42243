//go:build !linux

package gateway

import "syscall"

// deferAccept does nothing where the kernel cannot defer an accept.
func deferAccept(_, _ string, _ syscall.RawConn) error { return nil }
