package health_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/health"
)

func TestIsTargetFailure(t *testing.T) {
	counted := map[failure.Class]bool{
		failure.DNSError: true, failure.ConnectionRefused: true, failure.ConnectionTimeout: true,
		failure.DestinationIPUnroutable: true, failure.TLSCertificateError: true, failure.TLSAlertReceived: true,
		failure.TLSProtocolError: true, failure.ConnectionTerminated: true, failure.ConnectionWriteTimeout: true,
		failure.ConnectionReadTimeout: true, failure.HTTPProtocolError: true, failure.HTTPResponseIncomplete: true,
	}
	for _, c := range failure.Classes() {
		t.Run(c.String(), func(t *testing.T) {
			if got := health.IsTargetFailure(c, 0); got != counted[c] {
				t.Errorf("IsTargetFailure(%s) = %v, want %v", c, got, counted[c])
			}
		})
	}
	for status, want := range map[int]bool{200: false, 404: false, 500: false, 501: false, 502: true, 503: true, 504: true, 505: false} {
		if got := health.IsTargetFailure(failure.None, status); got != want {
			t.Errorf("IsTargetFailure(none, %d) = %v, want %v", status, got, want)
		}
	}
}

// scriptedProbe answers each check with the next verdict sent on its
// channel, so a test decides exactly when each check runs and how it ends.
type scriptedProbe chan error

func (s scriptedProbe) probe(ctx context.Context, _ int) (int, error) {
	select {
	case err := <-s:
		if errors.Is(err, errStatus503) {
			return http.StatusServiceUnavailable, nil
		}
		if err != nil {
			return 0, err
		}
		return http.StatusOK, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

var errStatus503 = errors.New("answer 503")

func TestChecksNeedRunsToChangeState(t *testing.T) {
	probe := make(scriptedProbe)
	m := health.NewMonitor(health.Options{
		Upstream: "app",
		Targets:  []string{"http://a"},
		Check: &config.HealthCheck{
			Path: "/", Interval: time.Millisecond, Timeout: time.Hour,
			HealthyAfter: 2, UnhealthyAfter: 3, ExpectStatus: config.StatusRange{Min: 200, Max: 299},
		},
		Probe: probe.probe,
	})
	defer m.Close()
	refused := failure.Newf(failure.ConnectionRefused, failure.PhaseConnect, "refused")
	// The loop asks for the next verdict only after recording the last, so
	// once a send returns, every verdict before it has been recorded.
	step := func(err error) { probe <- err }

	step(refused)
	step(errStatus503)
	step(nil) // a pass breaks the run of failures
	if !m.Usable(0) {
		t.Fatal("down after 2 failures in a row, want 3")
	}
	step(refused)
	step(refused)
	step(errStatus503) // the third failure in a row
	step(errStatus503)
	if s := m.Status(0); m.Usable(0) || s.State != health.Down || s.Cause != "http_status_503" {
		t.Fatalf("after 3 failures in a row: Status = %+v, want down because http_status_503", s)
	}
	step(nil)
	if m.Usable(0) {
		t.Fatal("up after 1 pass, want 2")
	}
	step(nil)
	step(nil)
	if s := m.Status(0); !m.Usable(0) || s.State != health.Up || !m.AllUsable() {
		t.Fatalf("after 2 passes: Status = %+v, want up", s)
	}
}

func TestUsableAllocatesNothing(t *testing.T) {
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	m := health.NewMonitor(health.Options{
		Upstream: "app",
		Targets:  []string{"http://a", "http://b"},
		Outlier:  config.Outlier{ConsecutiveFailures: 1, EjectFor: time.Minute},
		Now: func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			return now
		},
	})
	defer m.Close()
	m.Report(1, failure.ConnectionRefused, 0)
	if m.AllUsable() || m.Usable(1) || !m.Usable(0) {
		t.Fatalf("AllUsable %v Usable(0) %v Usable(1) %v, want b ejected", m.AllUsable(), m.Usable(0), m.Usable(1))
	}
	if allocs := testing.AllocsPerRun(1000, func() {
		m.Usable(0)
		m.Usable(1)
		m.Report(0, failure.None, http.StatusOK)
	}); allocs != 0 {
		t.Errorf("Usable and Report allocate %.0f times, want 0", allocs)
	}
}
