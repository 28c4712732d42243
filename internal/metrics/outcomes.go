package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/upstream"
)

// numClasses sizes the per-class counters: every class, None included, so
// that a class indexes them directly.
var numClasses = len(failure.Classes()) + 1

// outcomes is what one upstream target (or one upstream before a target is
// chosen) has done. Counters are atomics so that Prometheus and the admin
// API read the same numbers without a lock on the request path.
type outcomes struct {
	upstream, target string
	responses        atomic.Int64
	failures         []atomic.Int64 // by failure.Class
	aborts           []atomic.Int64 // by failure.Class, the failures after the head
	// retries counts the failures after which the request went to another
	// target.
	retries atomic.Int64

	// streak counts failures since the last response. A response reads it
	// and takes mu only when it must end a streak, so a healthy target's
	// requests never touch the lock.
	streak atomic.Int64
	mu     sync.Mutex // guards last and since; streak changes under it
	last   Failure
	since  time.Time // when the current streak began
}

func newOutcomes(upstreamName, target string) *outcomes {
	return &outcomes{
		upstream: upstreamName,
		target:   target,
		failures: make([]atomic.Int64, numClasses),
		aborts:   make([]atomic.Int64, numClasses),
	}
}

// classIndex maps a class to its counter; a class from beyond the table is
// counted as proxy_internal_error, which is also the token it prints as.
func classIndex(c failure.Class) int {
	if int(c) >= numClasses {
		return int(failure.ProxyInternalError)
	}
	return int(c)
}

func (o *outcomes) respond() {
	o.responses.Add(1)
	if o.streak.Load() == 0 {
		return
	}
	o.mu.Lock()
	o.streak.Store(0)
	o.since = time.Time{}
	o.mu.Unlock()
}

func (o *outcomes) fail(f *Failure) {
	i := classIndex(f.Cause)
	o.failures[i].Add(1)
	if f.Aborted {
		o.aborts[i].Add(1)
	}
	if f.Retried {
		o.retries.Add(1)
	}
	o.mu.Lock()
	// Only a target can answer and end a streak; before a target is
	// chosen there is no streak to speak of.
	if o.target != "" && o.streak.Add(1) == 1 {
		o.since = f.Time
	}
	o.last = *f
	o.mu.Unlock()
}

// Stats is one target's record as the admin API shows it.
type Stats struct {
	// Requests counts the attempts: each ended in a response head or a
	// failure before one. Responses counts response heads received;
	// Failures every failure, Aborts among them those after the head was
	// sent.
	Requests  int64
	Responses int64
	Failures  int64
	Aborts    int64
	// Retried counts the failures after which the request was sent to
	// another target.
	Retried int64
	// ByCause lists the causes seen, in taxonomy order.
	ByCause []CauseCount
	// Last is the latest failure; its Cause is failure.None when there
	// was none.
	Last Failure
	// FailingSince is when the current run of failures began, zero when
	// the latest exchange got a response. Consecutive is that run's length.
	FailingSince time.Time
	Consecutive  int64
}

// CauseCount is how often one cause occurred.
type CauseCount struct {
	Cause   failure.Class
	Count   int64
	Aborted int64
}

// Stats returns the record of upstream's target (host:port); target ""
// gives the upstream's failures before a target was chosen, and upstream
// "" with it the requests no route matched. Names never bound give zero
// Stats.
func (m *Metrics) Stats(upstreamName, target string) Stats {
	m.mu.Lock()
	o := m.outcomes[outcomeKey{upstreamName, target}]
	m.mu.Unlock()
	if o == nil {
		return Stats{}
	}
	s := Stats{Responses: o.responses.Load(), Retried: o.retries.Load()}
	for c := range o.failures {
		n := o.failures[c].Load()
		if n == 0 {
			continue
		}
		a := o.aborts[c].Load()
		s.ByCause = append(s.ByCause, CauseCount{Cause: failure.Class(c), Count: n, Aborted: a})
		s.Failures += n
		s.Aborts += a
	}
	s.Requests = s.Responses + s.Failures - s.Aborts
	o.mu.Lock()
	s.Last, s.FailingSince, s.Consecutive = o.last, o.since, o.streak.Load()
	o.mu.Unlock()
	return s
}

