package gateway_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/portico-proxy/portico/internal/faults"
)

func TestConnectTimesOut(t *testing.T) {
	u, err := faults.StartUnanswered()
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	addr := u.Addr()
	h := startGateway(t, upstreamConfig("http://"+addr, "\n    timeouts: {connect: 300ms}"), nil)
	resp := h.get("/", "Accept: application/json")
	checkAnswer(t, h, resp, readBody(t, resp), "application/json",
		want{status: 504, errorType: "connection_timeout", params: map[string]any{"next-hop": addr}})
}

// inNamespace is set in the copy of the test binary that runs inside a
// network namespace of its own.
const inNamespace = "PORTICO_TEST_IN_NETNS"

// TestUnroutableTarget needs a route that says "no route to host" without
// sending a packet anywhere: inside a network namespace of its own (the
// test binary runs itself again under unshare), 127.66.0.1 is made
// unreachable while the rest of the loopback network works.
func TestUnroutableTarget(t *testing.T) {
	if os.Getenv(inNamespace) == "" {
		unshare, err := exec.LookPath("unshare")
		if err != nil {
			t.Skip("unshare is not installed")
		}
		if _, err := exec.LookPath("ip"); err != nil {
			t.Skip("ip (iproute2) is not installed")
		}
		cmd := exec.Command(unshare, "--net", "--", os.Args[0], "-test.run=^TestUnroutableTarget$", "-test.v")
		cmd.Env = append(os.Environ(), inNamespace+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 && len(out) > 0 && !isPermissionProblem(out) {
				t.Fatalf("inside the namespace:\n%s", out)
			}
			t.Skipf("cannot make a network namespace here: %v\n%s", err, out)
		}
		t.Logf("inside the namespace:\n%s", out)
		return
	}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"route", "add", "unreachable", "127.66.0.1/32", "table", "local"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	h := startGateway(t, upstreamConfig("http://127.66.0.1:80", ""), nil)
	resp := h.get("/", "Accept: text/plain")
	checkAnswer(t, h, resp, readBody(t, resp), "text/plain",
		want{status: 502, errorType: "destination_ip_unroutable", params: map[string]any{"next-hop": "127.66.0.1:80"}})
}

// isPermissionProblem reports whether unshare failed for lack of rights,
// which only means this machine cannot run the test.
func isPermissionProblem(out []byte) bool {
	s := string(out)
	for _, w := range []string{"Operation not permitted", "Permission denied", "unshare failed"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}
