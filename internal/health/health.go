// Package health decides which targets of an upstream pool may be sent
// requests: it runs the active health checks, ejects targets whose requests
// keep failing, and records every change of state with its time and cause.
package health

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-proxy/portico/internal/config"
)

// State is whether a target receives requests.
type State uint8

// The states.
const (
	// Up targets receive requests.
	Up State = iota
	// Down targets failed health_check.unhealthy_after active checks in a
	// row; they return after health_check.healthy_after passes in a row.
	Down
	// Ejected targets failed outlier.consecutive_failures requests in a
	// row; they return when the ejection ends.
	Ejected
)

func (s State) String() string {
	switch s {
	case Down:
		return "down"
	case Ejected:
		return "ejected"
	}
	return "up"
}

// Status is a snapshot of one target's health, for the admin API and logs.
type Status struct {
	State State
	// Since is when the target entered State.
	Since time.Time
	// Until is when an ejection ends; zero unless State is Ejected.
	Until time.Time
	// Cause is the last failure seen, as an RFC 9209 error type
	// ("connection_refused") or "http_status_" and the status of a
	// response that failed (a check's unexpected status, or an upstream
	// 503); "" when none has been seen.
	Cause string
	// ConsecutiveFailures counts the target's failed requests since its
	// last success.
	ConsecutiveFailures int
}

// maxEjectionDoublings caps how often a repeat ejection doubles: the
// longest ejection lasts 8 times outlier.eject_for.
const maxEjectionDoublings = 3

// Probe runs one active check of the target at index i and returns the
// response's status, or the classified failure that kept it from coming.
type Probe func(ctx context.Context, i int) (status int, err error)

// Options configure a Monitor.
type Options struct {
	// Upstream is the pool's name and Targets its targets' names (URLs),
	// in pool order; both label log lines.
	Upstream string
	Targets  []string
	// Check configures active checks; nil runs none.
	Check *config.HealthCheck
	// Probe runs one check; required when Check is set.
	Probe Probe
	// Outlier configures passive ejection.
	Outlier config.Outlier
	// Logger receives one line per change of state; nil discards them.
	Logger *slog.Logger
	// Now is the clock that ejections are timed by (default time.Now).
	Now func() time.Time
}

// Monitor tracks the health of one pool's targets. Usable and AllUsable,
// called for every request, read atomics only; state changes, which are
// rare, take a lock.
type Monitor struct {
	upstream string
	check    *config.HealthCheck
	outlier  config.Outlier
	log      *slog.Logger
	now      func() time.Time
	targets  []target

	// unusable counts targets that are down or ejected, including
	// ejections that have run out but were not yet noticed, so that
	// AllUsable is one load.
	unusable atomic.Int32

	mu sync.Mutex // guards every target's status and check counters

	stop context.CancelFunc
	wg   sync.WaitGroup // the check loops
}

type target struct {
	name string
	// down and ejectedUntil (Unix nanoseconds, 0 when not ejected) are
	// written under Monitor.mu and read without it.
	down         atomic.Bool
	ejectedUntil atomic.Int64
	// failures counts failed requests in a row.
	failures atomic.Int32

	// Guarded by Monitor.mu.
	state State
	since time.Time
	cause string
	// passes and fails count active checks in a row.
	passes, fails int
	// doublings is how often the current ejection length was doubled;
	// returned and lastEjection say when the last ejection ended and how
	// long it was, to tell a repeat offender from a target that recovered.
	doublings    int
	returned     time.Time
	lastEjection time.Duration
}

// NewMonitor starts tracking a pool's targets, all up at first, and starts
// one check loop per target when o.Check is set: each target is checked
// at once and then every interval, until Close.
func NewMonitor(o Options) *Monitor {
	m := &Monitor{
		upstream: o.Upstream,
		check:    o.Check,
		outlier:  o.Outlier,
		log:      o.Logger,
		now:      o.Now,
		targets:  make([]target, len(o.Targets)),
	}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if m.now == nil {
		m.now = time.Now
	}
	now := m.now()
	for i, name := range o.Targets {
		m.targets[i].name = name
		m.targets[i].since = now
	}
	ctx, stop := context.WithCancel(context.Background())
	m.stop = stop
	if o.Check != nil {
		for i := range m.targets {
			m.wg.Add(1)
			go m.checkLoop(ctx, o.Probe, i)
		}
	}
	return m
}

