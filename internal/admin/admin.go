// Package admin serves the operator's view of a running portico over HTTP:
// liveness, Prometheus metrics, the upstreams with their load and failures,
// the recent failures, the configuration, and a live dashboard of them.
package admin

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"strconv"

	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/metrics"
	"github.com/portico-proxy/portico/internal/upstream"
)

// Source is what one configuration serves: its pools and the configuration
// they were built from. It changes on every reload.
type Source interface {
	Pools() []*upstream.Pool
	Config() *config.Config
}

// Options say what the admin API shows.
type Options struct {
	// Source returns what is serving now; it is called once per API
	// request, so a reload shows at once.
	Source func() Source
	// Metrics is the process's record of requests and failures.
	Metrics *metrics.Metrics
}

// Failures the API returns when no limit is asked for.
const defaultFailureLimit = 50

// Handler returns the admin API and dashboard.
func Handler(o Options) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", o.Metrics.Handler())
	mux.HandleFunc("GET /api/upstreams", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, upstreams(o.Source().Pools(), o.Metrics))
	})
	mux.HandleFunc("GET /api/failures", func(w http.ResponseWriter, r *http.Request) {
		limit := defaultFailureLimit
		if s := r.URL.Query().Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				writeJSON(w, http.StatusBadRequest, apiError{"limit must be a whole number of failures, 0 or more; got " + strconv.Quote(s)})
				return
			}
			limit = n
		}
		writeJSON(w, http.StatusOK, recentFailures(o.Metrics.Recent(limit)))
	})
	mux.HandleFunc("GET /api/config", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, configSummary(o.Source().Config()))
	})
	mux.HandleFunc("GET /{$}", serveDashboard)
	// The Go profiler, for finding where a busy portico spends its time
	// (`go tool pprof http://ADMIN/debug/pprof/profile`). The admin API is
	// for operators only: bind it to loopback or a management network.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// apiError is the body of a refused API request.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
