package diagnose_test

import (
	"bytes"
	"context"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portico-proxy/portico/internal/diagnose"
	"github.com/portico-proxy/portico/internal/faults"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from the output")

// maskedDuration replaces every measured time in a golden report.
const maskedDuration = diagnose.Millis(1500 * time.Microsecond)

// maskTimings sets every measured duration of r to maskedDuration, so the
// output depends only on what the steps found.
func maskTimings(r *diagnose.Report) {
	if r.DNS != nil {
		r.DNS.Duration = maskedDuration
	}
	if r.TCP != nil {
		r.TCP.Duration = maskedDuration
		for i := range r.TCP.Attempts {
			r.TCP.Attempts[i].Duration = maskedDuration
		}
	}
	if r.TLS != nil {
		r.TLS.Duration = maskedDuration
	}
	if r.HTTP != nil {
		r.HTTP.Duration, r.HTTP.TimeToFirstByte = maskedDuration, maskedDuration
	}
	if k := r.KeepAlive; k != nil {
		k.Duration = maskedDuration
		if k.ClosedAfter != nil {
			k.ClosedAfter = new(maskedDuration)
		}
	}
}

// Ports and dates differ from run to run: ports are the kernel's choice,
// and the fault servers' certificates are issued relative to now.
var (
	portPattern = regexp.MustCompile(`(127\.0\.0\.1|[a-z]+\.test|port ):?\d+`)
	datePattern = regexp.MustCompile(`\d{4}-\d\d-\d\d([T ]\d\d:\d\d:\d\d(\.\d+)?Z?)?`)
)

func maskRun(s string) string {
	s = portPattern.ReplaceAllStringFunc(s, func(m string) string {
		return m[:strings.LastIndexAny(m, ": ")+1] + "PORT"
	})
	return datePattern.ReplaceAllString(s, "DATE")
}

// TestGolden pins the human and JSON forms of reports for a few common
// causes against testdata/*.txt and testdata/*.json; -update rewrites them.
func TestGolden(t *testing.T) {
	ca, err := faults.NewCA("portico test CA")
	if err != nil {
		t.Fatal(err)
	}
	caFile, err := ca.WritePEM(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ok := start(t, faults.OK)
	_, okPort, _ := strings.Cut(ok.Addr(), ":")
	dnsServer, err := faults.StartDNS(map[string]faults.DNSAnswer{
		"app.test":  {Result: faults.DNSRecords, CNAME: "edge.test", TTL: 300},
		"edge.test": {Result: faults.DNSRecords, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, TTL: 30},
		"gone.test": {Result: faults.DNSNXDomain},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dnsServer.Close() })
	closed, err := faults.ClosedAddr()
	if err != nil {
		t.Fatal(err)
	}
	tlsServer := func(f faults.TLSFault) string {
		s, err := faults.StartTLS(f, ca)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s.URL() + "/"
	}

	tests := []struct {
		name string
		url  string
		tls  bool
	}{
		{"healthy", "http://app.test:" + okPort + "/health", false},
		{"healthy-tls", tlsServer(faults.ValidCert), true},
		{"nxdomain", "http://gone.test:" + okPort + "/", false},
		{"refused", "http://" + closed + "/", false},
		{"expired", tlsServer(faults.ExpiredCert), true},
		{"origin-502", start(t, faults.Origin502).URL() + "/", false},
		{"bad-framing", start(t, faults.ConflictingContentLength).URL() + "/", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := options(t, dnsServer.Addr())
			if tt.tls {
				o.CAFile = caFile
			}
			d, err := diagnose.New(o)
			if err != nil {
				t.Fatal(err)
			}
			target, err := diagnose.ParseTarget(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			r := d.Check(context.Background(), target)
			maskTimings(r)
			var human, js bytes.Buffer
			if err := diagnose.Render(&human, r, diagnose.RenderOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := diagnose.JSON(&js, r); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", tt.name+".txt"), maskRun(human.String()))
			golden(t, filepath.Join("testdata", tt.name+".json"), maskRun(js.String()))
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the output (go test -update rewrites it)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}
