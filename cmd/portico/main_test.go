package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-proxy/portico/internal/demo"
)

// binary is portico built once for the tests that run it as a process, so
// they exercise real signals, real exit codes and the real demo.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "portico-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "portico")
	build := exec.Command("go", "build", "-race", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building portico:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is a running portico whose stderr lines can be awaited.
type process struct {
	cmd   *exec.Cmd
	lines chan string
	out   *bufio.Reader
}

func startPortico(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, lines: make(chan string, 100), out: bufio.NewReader(stdout)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return p
}

// await returns the first stderr line matching re, failing after 10s.
func (p *process) await(t *testing.T, re string) []string {
	t.Helper()
	pattern := regexp.MustCompile(re)
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("portico exited before printing %q", re)
			}
			if m := pattern.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-timeout:
			t.Fatalf("portico did not print %q", re)
		}
	}
}

func (p *process) wait(t *testing.T) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(15 * time.Second):
		t.Fatal("portico did not exit")
		return -1
	}
}

// upstream answers with its name; /slow waits until release is closed.
func upstream(t *testing.T, name string, entered chan<- struct{}, release <-chan struct{}) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		io.WriteString(w, name)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func configFor(target string) string {
	return fmt.Sprintf(`listen: "127.0.0.1:0"
shutdown_grace: 10s
access_log: {path: "off"}
upstreams:
  app:
    targets: ["http://%s"]
routes:
  - upstream: app
`, target)
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSignals drives a real portico process: SIGHUPs in quick succession
// leave the newest file serving, a bad file is refused while the old one
// keeps serving, and SIGTERM drains an in-flight request and exits 0.
func TestSignals(t *testing.T) {
	entered := make(chan struct{}, 8)
	release := make(chan struct{})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	var targets []string
	for i := range 4 {
		targets = append(targets, upstream(t, fmt.Sprintf("v%d", i), entered, release))
	}
	path := filepath.Join(t.TempDir(), "portico.yaml")
	write := func(content string) {
		if err := os.WriteFile(path+".tmp", []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	write(configFor(targets[0]))
	p := startPortico(t, nil, "run", "-c", path)
	addr := p.await(t, `portico serving.*listen=\[([0-9.:]+)\]`)[1]
	url := "http://" + addr
	if got := get(t, url+"/"); got != "v0" {
		t.Fatalf("before reloads: %q", got)
	}

	// Three reloads in quick succession: the last file written wins.
	for _, target := range targets[1:] {
		write(configFor(target))
		p.cmd.Process.Signal(syscall.SIGHUP)
	}
	deadline := time.Now().Add(10 * time.Second)
	for get(t, url+"/") != "v3" {
		if time.Now().After(deadline) {
			t.Fatal("the newest file never served")
		}
		p.await(t, "configuration reloaded")
	}

	// A broken file is refused with its position; the old config serves.
	write("upstreams:\n  app:\n    targets: [\"http//x\"]\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.await(t, regexp.QuoteMeta(path)+`:3:\d+: .*is not a URL`)
	if got := get(t, url+"/"); got != "v3" {
		t.Fatalf("after a refused reload: %q", got)
	}

	// SIGTERM with a request in flight: it completes, then portico exits 0.
	result := make(chan string, 1)
	go func() {
		resp, err := http.Get(url + "/slow")
		if err != nil {
			result <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- string(b)
	}()
	<-entered
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.await(t, "draining")
	close(release)
	if got := <-result; got != "v3" {
		t.Errorf("in-flight request during drain got %q", got)
	}
	if code := p.wait(t); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}

// TestDemo starts the embedded demo as a newcomer would, follows its
// printed instructions, and checks that every failure its /demo/ page
// lists answers as the page says.
func TestDemo(t *testing.T) {
	p := startPortico(t, []string{"PORTICO_DEMO_LISTEN=127.0.0.1:0", "PORTICO_DEMO_ADMIN=127.0.0.1:0"})
	guide := make(chan string, 1)
	go func() {
		var b strings.Builder
		for {
			line, err := p.out.ReadString('\n')
			b.WriteString(line)
			if err != nil || strings.Contains(line, "Ctrl-C") {
				guide <- b.String()
				return
			}
		}
	}()
	var text string
	select {
	case text = <-guide:
	case <-time.After(10 * time.Second):
		t.Fatal("the demo printed no guide")
	}
	urls := regexp.MustCompile(`(?m)^\s+(gateway|dashboard)\s+(http://\S+)/$`).FindAllStringSubmatch(text, -1)
	if len(urls) != 2 {
		t.Fatalf("guide without the gateway and dashboard URLs:\n%s", text)
	}
	gateway, dashboard := urls[0][2], urls[1][2]
	served := map[string]bool{}
	for range 6 {
		body := get(t, gateway+"/")
		served[strings.Fields(body)[2]] = true
	}
	if !served["app-1:"] || !served["app-2:"] {
		t.Errorf("demo did not balance over both apps: %v", served)
	}
	listing := get(t, gateway+"/demo/")
	for _, f := range demo.Failures {
		if f.How != "" {
			continue // needs a body, concurrency or special fields
		}
		if !strings.Contains(listing, f.Path) {
			t.Errorf("/demo/ does not list %s", f.Path)
		}
		wantStatus, wantCause := f.Answer[:3], ""
		for _, w := range strings.Fields(f.Answer) {
			if strings.Contains(w, "_") {
				wantCause = strings.Trim(w, ",.:()")
				break
			}
		}
		t.Run(f.Path, func(t *testing.T) {
			resp, err := http.Get(gateway + f.Path)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if got := strconv.Itoa(resp.StatusCode); got != wantStatus {
				t.Errorf("status %s, the page says %s", got, wantStatus)
			}
			// A failure after the head keeps the 200; it shows in the
			// log and the broken stream, not in the header.
			if ps := resp.Header.Get("Proxy-Status"); wantStatus != "200" && !strings.Contains(ps, wantCause) {
				t.Errorf("Proxy-Status %q, the page says %s", ps, wantCause)
			}
		})
	}
	if body := get(t, dashboard+"/api/upstreams"); !strings.Contains(body, `"app"`) {
		t.Errorf("admin API: %s", body)
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.wait(t); code != 0 {
		t.Errorf("demo exit code %d after SIGINT", code)
	}
}
