package gateway_test

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/portico-proxy/portico/internal/faults"
	"github.com/portico-proxy/portico/internal/resolve"
)

// TestBalancesByWeightThroughTheProxy: with weights 1 and 3, four requests
// in a row reach the targets in the smooth order, never a burst to one.
func TestBalancesByWeightThroughTheProxy(t *testing.T) {
	a, err := faults.StartWith(faults.OK, faults.Options{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := faults.StartWith(faults.OK, faults.Options{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h := startGateway(t, `
upstreams:
  app:
    targets:
      - "http://${A}"
      - url: "http://${B}"
        weight: 3
routes:
  - upstream: app
`, map[string]string{"A": a.Addr(), "B": b.Addr()})

	counts := map[string]int{}
	var order string
	for range 8 {
		resp := h.get("/")
		readBody(t, resp)
		who := resp.Header.Get("X-Served-By")
		counts[who]++
		order += who
	}
	if counts["a"] != 2 || counts["b"] != 6 {
		t.Fatalf("8 requests went %v, want a:2 b:6 (order %s)", counts, order)
	}
	for i := 0; i+3 < len(order); i++ {
		if order[i:i+4] == "bbbb" {
			t.Fatalf("burst of four to one target in %s", order)
		}
	}
}

// TestHashSticksKeysToTargets: equal header values go to equal targets.
func TestHashSticksKeysToTargets(t *testing.T) {
	var addrs []string
	for i := range 4 {
		s, err := faults.StartWith(faults.OK, faults.Options{Name: strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		addrs = append(addrs, s.Addr())
	}
	h := startGateway(t, `
upstreams:
  app:
    targets: ["http://${T0}", "http://${T1}", "http://${T2}", "http://${T3}"]
    balance: hash
    hash: {header: X-User}
routes:
  - upstream: app
`, map[string]string{"T0": addrs[0], "T1": addrs[1], "T2": addrs[2], "T3": addrs[3]})

	seen := map[string]bool{}
	for user := range 20 {
		first := ""
		for range 3 {
			resp := h.get("/", fmt.Sprintf("X-User: user-%d", user))
			readBody(t, resp)
			who := resp.Header.Get("X-Served-By")
			if first == "" {
				first = who
			} else if who != first {
				t.Fatalf("user-%d went to %s and then %s", user, first, who)
			}
		}
		seen[first] = true
	}
	if len(seen) < 2 {
		t.Errorf("20 users all hashed to %v", seen)
	}
}

// TestFollowsDNSChangesWithoutReload: when a target's name starts to
// resolve elsewhere, traffic follows within the refresh interval.
func TestFollowsDNSChangesWithoutReload(t *testing.T) {
	// Two upstreams on one port, one on 127.0.0.1 and one on ::1.
	v4, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := v4.Addr().(*net.TCPAddr).Port
	v6, err := net.Listen("tcp", net.JoinHostPort("::1", strconv.Itoa(port)))
	if err != nil {
		t.Skipf("::1 port %d not free: %v", port, err)
	}
	for name, ln := range map[string]net.Listener{"v4": v4, "v6": v6} {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("X-Served-By", name)
		})}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	dns, err := faults.StartDNS(map[string]faults.DNSAnswer{
		"app.test.": {Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()

	h := startGateway(t, `
upstreams:
  app:
    targets: ["http://app.test:${PORT}"]
    resolve_every: 50ms
routes:
  - upstream: app
`, map[string]string{"PORT": strconv.Itoa(port)},
		harnessOptions{resolver: resolve.Config{Servers: []string{dns.Addr()}, Timeout: time.Second}})

	servedBy := func() string {
		resp := h.get("/")
		readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d (%s)", resp.StatusCode, resp.Header.Get("Proxy-Status"))
		}
		return resp.Header.Get("X-Served-By")
	}
	if got := servedBy(); got != "v4" {
		t.Fatalf("served by %s before the change", got)
	}
	dns.Set("app.test.", faults.DNSAnswer{Addrs: []netip.Addr{netip.MustParseAddr("::1")}})
	deadline := time.Now().Add(5 * time.Second)
	for servedBy() != "v6" {
		if time.Now().After(deadline) {
			t.Fatal("traffic never followed the DNS change")
		}
		// Wait for the next lookup rather than spinning.
		select {
		case <-dns.Queries():
		case <-time.After(100 * time.Millisecond):
		}
	}
}
