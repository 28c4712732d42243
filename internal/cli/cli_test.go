package cli

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestValidatePrintsEveryProblemWithPosition(t *testing.T) {
	path := writeFile(t, "portico.yaml", `listen: "127.0.0.1:8080"
upstreams:
  app:
    targets: ["http//x"]
    timeouts: {connect: 2 seconds}
routes:
  - upstream: ap
    pathprefix: /api/
`)
	code, stdout, stderr := run(t, "validate", "-c", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing", stdout)
	}
	want := []string{
		path + `:4:15: upstream "app": target "http//x" is not a URL`,
		path + `:5:25:`,
		path + `:7:15:`,
		path + `:8:5:`,
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if !strings.Contains(stderr, "did you mean") {
		t.Errorf("no did-you-mean for the misspelt key and upstream:\n%s", stderr)
	}
	positions := regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(path)+`:\d+:\d+: `).FindAllString(stderr, -1)
	if len(positions) != 4 {
		t.Errorf("%d positioned problems, want 4:\n%s", len(positions), stderr)
	}
}

func TestValidateAcceptsAGoodFile(t *testing.T) {
	path := writeFile(t, "portico.yaml", `listen: "127.0.0.1:8080"
upstreams:
  app:
    targets: ["http://127.0.0.1:3000"]
routes:
  - upstream: app
`)
	code, stdout, stderr := run(t, "validate", "--config", path)
	if code != 0 || !strings.Contains(stdout, "valid") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestValidateReportsUnsetEnvironmentVariable(t *testing.T) {
	path := writeFile(t, "portico.yaml", `listen: "127.0.0.1:${PORTICO_TEST_SURELY_UNSET_PORT}"
`)
	code, _, stderr := run(t, "validate", "-c", path)
	if code != 1 || !strings.Contains(stderr, path+":1:") || !strings.Contains(stderr, "PORTICO_TEST_SURELY_UNSET_PORT") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := run(t, "version")
	if code != 0 || !strings.HasPrefix(stdout, "portico ") || !strings.Contains(stdout, runtime.Version()) {
		t.Errorf("version: exit %d, %q", code, stdout)
	}
	code, stdout, _ = run(t, "version", "--json")
	var b buildInfo
	if code != 0 || json.Unmarshal([]byte(stdout), &b) != nil || b.GoVersion != runtime.Version() || b.Version == "" || b.Commit == "" {
		t.Errorf("version --json: exit %d, %q", code, stdout)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	cases := map[string][]string{
		"unknown command":        {"frobnicate"},
		"unknown flag":           {"run", "--frob"},
		"missing config":         {"validate"},
		"extra argument":         {"version", "extra"},
		"argument to no-arg run": {"run", "-c", "x.yaml", "extra"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := run(t, args...)
			if code != 2 || stderr == "" {
				t.Errorf("exit %d, stderr %q; want 2 and a message", code, stderr)
			}
		})
	}
}

func TestRunFailsOnRunTimeProblems(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	path := writeFile(t, "portico.yaml", `listen: "`+busy.Addr().String()+`"
upstreams:
  app:
    targets: ["http://127.0.0.1:3000"]
routes:
  - upstream: app
`)
	// validate does not check whether the port is free: that is run's job.
	if code, _, stderr := run(t, "validate", "-c", path); code != 0 {
		t.Fatalf("validate: exit %d, %s", code, stderr)
	}
	code, _, stderr := run(t, "run", "-c", path)
	if code != 1 || !strings.Contains(stderr, "address already in use") || !strings.Contains(stderr, busy.Addr().String()) {
		t.Errorf("listen address in use: exit %d, %q", code, stderr)
	}
	code, _, stderr = run(t, "run", "-c", path+".missing")
	if code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing file: exit %d, %q", code, stderr)
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, stdout, stderr := run(t, "completion", shell)
		if code != 0 || !strings.Contains(stdout, "portico") {
			t.Errorf("completion %s: exit %d, %d bytes, stderr %q", shell, code, len(stdout), stderr)
		}
	}
}
