package cli

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestStatusExplainsACode(t *testing.T) {
	code, stdout, stderr := run(t, "status", "502")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		"502 Bad Gateway (RFC 9110 §15.6.3)",
		"Who sends it",
		"connection_refused",
		"The backend server refused the connection.",
		"http.StatusBadGateway",
		"java.net.HttpURLConnection.HTTP_BAD_GATEWAY",
		":bad_gateway",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	// Prose wraps; the tables, whose columns are two spaces apart, may not.
	for _, line := range strings.Split(stdout, "\n") {
		if len(line) > textWidth && !strings.Contains(strings.TrimSpace(line), "  ") {
			t.Errorf("prose line longer than %d columns: %q", textWidth, line)
		}
	}
}

func TestStatusJSON(t *testing.T) {
	code, stdout, _ := run(t, "status", "504", "--json")
	var entry struct {
		Code       int `json:"code"`
		ErrorTypes []struct {
			Type string `json:"type"`
		} `json:"error_types"`
	}
	if err := json.Unmarshal([]byte(stdout), &entry); err != nil || code != 0 {
		t.Fatalf("exit %d, %v in:\n%s", code, err, stdout)
	}
	if entry.Code != 504 || len(entry.ErrorTypes) == 0 || entry.ErrorTypes[0].Type != "dns_timeout" {
		t.Errorf("entry %+v", entry)
	}
}

func TestStatusListAndOtherCodes(t *testing.T) {
	code, stdout, _ := run(t, "status")
	if code != 0 || !strings.HasPrefix(stdout, "400 Bad Request") || !strings.Contains(stdout, "\n504 Gateway Timeout") {
		t.Errorf("exit %d, list:\n%s", code, stdout)
	}
	code, stdout, _ = run(t, "status", "418")
	if code != 0 || !strings.Contains(stdout, "passes it on unchanged") {
		t.Errorf("418: exit %d, %q", code, stdout)
	}
	if code, _, stderr := run(t, "status", "299"); code != 1 || !strings.Contains(stderr, "not a registered") {
		t.Errorf("299: exit %d, stderr %q; want 1", code, stderr)
	}
	for _, arg := range []string{"abc", "99", "600"} {
		if code, _, _ := run(t, "status", arg); code != 2 {
			t.Errorf("status %s: exit %d, want 2", arg, code)
		}
	}
}

// statusExample matches an example session in docs/status.md.
var statusExample = regexp.MustCompile("(?s)<!-- example: [^>]+ -->\n```text\n\\$ portico ([^\n]*)\n(.*?)```")

// TestStatusDocExamples holds the sessions in docs/status.md to the
// command's output.
func TestStatusDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/status.md")
	if err != nil {
		t.Fatal(err)
	}
	examples := statusExample.FindAllSubmatch(doc, -1)
	if len(examples) == 0 {
		t.Fatal("docs/status.md has no example sessions")
	}
	for _, ex := range examples {
		args := strings.Fields(string(ex[1]))
		code, stdout, stderr := run(t, args...)
		if code != 0 || stdout != string(ex[2]) {
			t.Errorf("portico %s: exit %d, stderr %q; docs/status.md shows:\n%s\nthe command prints:\n%s", ex[1], code, stderr, ex[2], stdout)
		}
	}
}