// recentFailures is how many failures the ring keeps.
const recentFailures = 200

// ring keeps the latest failures. Adding copies the value in, so the
// strings it holds are the caller's and nothing is allocated.
type ring struct {
	mu   sync.Mutex // guards all fields
	buf  [recentFailures]Failure
	next int // where the next failure goes
	n    int // how many slots hold one
}

func (r *ring) add(f *Failure) {
	r.mu.Lock()
	r.buf[r.next] = *f
	r.next = (r.next + 1) % len(r.buf)
	r.n = min(r.n+1, len(r.buf))
	r.mu.Unlock()
}

// newest returns up to limit failures, newest first.
func (r *ring) newest(limit int) []Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	limit = max(0, min(limit, r.n))
	out := make([]Failure, limit)
	for i := range out {
		out[i] = r.buf[(r.next-1-i+len(r.buf))%len(r.buf)]
	}
	return out
}

var (
	failuresDesc = prometheus.NewDesc("portico_failures_total",
		"Failed requests by upstream, target (host:port) and RFC 9209 cause; target is empty before a target was chosen, upstream too before a route matched. Includes the aborted responses, and the failures a retry on another target hid from the client.",
		[]string{"upstream", "target", "cause"}, nil)
	retriesDesc = prometheus.NewDesc("portico_retries_total",
		"Requests sent again to another target after this target (host:port) failed them.",
		[]string{"upstream", "target"}, nil)
	abortsDesc = prometheus.NewDesc("portico_aborted_responses_total",
		"Responses whose body failed after the head was sent, so the client's stream was broken, by upstream, target and cause.",
		[]string{"upstream", "target", "cause"}, nil)
	inFlightDesc = prometheus.NewDesc("portico_in_flight_requests",
		"Requests a target is serving now, read from the serving configuration's pools.",
		[]string{"upstream", "target"}, nil)
)

// outcomeCollector exports the outcomes' failure counters at scrape time.
type outcomeCollector struct{ m *Metrics }

func (c outcomeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- failuresDesc
	ch <- abortsDesc
	ch <- retriesDesc
}

func (c outcomeCollector) Collect(ch chan<- prometheus.Metric) {
	for _, o := range c.m.all() {
		if o.target != "" {
			ch <- prometheus.MustNewConstMetric(retriesDesc, prometheus.CounterValue, float64(o.retries.Load()), o.upstream, o.target)
		}
		for _, class := range failure.Classes() {
			i := classIndex(class)
			if n := o.failures[i].Load(); n > 0 || o.expects(class) {
				ch <- prometheus.MustNewConstMetric(failuresDesc, prometheus.CounterValue, float64(n), o.upstream, o.target, class.String())
			}
			if n := o.aborts[i].Load(); n > 0 || o.expectsAbort(class) {
				ch <- prometheus.MustNewConstMetric(abortsDesc, prometheus.CounterValue, float64(n), o.upstream, o.target, class.String())
			}
		}
	}
}

// expects says whether class is exported at zero for o, so that alerts on
// increase() see its first occurrence: a target reports the causes met on
// the way to an upstream and back, the other entries those met before.
// Anything else appears once it has happened.
func (o *outcomes) expects(class failure.Class) bool {
	return (o.target != "") == (class >= failure.DNSError)
}

// expectsAbort is expects for the causes a response body can fail with.
func (o *outcomes) expectsAbort(class failure.Class) bool {
	if o.target == "" {
		return false
	}
	switch class {
	case failure.HTTPResponseIncomplete, failure.ConnectionReadTimeout, failure.HTTPResponseBodySize:
		return true
	}
	return false
}

// inFlightCollector reads the targets' in-flight counts at scrape time.
type inFlightCollector struct{ pools func() []*upstream.Pool }

func (c inFlightCollector) Describe(ch chan<- *prometheus.Desc) { ch <- inFlightDesc }

func (c inFlightCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.pools() {
		for _, t := range p.Targets() {
			ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(t.InFlight()), p.Name(), t.Endpoint.Name())
		}
	}
}
