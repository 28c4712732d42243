package health

import (
	"context"
	"log/slog"
	"time"

	"github.com/portico-proxy/portico/internal/failure"
)

// checkLoop checks target i at once and then every interval until ctx
// ends. Checks of one target never overlap: the timeout is at most the
// interval, and a tick missed while a check runs is dropped.
func (m *Monitor) checkLoop(ctx context.Context, probe Probe, i int) {
	defer m.wg.Done()
	tick := time.NewTicker(m.check.Interval)
	defer tick.Stop()
	for {
		m.runCheck(ctx, probe, i)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// runCheck runs one check and records its verdict.
func (m *Monitor) runCheck(ctx context.Context, probe Probe, i int) {
	checkCtx, cancel := context.WithTimeout(ctx, m.check.Timeout)
	status, err := probe(checkCtx, i)
	cancel()
	if ctx.Err() != nil {
		// Closed while checking: the verdict is about shutting down.
		return
	}
	cause := ""
	switch {
	case err != nil:
		cause = failure.ClassOf(err).String()
	case !m.check.ExpectStatus.Contains(status):
		cause = statusCause(status)
	}
	m.mu.Lock()
	e := m.recordCheckLocked(&m.targets[i], cause)
	m.mu.Unlock()
	m.emit(e)
}

// recordCheckLocked counts a check's verdict (cause "" when it passed) and
// changes the target's state when a run is long enough; the caller holds
// m.mu.
func (m *Monitor) recordCheckLocked(t *target, cause string) *event {
	now := m.now()
	if cause == "" {
		t.passes++
		t.fails = 0
	} else {
		t.fails++
		t.passes = 0
		t.cause = cause
	}
	switch {
	case t.down.Load() && t.passes >= m.check.HealthyAfter:
		t.down.Store(false)
		m.setState(t, Up, now)
		return &event{level: slog.LevelInfo, msg: "upstream target up", target: t.name,
			attrs: []any{"passed_checks", t.passes}}
	case !t.down.Load() && t.fails >= m.check.UnhealthyAfter:
		// A failing target is down whatever else it was: an ejection
		// ends, and only passing checks bring it back.
		t.ejectedUntil.Store(0)
		t.down.Store(true)
		m.setState(t, Down, now)
		return &event{level: slog.LevelWarn, msg: "upstream target down", target: t.name,
			attrs: []any{"cause", cause, "failed_checks", t.fails}}
	case t.state == Ejected && t.passes >= m.check.HealthyAfter:
		// Checks show the target serving again: there is no need to wait
		// for the ejection to run out.
		return m.returnFromEjection(t, now, "health checks passed")
	}
	return nil
}
