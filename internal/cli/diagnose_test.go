package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/portico-proxy/portico/internal/faults"
)

func startFault(t *testing.T, b faults.Behavior) *faults.Server {
	t.Helper()
	s, err := faults.Start(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// resolverFlag keeps a test off the machine's resolver: a closed loopback
// port that nothing answers on.
func resolverFlag(t *testing.T) string {
	t.Helper()
	addr, err := faults.ClosedAddr()
	if err != nil {
		t.Fatal(err)
	}
	return "--resolver=" + addr
}

func TestDiagnoseExitCodes(t *testing.T) {
	ok := startFault(t, faults.OK)
	refused, err := faults.ClosedAddr()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("healthy", func(t *testing.T) {
		code, stdout, stderr := run(t, "diagnose", ok.URL()+"/", "--idle-probe=50ms", resolverFlag(t))
		if code != 0 || stderr != "" || !strings.Contains(stdout, "verdict  healthy") {
			t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
		}
	})
	t.Run("problem", func(t *testing.T) {
		code, stdout, stderr := run(t, "diagnose", "http://"+refused+"/", resolverFlag(t))
		if code != 1 || stderr != "" || !strings.Contains(stdout, "verdict  connection_refused") {
			t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
		}
		if strings.Contains(stdout, "\x1b[") {
			t.Errorf("colour codes in output that is not a terminal:\n%q", stdout)
		}
	})
	for name, args := range map[string][]string{
		"no URL":                  {"diagnose"},
		"two URLs":                {"diagnose", ok.URL(), ok.URL()},
		"not http":                {"diagnose", "ftp://127.0.0.1/"},
		"URL and config":          {"diagnose", ok.URL(), "-c", "portico.yaml"},
		"ca with config":          {"diagnose", "-c", "portico.yaml", "--ca", "ca.pem"},
		"bad resolver":            {"diagnose", ok.URL(), "--resolver", "dns.example"},
		"zero timeout":            {"diagnose", ok.URL(), "--http-timeout", "0s"},
		"missing CA file":         {"diagnose", ok.URL(), "--ca", "/nonexistent/ca.pem"},
		"unknown flag":            {"diagnose", ok.URL(), "--frobnicate"},
		"negative expiry warning": {"diagnose", ok.URL(), "--expiry-warning-days", "-1"},
	} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := run(t, args...)
			if code != 2 || stdout != "" || !strings.HasPrefix(stderr, "portico: ") {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 with one error on stderr", code, stdout, stderr)
			}
		})
	}
}

func TestDiagnoseJSON(t *testing.T) {
	s := startFault(t, faults.Garbage)
	code, stdout, stderr := run(t, "diagnose", s.URL()+"/", "--json", resolverFlag(t))
	if code != 1 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var report struct {
		Schema  int `json:"schema"`
		Verdict struct {
			Healthy bool   `json:"healthy"`
			Error   string `json:"error"`
			Status  int    `json:"status"`
			Step    string `json:"step"`
		} `json:"verdict"`
	}
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatalf("%v in:\n%s", err, stdout)
	}
	v := report.Verdict
	if report.Schema != 1 || v.Healthy || v.Error != "http_protocol_error" || v.Status != 502 || v.Step != "http" {
		t.Errorf("schema %d, verdict %+v", report.Schema, v)
	}
}

func TestDiagnoseConfig(t *testing.T) {
	ok := startFault(t, faults.OK)
	closed := startFault(t, faults.CloseBeforeHead)
	path := writeFile(t, "portico.yaml", `upstreams:
  app:
    targets: ["http://`+ok.Addr()+`", "http://`+closed.Addr()+`"]
routes:
  - upstream: app
`)
	code, stdout, stderr := run(t, "diagnose", "-c", path, "--idle-probe=50ms", resolverFlag(t))
	if code != 1 || stderr != "" {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want one per target:\n%s", len(lines), stdout)
	}
	for i, want := range []string{"http://" + ok.Addr() + " ", "http://" + closed.Addr() + " "} {
		if !strings.HasPrefix(lines[i], "app  "+want) {
			t.Errorf("line %d %q does not start with the upstream and %q", i+1, lines[i], want)
		}
	}
	if !strings.Contains(lines[0], "healthy") || !strings.Contains(lines[1], "connection_terminated") {
		t.Errorf("verdicts out of order or wrong:\n%s", stdout)
	}

	bad := writeFile(t, "bad.yaml", "upstreams: {app: {targets: [\"http//x\"]}}\n")
	code, _, stderr = run(t, "diagnose", "-c", bad)
	if code != 1 || !strings.Contains(stderr, "is not a URL") {
		t.Errorf("bad config: exit %d, stderr %q; want exit 1 and the config problem", code, stderr)
	}
}
