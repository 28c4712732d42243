// Package metrics records how requests end, by route and status and by
// upstream target and failure cause, and serves the counts to Prometheus and
// to the admin API together with the recent failures.
//
// One Metrics lives as long as the process, so counters survive reloads.
// A configuration binds its handles once when it is built (Route, Target);
// the per-request methods on those handles do no map lookups and no
// allocation.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/upstream"
)

// headBuckets bound the time to a response head, in seconds: from a
// loopback answer (~0.5ms) to the default response_header timeout (30s).
var headBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Options say what is read at scrape time.
type Options struct {
	// Pools returns the pools serving now; their targets' in-flight counts
	// are read at each scrape, which costs nothing per request. Nil leaves
	// portico_in_flight_requests out.
	Pools func() []*upstream.Pool
}

// Metrics is a running portico's record of requests and failures.
type Metrics struct {
	registry     *prometheus.Registry
	requests     *prometheus.CounterVec
	headDuration *prometheus.HistogramVec
	reloads      *prometheus.CounterVec
	reloadOK     prometheus.Gauge
	reloadTime   prometheus.Gauge
	http2Errors  *prometheus.CounterVec
	recent       *ring

	mu sync.Mutex // guards outcomes and order
	// outcomes holds one entry per upstream and target ever bound; target
	// "" is an upstream's failures before a target was chosen, upstream ""
	// the failures before a route matched. Entries are kept across
	// reloads so that counters stay monotonic and "failing since" survives.
	outcomes map[outcomeKey]*outcomes
	// order lists outcomes in binding order, for stable scrapes.
	order []*outcomes
}

type outcomeKey struct{ upstream, target string }

// New returns an empty record with the Go runtime and process collectors
// registered beside portico's own families.
func New(o Options) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_requests_total",
			Help: "Client requests answered, by route, upstream and status class (1xx to 5xx, other); 499 counts as 4xx.",
		}, []string{"route", "upstream", "code"}),
		headDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portico_upstream_response_head_duration_seconds",
			Help:    "Time from the start of an upstream attempt, connecting included, to its response head.",
			Buckets: headBuckets,
		}, []string{"upstream"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_config_reloads_total",
			Help: "Configuration reloads, by result (success, failure).",
		}, []string{"result"}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portico_config_last_reload_successful",
			Help: "1 when the last reload succeeded or none was tried, 0 when it failed and an older configuration is serving.",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portico_config_last_reload_success_timestamp_seconds",
			Help: "Unix time the serving configuration was loaded: at start or at the last successful reload.",
		}),
		http2Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_http2_errors_total",
			Help: "HTTP/2 protocol errors of clients, answered with a stream reset or by closing the connection, by net/http's name for them (e.g. conn_PROTOCOL_headers_even).",
		}, []string{"error"}),
		recent:   &ring{},
		outcomes: make(map[outcomeKey]*outcomes),
	}
	m.reloadOK.Set(1)
	m.reloadTime.SetToCurrentTime()
	// Both results exist from the start, so that increase() sees the
	// first failure.
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.headDuration, m.reloads, m.reloadOK, m.reloadTime, m.http2Errors,
		outcomeCollector{m},
	)
	if o.Pools != nil {
		m.registry.MustRegister(inFlightCollector{o.Pools})
	}
	return m
}

