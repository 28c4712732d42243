package gateway_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/portico-proxy/portico/internal/faults"
)

// BenchmarkProxiedGET is one keep-alive GET of a small body through the
// gateway on loopback. Client, gateway and upstream share the process, so
// ns/op and allocs/op cover all three; compare runs, not absolutes.
func BenchmarkProxiedGET(b *testing.B) {
	app, err := faults.Start(faults.OK)
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	// The access log is written, as in production, but to nowhere.
	h := startGateway(b, oneUpstream, map[string]string{"APP": app.Addr()}, harnessOptions{accessLog: io.Discard})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	req, _ := http.NewRequest(http.MethodGet, h.URL+"/bench", nil)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