// Close stops the check loops and waits for them; a check under way is
// abandoned.
func (m *Monitor) Close() {
	m.stop()
	m.wg.Wait()
}

// AllUsable reports whether every target may be used, in which case no
// filter is needed.
func (m *Monitor) AllUsable() bool { return m.unusable.Load() == 0 }

// Usable reports whether target i may be sent requests. It allocates
// nothing and reads the clock only while the target is ejected.
func (m *Monitor) Usable(i int) bool {
	t := &m.targets[i]
	if t.down.Load() {
		return false
	}
	until := t.ejectedUntil.Load()
	if until == 0 {
		return true
	}
	if m.now().UnixNano() < until {
		return false
	}
	m.endEjection(i)
	return true
}

// Status returns target i's current health.
func (m *Monitor) Status(i int) Status {
	m.endEjection(i)
	m.mu.Lock()
	defer m.mu.Unlock()
	t := &m.targets[i]
	s := Status{
		State:               t.state,
		Since:               t.since,
		Cause:               t.cause,
		ConsecutiveFailures: int(t.failures.Load()),
	}
	if until := t.ejectedUntil.Load(); until != 0 {
		s.Until = time.Unix(0, until).In(t.since.Location())
	}
	return s
}

// RetryAfter estimates when a target may be usable again: the end of the
// first ejection to run out, or, when only health checks keep targets
// out, the healthy_after checks a down target needs. It returns 0 when
// every target is usable or nothing is known.
func (m *Monitor) RetryAfter() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now().UnixNano()
	var soonest time.Duration
	for i := range m.targets {
		t := &m.targets[i]
		var wait time.Duration
		switch {
		case t.down.Load() && m.check != nil:
			wait = time.Duration(m.check.HealthyAfter) * m.check.Interval
		case t.ejectedUntil.Load() != 0:
			wait = time.Duration(max(t.ejectedUntil.Load()-now, 0))
		default:
			continue
		}
		if soonest == 0 || wait < soonest {
			soonest = wait
		}
	}
	return soonest
}

// event is a change of state to log once the lock is released: log lines
// are never formatted while holding it.
type event struct {
	level  slog.Level
	msg    string
	target string
	attrs  []any
}

func (m *Monitor) emit(e *event) {
	if e == nil {
		return
	}
	args := append([]any{"upstream", m.upstream, "target", e.target}, e.attrs...)
	m.log.Log(context.Background(), e.level, e.msg, args...)
}

// setState moves target i to s and keeps unusable in step; the caller
// holds m.mu.
func (m *Monitor) setState(t *target, s State, at time.Time) {
	if (t.state == Up) != (s == Up) {
		if s == Up {
			m.unusable.Add(-1)
		} else {
			m.unusable.Add(1)
		}
	}
	t.state, t.since = s, at
}

// endEjection returns target i to service if its ejection has run out.
func (m *Monitor) endEjection(i int) {
	t := &m.targets[i]
	if t.ejectedUntil.Load() == 0 {
		return
	}
	m.mu.Lock()
	e := m.endEjectionLocked(t, m.now())
	m.mu.Unlock()
	m.emit(e)
}

func (m *Monitor) endEjectionLocked(t *target, now time.Time) *event {
	until := t.ejectedUntil.Load()
	if until == 0 || now.UnixNano() < until {
		return nil
	}
	end := time.Unix(0, until).In(now.Location())
	return m.returnFromEjection(t, end, "ejection ended")
}

// returnFromEjection ends t's ejection at the given time; the caller holds
// m.mu.
func (m *Monitor) returnFromEjection(t *target, at time.Time, why string) *event {
	t.lastEjection = at.Sub(t.since)
	t.returned = at
	t.ejectedUntil.Store(0)
	m.setState(t, Up, at)
	return &event{level: slog.LevelInfo, msg: "upstream target back in service", target: t.name,
		attrs: []any{"reason", why, "ejected_for", t.lastEjection}}
}

// usableCount counts the targets that may be used at now; the caller
// holds m.mu.
func (m *Monitor) usableCount(now int64) int {
	n := 0
	for i := range m.targets {
		t := &m.targets[i]
		if until := t.ejectedUntil.Load(); !t.down.Load() && (until == 0 || until <= now) {
			n++
		}
	}
	return n
}
