package diagnose

import (
	"context"
	"sync"

	"github.com/portico-proxy/portico/internal/config"
)

// DefaultParallel bounds how many targets CheckConfig checks at once.
const DefaultParallel = 8

// ConfigReport is the outcome of checking every target of a config.
type ConfigReport struct {
	Config string `json:"config"`
	// Healthy is true when every target is.
	Healthy bool `json:"healthy"`
	// Targets are the reports in config order: upstreams as written, each
	// one's targets as written.
	Targets []*Report `json:"targets"`
}

// CheckConfig checks every target of every upstream of cfg, at most
// parallel at once (DefaultParallel when not positive). Each target is
// checked with base's options and its upstream's settings: tls.ca_file,
// tls.server_name, the timeouts, idle_timeout, the response limits, and
// the health check's path, which is requested instead of "/".
// It fails only when an upstream's CA file cannot be loaded.
func CheckConfig(ctx context.Context, cfg *config.Config, base Options, parallel int) (*ConfigReport, error) {
	if parallel <= 0 {
		parallel = DefaultParallel
	}
	type job struct {
		d *Diagnoser
		t Target
	}
	var jobs []job
	for _, u := range cfg.Upstreams {
		o := base
		o.CAFile, o.ServerName = u.TLS.CAFile, u.TLS.ServerName
		o.Proxy = SettingsFor(cfg, u)
		d, err := New(o)
		if err != nil {
			return nil, err
		}
		// A target is asked for what its health checks ask for: "/" may
		// well be a 404 or a redirect on a service that answers its
		// health path.
		path := ""
		if u.HealthCheck != nil {
			path = u.HealthCheck.Path
		}
		for _, tc := range u.Targets {
			t, err := ParseTarget(tc.URL.String() + path)
			if err != nil {
				return nil, err
			}
			jobs = append(jobs, job{d, t})
		}
	}

	cr := &ConfigReport{Config: cfg.Path, Healthy: true, Targets: make([]*Report, len(jobs))}
	slots := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, j := range jobs {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			cr.Targets[i] = j.d.Check(ctx, j.t)
		})
	}
	wg.Wait()
	for _, r := range cr.Targets {
		cr.Healthy = cr.Healthy && r.Verdict.Healthy
	}
	return cr, nil
}
