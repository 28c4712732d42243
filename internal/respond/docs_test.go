package respond_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/proxystatus"
	"github.com/portico-proxy/portico/internal/respond"
)

var update = flag.Bool("update", false, "rewrite the examples in docs/errors.md from the code")

const errorsDoc = "../../docs/errors.md"

// examples renders each example block of docs/errors.md from a real round
// trip, so the doc shows exactly what portico sends.
func examples(t *testing.T) map[string]string {
	w := newWriter(t, respond.Options{})
	errorLevel := serve(t, w, refused(), proxystatus.ErrorOnly, false)
	fullLevel := serve(t, w, refused(), proxystatus.Full, false)
	ex := map[string]string{
		"text":      exchange(t, errorLevel, "*/*", false),
		"json":      exchange(t, errorLevel, "application/problem+json", true),
		"html":      exchange(t, errorLevel, "text/html", false),
		"json-full": exchange(t, fullLevel, "application/problem+json", true),
	}
	h := http.Header{}
	h.Add("Proxy-Status", "origin-lb; error=http_response_timeout")
	proxystatus.Append(h, string(proxystatus.AppendReceived(nil, "portico", 504)))
	ex["received"] = "Proxy-Status: " + strings.Join(h.Values("Proxy-Status"), "\nProxy-Status: ") + "\n"
	return ex
}

// exchange shows a request and its response as curl -i would, minus the
// Date header, with JSON bodies indented for reading.
func exchange(t *testing.T, ts *httptest.Server, accept string, indent bool) string {
	t.Helper()
	resp := fetch(t, ts, http.MethodGet, "/api/orders", accept)
	var b strings.Builder
	fmt.Fprintf(&b, "$ curl -i -H 'Accept: %s' https://shop.example/api/orders\n", accept)
	fmt.Fprintf(&b, "HTTP/1.1 %s\n", resp.Status)
	for _, name := range shownHeaders {
		for _, v := range resp.Header.Values(name) {
			fmt.Fprintf(&b, "%s: %s\n", name, v)
		}
	}
	b.WriteString("\n")
	body := resp.body
	if indent {
		var out bytes.Buffer
		if err := json.Indent(&out, []byte(body), "", "  "); err != nil {
			t.Fatal(err)
		}
		body = out.String()
	}
	b.WriteString(strings.TrimRight(body, "\n") + "\n")
	return b.String()
}

// shownHeaders are the response header fields the examples show, in order.
var shownHeaders = []string{"Content-Type", "Content-Length", "Cache-Control", "Proxy-Status", "Retry-After", "Vary", "X-Content-Type-Options", "X-Request-Id"}

var exampleBlock = regexp.MustCompile("(?s)(<!-- example: ([a-z-]+) -->\n```[a-z]*\n)(.*?)(```\n<!-- end example -->)")

func TestErrorsDocExamples(t *testing.T) {
	doc, err := os.ReadFile(errorsDoc)
	if err != nil {
		t.Fatal(err)
	}
	ex := examples(t)
	seen := map[string]bool{}
	out := exampleBlock.ReplaceAllFunc(doc, func(block []byte) []byte {
		m := exampleBlock.FindSubmatch(block)
		name := string(m[2])
		seen[name] = true
		want, ok := ex[name]
		if !ok {
			t.Errorf("docs/errors.md has an example %q the test does not render", name)
			return block
		}
		if got := string(m[3]); got != want && !*update {
			t.Errorf("example %q in docs/errors.md is stale (run go test ./internal/respond -run TestErrorsDocExamples -update)\n got:\n%s\nwant:\n%s", name, got, want)
		}
		return slices.Concat(m[1], []byte(want), m[4])
	})
	for name := range ex {
		if !seen[name] {
			t.Errorf("docs/errors.md lacks the example %q", name)
		}
	}
	if *update && !bytes.Equal(out, doc) {
		if err := os.WriteFile(errorsDoc, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestErrorsDocCoversEveryClass checks that every error type has its
// section, which the problem details "type" URI links to, with the status and
// the sentence visitors read.
func TestErrorsDocCoversEveryClass(t *testing.T) {
	doc, err := os.ReadFile(errorsDoc)
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{}
	for _, s := range strings.Split(string(doc), "\n### ")[1:] {
		heading, body, _ := strings.Cut(s, "\n")
		sections[heading] = body
	}
	for _, c := range failure.Classes() {
		t.Run(c.String(), func(t *testing.T) {
			body, ok := sections["`"+c.String()+"`"]
			if !ok {
				t.Fatalf("docs/errors.md has no section ### `%s`", c)
			}
			status := "not sent: the response head has already gone out"
			if s := c.Status(); s != 0 {
				status = fmt.Sprintf("%d %s", s, http.StatusText(s))
			}
			if !strings.Contains(body, "Status: "+status) {
				t.Errorf("section does not say Status: %s", status)
			}
			if !strings.Contains(body, respond.Explain(c)) {
				t.Errorf("section does not quote what visitors read: %q", respond.Explain(c))
			}
		})
	}
}
