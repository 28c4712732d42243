package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// connContext is a connection's context, which every request on it
// shares: it ends when the client leaves or the connection closes. A
// worker reuses one for each connection it serves, so it is written here
// rather than taken from context.WithCancel, which cannot be reset.
//
// Besides context.Context it offers AfterFunc as a method, which the
// upstream transport and package context look for: the one registration a
// connection serving one request at a time needs costs no allocation,
// where context.AfterFunc allocates twice per request.
type connContext struct {
	ended atomic.Bool

	mu sync.Mutex // guards done, first and more
	// done is made when first asked for, and closed when the context ends.
	done  chan struct{}
	first func()
	more  []*func()
	// stopFirst is stopAfterFirst bound once, so AfterFunc returns it
	// without allocating.
	stopFirst func() bool
}

// reset readies cc for a new connection.
func (cc *connContext) reset() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.stopFirst == nil {
		cc.stopFirst = cc.stopAfterFirst
	}
	cc.ended.Store(false)
	cc.done, cc.first, cc.more = nil, nil, nil
}

func (cc *connContext) Deadline() (time.Time, bool) { return time.Time{}, false }

func (cc *connContext) Done() <-chan struct{} {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.done == nil {
		cc.done = make(chan struct{})
		if cc.ended.Load() {
			close(cc.done)
		}
	}
	return cc.done
}

func (cc *connContext) Err() error {
	if cc.ended.Load() {
		return context.Canceled
	}
	return nil
}

func (cc *connContext) Value(any) any { return nil }

// AfterFunc arranges for f to run in its own goroutine once the context
// ends, as context.AfterFunc does; stop unregisters it and reports whether
// it had not run yet.
func (cc *connContext) AfterFunc(f func()) (stop func() bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	switch {
	case cc.ended.Load():
		go f()
		return func() bool { return false }
	case cc.first == nil:
		cc.first = f
		return cc.stopFirst
	}
	// A copy is boxed, not f itself: taking f's address would move it to
	// the heap on every call, the first registration's included.
	extra := f
	reg := &extra
	cc.more = append(cc.more, reg)
	return func() bool {
		cc.mu.Lock()
		defer cc.mu.Unlock()
		for i, r := range cc.more {
			if r == reg {
				cc.more = append(cc.more[:i], cc.more[i+1:]...)
				return true
			}
		}
		return false
	}
}

func (cc *connContext) stopAfterFirst() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	registered := cc.first != nil
	cc.first = nil
	return registered
}

// end ends the context and runs what was registered.
func (cc *connContext) end() {
	cc.mu.Lock()
	if cc.ended.Swap(true) {
		cc.mu.Unlock()
		return
	}
	if cc.done != nil {
		close(cc.done)
	}
	first, more := cc.first, cc.more
	cc.first, cc.more = nil, nil
	cc.mu.Unlock()
	if first != nil {
		go first()
	}
	for _, f := range more {
		go (*f)()
	}
}
