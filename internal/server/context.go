package server

import (
	"context"
	"sync"
)

// connContext is a connection's context, which every request on it
// shares: it ends when the client leaves or the connection closes.
//
// Besides context.Context it offers AfterFunc as a method, which the
// upstream transport looks for: registering the function that aborts an
// upstream exchange then costs no allocation, where context.AfterFunc
// allocates twice per request. One function is kept at a time, which is
// all a connection serving one request at a time needs; a second
// registration while one is held falls back to context.AfterFunc.
type connContext struct {
	context.Context
	cancel context.CancelFunc

	mu    sync.Mutex // guards after
	after func()
	// stop is stopAfter bound once, so AfterFunc returns it without
	// allocating.
	stop func() bool
}

func newConnContext() *connContext {
	cc := &connContext{}
	cc.Context, cc.cancel = context.WithCancel(context.Background())
	cc.stop = cc.stopAfter
	return cc
}

// AfterFunc arranges for f to run once the context ends, as
// context.AfterFunc does; stop unregisters it and reports whether it had
// not run yet.
func (cc *connContext) AfterFunc(f func()) (stop func() bool) {
	cc.mu.Lock()
	if cc.after != nil || cc.Err() != nil {
		cc.mu.Unlock()
		return context.AfterFunc(cc.Context, f)
	}
	cc.after = f
	cc.mu.Unlock()
	return cc.stop
}

func (cc *connContext) stopAfter() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	registered := cc.after != nil
	cc.after = nil
	return registered
}

// end cancels the context and runs the registered function, if any.
// cancel happens first: a registration racing with it either sees the
// context done or is seen here.
func (cc *connContext) end() {
	cc.cancel()
	cc.mu.Lock()
	f := cc.after
	cc.after = nil
	cc.mu.Unlock()
	if f != nil {
		go f()
	}
}