// Handler serves the Prometheus text exposition of every family.
func (m *Metrics) Handler() http.Handler {
	// A collector's error must not hide every other family.
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Reload counts a configuration reload; err is nil when the new
// configuration took over.
func (m *Metrics) Reload(err error) {
	if err != nil {
		m.reloads.WithLabelValues("failure").Inc()
		m.reloadOK.Set(0)
		return
	}
	m.reloads.WithLabelValues("success").Inc()
	m.reloadOK.Set(1)
	m.reloadTime.SetToCurrentTime()
}

// HTTP2Error counts an HTTP/2 protocol error of a client, named as
// net/http's HTTP/2 server names it; the names are a fixed set.
func (m *Metrics) HTTP2Error(name string) {
	m.http2Errors.WithLabelValues(name).Inc()
}

// outcomesFor returns the entry for upstream and target, creating it.
func (m *Metrics) outcomesFor(upstreamName, target string) *outcomes {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := outcomeKey{upstreamName, target}
	o, ok := m.outcomes[k]
	if !ok {
		o = newOutcomes(upstreamName, target)
		m.outcomes[k] = o
		m.order = append(m.order, o)
	}
	return o
}

// all returns every entry in binding order.
func (m *Metrics) all() []*outcomes {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.order[:len(m.order):len(m.order)]
}

// Route binds the handle for one route's requests. Call it when a
// configuration is built; route "" and upstream "" give the handle for
// requests no route matched. Handles for the same names share their
// counters, so a reload may bind them again.
func (m *Metrics) Route(route, upstreamName string) *RouteMetrics {
	r := &RouteMetrics{route: route, upstream: upstreamName, failures: m.outcomesFor(upstreamName, ""), recent: m.recent}
	for i := range r.byClass {
		r.byClass[i] = m.requests.WithLabelValues(route, upstreamName, statusClasses[i])
	}
	r.other = sync.OnceValue(func() prometheus.Counter {
		return m.requests.WithLabelValues(route, upstreamName, "other")
	})
	return r
}

// statusClasses are the code label's values for statuses 100 to 599.
var statusClasses = [5]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// RouteMetrics counts one route's requests, and the failures of its
// upstream that happen before a target is chosen.
type RouteMetrics struct {
	route, upstream string
	byClass         [len(statusClasses)]prometheus.Counter
	// other counts statuses 600-999, which upstreams may send; it is bound
	// on first use so that routes that never see one export no series.
	other    func() prometheus.Counter
	failures *outcomes
	recent   *ring
}

// Finished counts a request by the status sent to the client (499 when the
// client left first).
func (r *RouteMetrics) Finished(status int) {
	if status >= 100 && status < 600 {
		r.byClass[status/100-1].Inc()
		return
	}
	r.other().Inc()
}

// Fail records a failure before any target was chosen: no route matched,
// no target was usable, a policy refused the request. It fills in Route,
// Upstream and Time.
func (r *RouteMetrics) Fail(f Failure) {
	f.Route, f.Upstream, f.Target = r.route, r.upstream, ""
	f.Time = time.Now()
	r.failures.fail(&f)
	r.recent.add(&f)
}

// Target binds the handle for one target of an upstream, named as
// host:port. Call it when a configuration is built; binding the same names
// again returns a handle on the same counters and failure record.
func (m *Metrics) Target(upstreamName, target string) *TargetMetrics {
	return &TargetMetrics{
		head:     m.headDuration.WithLabelValues(upstreamName),
		outcomes: m.outcomesFor(upstreamName, target),
		recent:   m.recent,
	}
}

// TargetMetrics counts one target's exchanges.
type TargetMetrics struct {
	head     prometheus.Observer
	outcomes *outcomes
	recent   *ring
}

// Response records a response head received from the target, took after
// the attempt started. It ends the target's failure streak: the target
// answered, whatever the status.
func (t *TargetMetrics) Response(took time.Duration) {
	t.head.Observe(took.Seconds())
	t.outcomes.respond()
}

// Fail records a failure before the response head was sent to the client.
// It fills in Upstream, Target and Time; the caller gives the rest.
func (t *TargetMetrics) Fail(f Failure) {
	t.record(&f, false)
}

// Abort records a failure after the response head was sent, when the
// client's stream had to be broken; Status is the status already sent.
func (t *TargetMetrics) Abort(f Failure) {
	t.record(&f, true)
}

// Retry records a failure after which the request goes to another target.
func (t *TargetMetrics) Retry(f Failure) {
	f.Retried, f.Status = true, 0
	t.record(&f, false)
}

func (t *TargetMetrics) record(f *Failure, aborted bool) {
	f.Upstream, f.Target = t.outcomes.upstream, t.outcomes.target
	f.Aborted = aborted
	f.Time = time.Now()
	t.outcomes.fail(f)
	t.recent.add(f)
}

// Failure is one failed request as the record keeps it.
type Failure struct {
	// Time is when the failure was recorded; the handles set it.
	Time      time.Time
	RequestID string
	// Route is the route's name as the access log gives it, "" when no
	// route matched.
	Route string
	// Upstream and Target (host:port) are filled in by the handle; either
	// is "" when the request failed before reaching it.
	Upstream string
	Target   string
	// Status is the status sent to the client.
	Status int
	Cause  failure.Class
	// Details is the operator's explanation, as in the access log.
	Details string
	// Aborted is true for a failure after the response head was sent.
	Aborted bool
	// Retried is true for a failure after which the request was sent to
	// another target; the client was sent nothing for it (Status 0).
	Retried bool
}

// Recent returns up to limit of the most recent failures, newest first.
func (m *Metrics) Recent(limit int) []Failure { return m.recent.newest(limit) }
