package server

import (
	"context"
	"testing"
	"time"
)

func TestConnContextEndsAndStartsAgain(t *testing.T) {
	var cc connContext
	for round := range 2 {
		cc.reset()
		if cc.Err() != nil {
			t.Fatalf("round %d: a fresh context reports %v", round, cc.Err())
		}
		done := cc.Done()
		ran := make(chan string, 3)
		stopFirst := cc.AfterFunc(func() { ran <- "first" })
		stopSecond := cc.AfterFunc(func() { ran <- "second" })
		stopThird := cc.AfterFunc(func() { ran <- "third" })
		if !stopSecond() || stopSecond() {
			t.Errorf("round %d: stopping a registration reports true once, then false", round)
		}
		// A context derived from it ends with it.
		child, cancel := context.WithTimeout(&cc, time.Hour)
		defer cancel()

		cc.end()
		cc.end() // a second end changes nothing
		select {
		case <-done:
		default:
			t.Fatalf("round %d: Done not closed after end", round)
		}
		if cc.Err() != context.Canceled {
			t.Errorf("round %d: Err = %v, want Canceled", round, cc.Err())
		}
		<-child.Done()
		got := map[string]bool{<-ran: true, <-ran: true}
		if !got["first"] || !got["third"] {
			t.Errorf("round %d: ran %v, want first and third", round, got)
		}
		if stopFirst() || stopThird() {
			t.Errorf("round %d: stop after the functions ran reported true", round)
		}
		late := make(chan struct{})
		cc.AfterFunc(func() { close(late) })
		<-late // registered on an ended context: runs at once
	}
}

// TestFirstAfterFuncAllocatesNothing: the one registration a request
// makes (the upstream exchange's) and its removal allocate nothing.
func TestFirstAfterFuncAllocatesNothing(t *testing.T) {
	var cc connContext
	cc.reset()
	f := func() {}
	if n := testing.AllocsPerRun(100, func() {
		stop := cc.AfterFunc(f)
		stop()
	}); n != 0 {
		t.Errorf("AfterFunc and stop allocate %v times, want 0", n)
	}
}
