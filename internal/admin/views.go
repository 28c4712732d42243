package admin

import (
	"time"

	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/metrics"
	"github.com/portico-proxy/portico/internal/respond"
	"github.com/portico-proxy/portico/internal/upstream"
)

// The JSON shapes below are documented in docs/admin.md; outside tools
// read them, so fields are only ever added.

// upstreamView is one pool as the API shows it.
type upstreamView struct {
	Name string `json:"name"`
	// Unassigned are the pool's failures before a target was chosen, such
	// as destination_unavailable when no target was usable.
	Unassigned outcomeView  `json:"unassigned"`
	Targets    []targetView `json:"targets"`
}

type targetView struct {
	URL      string     `json:"url"`
	Address  string     `json:"address"`
	InFlight int64      `json:"in_flight"`
	Idle     int        `json:"idle_connections"`
	Health   healthView `json:"health"`
	outcomeView
}

// healthView is whether the pool sends the target requests, from health
// checks and outlier ejection.
type healthView struct {
	// State is "up", "down" (failed its health checks) or "ejected"
	// (its requests kept failing).
	State string `json:"state"`
	// Since is when the target entered State, null if it never changed.
	Since *time.Time `json:"since"`
	// Until is when an ejection ends, null unless ejected.
	Until *time.Time `json:"until"`
	// Cause is the last failure the health record saw: an RFC 9209 error
	// type, or "http_status_" and a status; "" when none.
	Cause string `json:"cause"`
}

// outcomeView is what happened to the requests of a target, or of a pool
// before a target was chosen.
type outcomeView struct {
	Requests  int64 `json:"requests"`
	Responses int64 `json:"responses"`
	Failures  int64 `json:"failures"`
	Aborted   int64 `json:"aborted"`
	// Retried counts the failures after which the request was sent to
	// another target, so the client did not see them.
	Retried int64 `json:"retried"`
	// FailuresByCause is keyed by RFC 9209 error type.
	FailuresByCause map[string]int64 `json:"failures_by_cause"`
	LastFailure     *failureView     `json:"last_failure"`
	// FailingSince is when the current run of failures began; null once
	// the target answers again.
	FailingSince        *time.Time `json:"failing_since"`
	ConsecutiveFailures int64      `json:"consecutive_failures"`
}

// failureView is one failed request.
type failureView struct {
	Time      time.Time `json:"time"`
	RequestID string    `json:"request_id"`
	Route     string    `json:"route"`
	Upstream  string    `json:"upstream"`
	Target    string    `json:"target"`
	Status    int       `json:"status"`
	// Cause is the RFC 9209 error type; Explanation says it in plain
	// words, as the error page does.
	Cause       string `json:"cause"`
	Explanation string `json:"explanation"`
	Details     string `json:"details"`
	// Aborted is true when the failure came after the response head, so
	// Status was already sent and the stream was broken.
	Aborted bool `json:"aborted"`
	// Retried is true when the request was then sent to another target;
	// Status is 0, as the client was sent nothing for this failure.
	Retried bool `json:"retried"`
}

func upstreams(pools []*upstream.Pool, m *metrics.Metrics) []upstreamView {
	out := make([]upstreamView, 0, len(pools))
	for _, p := range pools {
		v := upstreamView{Name: p.Name(), Unassigned: outcomeOf(m.Stats(p.Name(), "")), Targets: []targetView{}}
		for _, t := range p.Targets() {
			v.Targets = append(v.Targets, targetOf(p, t, m))
		}
		out = append(out, v)
	}
	return out
}

// targetOf is the one place a target's view is put together.
func targetOf(p *upstream.Pool, t *upstream.Target, m *metrics.Metrics) targetView {
	address := t.Endpoint.Name()
	h := t.Health()
	return targetView{
		URL:      t.URL(),
		Address:  address,
		InFlight: t.InFlight(),
		Idle:     t.Endpoint.IdleCount(),
		Health: healthView{
			State: h.State.String(),
			Since: timeOrNull(h.Since),
			Until: timeOrNull(h.Until),
			Cause: h.Cause,
		},
		outcomeView: outcomeOf(m.Stats(p.Name(), address)),
	}
}

// timeOrNull gives a zero time as JSON null.
func timeOrNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func outcomeOf(s metrics.Stats) outcomeView {
	v := outcomeView{
		Requests:            s.Requests,
		Responses:           s.Responses,
		Failures:            s.Failures,
		Aborted:             s.Aborts,
		Retried:             s.Retried,
		FailuresByCause:     make(map[string]int64, len(s.ByCause)),
		ConsecutiveFailures: s.Consecutive,
	}
	for _, c := range s.ByCause {
		v.FailuresByCause[c.Cause.String()] = c.Count
	}
	if s.Last.Cause != failure.None {
		f := failureOf(s.Last)
		v.LastFailure = &f
	}
	v.FailingSince = timeOrNull(s.FailingSince)
	return v
}

