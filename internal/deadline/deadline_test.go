package deadline

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// countingConn is a real loopback connection that counts how often its
// deadlines are set.
type countingConn struct {
	net.Conn
	reads, writes int
}

func (c *countingConn) SetReadDeadline(t time.Time) error {
	c.reads++
	return c.Conn.SetReadDeadline(t)
}

func (c *countingConn) SetWriteDeadline(t time.Time) error {
	c.writes++
	return c.Conn.SetWriteDeadline(t)
}

func loopbackPair(t *testing.T) (*countingConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); peer.Close() })
	return &countingConn{Conn: c}, peer
}

func TestExtendSetsOnlyWhenTheDeadlineWouldFireTooEarly(t *testing.T) {
	c, _ := loopbackPair(t)
	var tr Tracker
	tr.Init(c)
	for range 100 {
		tr.ExtendRead(time.Hour)
		tr.ExtendWrite(time.Hour)
	}
	if c.reads != 1 || c.writes != 1 {
		t.Errorf("100 extensions by an hour set the deadlines %d (read) and %d (write) times, want once each", c.reads, c.writes)
	}
	// Once more time has passed than the slack, the deadline moves.
	d := time.Millisecond
	tr.ExtendRead(d)
	start := time.Now()
	for time.Since(start) <= 2*slack(d) {
	}
	tr.ExtendRead(d)
	if c.reads != 3 {
		t.Errorf("read deadline set %d times, want 3 (an hour, then 1ms, then 1ms later)", c.reads)
	}
	// An exact deadline always applies, and the next extension sets anew.
	tr.SetRead(time.Time{})
	tr.ExtendRead(time.Hour)
	if c.reads != 5 {
		t.Errorf("read deadline set %d times, want 5", c.reads)
	}
}

func TestExtendedDeadlineNeverFiresEarly(t *testing.T) {
	c, _ := loopbackPair(t)
	var tr Tracker
	tr.Init(c)
	const d = 30 * time.Millisecond
	start := time.Now()
	tr.ExtendRead(d)
	_, err := c.Read(make([]byte, 1))
	elapsed := time.Since(start)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read ended with %v, want a timeout", err)
	}
	if elapsed < d {
		t.Errorf("timed out after %s, before the %s asked for", elapsed, d)
	}
}

func TestSetInThePastFailsPendingIOAtOnce(t *testing.T) {
	c, _ := loopbackPair(t)
	var tr Tracker
	tr.Init(c)
	tr.ExtendRead(time.Hour)
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	tr.Set(time.Unix(1, 0))
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("pending read ended with %v, want a timeout", err)
	}
	// A deadline in the past is never mistaken for one in force.
	before := c.reads
	tr.ExtendRead(time.Hour)
	if c.reads != before+1 {
		t.Errorf("extending after a deadline in the past set nothing")
	}
}
