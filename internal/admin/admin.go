// Package admin serves the operator's view of a running portico over HTTP:
// liveness, and the upstream pools with their targets and load.
package admin

import (
	"encoding/json"
	"net/http"

	"github.com/portico-proxy/portico/internal/upstream"
)

// Source gives the admin API the pools being served now; it changes on
// every reload.
type Source interface {
	Pools() []*upstream.Pool
}

// Handler returns the admin API.
func Handler(src func() Source) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /api/upstreams", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, upstreams(src().Pools()))
	})
	return mux
}

// upstreamView is one pool as the API shows it.
type upstreamView struct {
	Name    string       `json:"name"`
	Targets []targetView `json:"targets"`
}

type targetView struct {
	URL      string `json:"url"`
	Address  string `json:"address"`
	InFlight int64  `json:"in_flight"`
	Idle     int    `json:"idle_connections"`
}

func upstreams(pools []*upstream.Pool) []upstreamView {
	out := make([]upstreamView, 0, len(pools))
	for _, p := range pools {
		v := upstreamView{Name: p.Name()}
		for _, t := range p.Targets() {
			v.Targets = append(v.Targets, targetView{
				URL:      t.URL(),
				Address:  t.Endpoint.Name(),
				InFlight: t.InFlight(),
				Idle:     t.Endpoint.IdleCount(),
			})
		}
		out = append(out, v)
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