func failureOf(f metrics.Failure) failureView {
	return failureView{
		Time:        f.Time,
		RequestID:   f.RequestID,
		Route:       f.Route,
		Upstream:    f.Upstream,
		Target:      f.Target,
		Status:      f.Status,
		Cause:       f.Cause.String(),
		Explanation: respond.ExplainStatus(f.Cause, f.Status),
		Details:     f.Details,
		Aborted:     f.Aborted,
		Retried:     f.Retried,
	}
}

func recentFailures(fs []metrics.Failure) []failureView {
	out := make([]failureView, len(fs))
	for i, f := range fs {
		out[i] = failureOf(f)
	}
	return out
}

// configView summarises the serving configuration. It leaves out nothing
// secret because the configuration holds no secrets: target URLs may not
// carry user information, and TLS settings name files, not keys.
type configView struct {
	// Path is the file the configuration came from, "" when embedded.
	Path   string   `json:"path"`
	Listen []string `json:"listen"`
	Admin  string   `json:"admin"`
	// TLSListen holds the HTTPS addresses, TLSCertificates the files of
	// the certificates they present; both empty when HTTPS is off.
	TLSListen       []string       `json:"tls_listen"`
	TLSCertificates []certFiles    `json:"tls_certificates"`
	ProxyName       string         `json:"proxy_name"`
	ProxyStatus     string         `json:"proxy_status"`
	TrustedNetworks []string       `json:"trusted_networks"`
	Upstreams       []upstreamConf `json:"upstreams"`
	Routes          []routeConf    `json:"routes"`
}

type certFiles struct {
	Cert string `json:"cert_file"`
	Key  string `json:"key_file"`
}

type upstreamConf struct {
	Name     string       `json:"name"`
	Balance  string       `json:"balance"`
	Targets  []targetConf `json:"targets"`
	Timeouts timeoutsConf `json:"timeouts"`
}

type targetConf struct {
	URL    string `json:"url"`
	Weight int    `json:"weight"`
}

// timeoutsConf gives durations as in the file ("2s"); "0s" is no limit.
type timeoutsConf struct {
	Connect        string `json:"connect"`
	ResponseHeader string `json:"response_header"`
	Read           string `json:"read"`
	Write          string `json:"write"`
	Request        string `json:"request"`
}

type routeConf struct {
	Host        string `json:"host"`
	PathPrefix  string `json:"path_prefix"`
	StripPrefix bool   `json:"strip_prefix"`
	Upstream    string `json:"upstream"`
}

func configSummary(c *config.Config) configView {
	v := configView{
		Path:            c.Path,
		Listen:          c.Listen,
		Admin:           c.Admin,
		ProxyName:       c.ProxyName,
		ProxyStatus:     c.ProxyStatus.String(),
		TrustedNetworks: make([]string, len(c.TrustedNetworks)),
		Upstreams:       make([]upstreamConf, len(c.Upstreams)),
		Routes:          make([]routeConf, len(c.Routes)),
	}
	for i, n := range c.TrustedNetworks {
		v.TrustedNetworks[i] = n.String()
	}
	v.TLSListen, v.TLSCertificates = []string{}, []certFiles{}
	if c.TLS != nil {
		v.TLSListen = c.TLS.Listen
		for _, f := range c.TLS.Files {
			v.TLSCertificates = append(v.TLSCertificates, certFiles{f.Cert, f.Key})
		}
	}
	for i, u := range c.Upstreams {
		uc := upstreamConf{
			Name:    u.Name,
			Balance: string(u.Balance),
			Targets: make([]targetConf, len(u.Targets)),
			Timeouts: timeoutsConf{
				Connect:        u.Timeouts.Connect.String(),
				ResponseHeader: u.Timeouts.ResponseHeader.String(),
				Read:           u.Timeouts.Read.String(),
				Write:          u.Timeouts.Write.String(),
				Request:        u.Timeouts.Request.String(),
			},
		}
		for j, t := range u.Targets {
			uc.Targets[j] = targetConf{URL: t.URL.String(), Weight: t.Weight}
		}
		v.Upstreams[i] = uc
	}
	for i, r := range c.Routes {
		v.Routes[i] = routeConf{Host: r.Host, PathPrefix: r.PathPrefix, StripPrefix: r.StripPrefix, Upstream: r.Upstream}
	}
	return v
}
