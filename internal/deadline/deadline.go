// Package deadline keeps a connection's read and write deadlines without
// setting them anew for every request.
//
// Setting a deadline costs a timer update under a lock in the runtime; a
// keep-alive connection serving thousands of requests a second would pay
// it several times per request only to move a 30-second deadline by a
// few microseconds. A Tracker remembers the deadline in force and moves it
// only when it falls outside a window: a timeout of d fires between d and
// d+d/16 after the last extension, never early.
package deadline

import (
	"net"
	"sync/atomic"
	"time"
)

// Tracker holds the deadlines in force on one connection. Its methods may
// be called from several goroutines.
type Tracker struct {
	conn net.Conn
	// read and write are the deadlines in force, as nanoseconds since
	// base; none is 0.
	read, write atomic.Int64
}

// base anchors deadlines to the monotonic clock: an offset from it costs
// one clock reading, and a wall-clock step moves no deadline.
var base = time.Now()

// Init makes t track c, which must have no deadline set.
func (t *Tracker) Init(c net.Conn) {
	t.conn = c
	t.read.Store(0)
	t.write.Store(0)
}

// slack is how much later than asked a deadline may fire.
func slack(d time.Duration) time.Duration { return d >> 4 }

// extend moves the deadline in at to between now+d and now+d+slack(d),
// reporting the new value, or 0 when the one in force already is.
func extend(at *atomic.Int64, d time.Duration) int64 {
	want := int64(time.Since(base) + d)
	if cur := at.Load(); cur >= want && cur-want <= int64(slack(d)) {
		return 0
	}
	next := want + int64(slack(d))
	at.Store(next)
	return next
}

// ExtendRead makes reads time out d from now (or up to d/16 later).
func (t *Tracker) ExtendRead(d time.Duration) {
	if next := extend(&t.read, d); next != 0 {
		t.conn.SetReadDeadline(base.Add(time.Duration(next)))
	}
}

// ExtendWrite makes writes time out d from now (or up to d/16 later).
func (t *Tracker) ExtendWrite(d time.Duration) {
	if next := extend(&t.write, d); next != 0 {
		t.conn.SetWriteDeadline(base.Add(time.Duration(next)))
	}
}

// SetRead sets the read deadline to exactly at; the zero time removes it.
func (t *Tracker) SetRead(at time.Time) error {
	t.read.Store(offset(at))
	return t.conn.SetReadDeadline(at)
}

// SetWrite sets the write deadline to exactly at; the zero time removes
// it.
func (t *Tracker) SetWrite(at time.Time) error {
	t.write.Store(offset(at))
	return t.conn.SetWriteDeadline(at)
}

// Set sets both deadlines to exactly at.
func (t *Tracker) Set(at time.Time) error {
	n := offset(at)
	t.read.Store(n)
	t.write.Store(n)
	return t.conn.SetDeadline(at)
}

func offset(at time.Time) int64 {
	if at.IsZero() {
		return 0
	}
	return int64(at.Sub(base))
}
