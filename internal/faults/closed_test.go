package faults

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

func TestUnansweredConnectTimesOut(t *testing.T) {
	u, err := StartUnanswered()
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	_, err = net.DialTimeout("tcp", u.Addr(), 200*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("dial: %v, want a timeout", err)
	}
}
