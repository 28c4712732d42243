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
	portPattern = regexp.MustCompile(`(127\.0\.0\.1|[a-z]+\.internal|port ):?\d+`)
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
		"app.internal":  {Result: faults.DNSRecords, CNAME: "edge.internal", TTL: 300},
		"edge.internal": {Result: faults.DNSRecords, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, TTL: 30},
		"gone.internal": {Result: faults.DNSNXDomain},
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
		// idleProbe, when set, replaces the short default probe.
		idleProbe time.Duration
	}{
		{"healthy", "http://app.internal:" + okPort + "/health", false, 0},
		{"healthy-tls", tlsServer(faults.ValidCert), true, 0},
		{"nxdomain", "http://gone.internal:" + okPort + "/", false, 0},
		{"refused", "http://" + closed + "/", false, 0},
		{"expired", tlsServer(faults.ExpiredCert), true, 0},
		{"origin-502", start(t, faults.Origin502).URL() + "/", false, 0},
		{"bad-framing", start(t, faults.ConflictingContentLength).URL() + "/", false, 0},
		{"idle-close", "http://" + startIdleCloser(t, 50*time.Millisecond) + "/", false, stepTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := options(t, dnsServer.Addr())
			if tt.tls {
				o.CAFile = caFile
			}
			if tt.idleProbe != 0 {
				o.IdleProbe = tt.idleProbe
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
			mask := maskRun
			if tt.idleProbe != 0 {
				// When the server closed is measured, and the verdict
				// quotes it.
				mask = func(s string) string { return durationPattern.ReplaceAllString(maskRun(s), " TIME") }
			}
			golden(t, filepath.Join("testdata", tt.name+".txt"), mask(human.String()))
			golden(t, filepath.Join("testdata", tt.name+".json"), mask(js.String()))
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

// Durations a doc example shows are its own run's: in text, and as JSON
// numbers.
var (
	durationPattern     = regexp.MustCompile(` *\b\d+(\.\d+)?(ms|s)\b`)
	jsonDurationPattern = regexp.MustCompile(`("[a-z_]+_ms"): [0-9.]+`)
)

// docExample matches an example in docs/diagnose.md: a marker naming the
// golden file it shows, then a text block.
var docExample = regexp.MustCompile("(?s)<!-- example: (\\S+) -->\n```text\n(.*?)```")

// TestDocsExamplesMatchTheOutput checks that each example session in
// docs/diagnose.md is the output of its golden case, up to the ports,
// dates and times, which the doc shows from a real run. A session starts
// with the command as typed.
func TestDocsExamplesMatchTheOutput(t *testing.T) {
	doc, err := os.ReadFile("../../docs/diagnose.md")
	if err != nil {
		t.Fatal(err)
	}
	examples := docExample.FindAllSubmatch(doc, -1)
	if len(examples) < 3 {
		t.Fatalf("docs/diagnose.md has %d marked examples, want at least 3", len(examples))
	}
	mask := func(s string) string {
		s = jsonDurationPattern.ReplaceAllString(maskRun(s), "$1: TIME")
		return durationPattern.ReplaceAllString(s, " TIME")
	}
	for _, ex := range examples {
		name, shown := string(ex[1]), string(ex[2])
		want, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Errorf("example %s: %v", name, err)
			continue
		}
		if strings.HasPrefix(shown, "$ ") {
			_, shown, _ = strings.Cut(shown, "\n")
		}
		if mask(shown) != mask(string(want)) {
			t.Errorf("docs/diagnose.md example %s differs from testdata/%s:\n--- doc:\n%s\n--- output:\n%s", name, name, shown, want)
		}
	}
}
