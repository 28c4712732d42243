package respond_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/proxystatus"
	"github.com/portico-proxy/portico/internal/respond"
)

const (
	requestID = "01J8Z3K5W6Q2V7"
	nextHop   = "10.0.3.7:8080"
	details   = "dial tcp 10.0.3.7:8080: connect: connection refused"
)

func refused() *failure.Error {
	return &failure.Error{Class: failure.ConnectionRefused, Target: nextHop, Details: details}
}

// serve starts a real server on loopback whose handler answers every request
// with w.Write for fe.
func serve(t testing.TB, w *respond.Writer, fe *failure.Error, detail proxystatus.Detail, http2 bool) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.Write(rw, r, fe, requestID, detail)
	}))
	ts.Listener.Close()
	ts.Listener = ln
	if http2 {
		ts.EnableHTTP2 = true
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	return ts
}

func newWriter(t testing.TB, o respond.Options) *respond.Writer {
	t.Helper()
	w, err := respond.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

type response struct {
	*http.Response
	body string
}

func fetch(t testing.TB, ts *httptest.Server, method, path, accept string) response {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp, string(body)}
}

// problem is an RFC 9457 problem details body with portico's members.
type problem struct {
	Type        string `json:"type"`
	Title       string `json:"title"`
	Status      int    `json:"status"`
	Detail      string `json:"detail"`
	Instance    string `json:"instance"`
	RequestID   string `json:"request_id"`
	ProxyStatus string `json:"proxy_status"`
}

func decodeProblem(t *testing.T, body string) problem {
	t.Helper()
	var p problem
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("body is not problem details: %v\n%s", err, body)
	}
	return p
}

// portico returns portico's member of the response's Proxy-Status.
func portico(t *testing.T, h http.Header) proxystatus.Member {
	t.Helper()
	ms, err := proxystatus.ParseHeader(h)
	if err != nil {
		t.Fatalf("Proxy-Status %q does not parse: %v", h.Values("Proxy-Status"), err)
	}
	if len(ms) == 0 || ms[len(ms)-1].Name != "portico" {
		t.Fatalf("Proxy-Status %q has no portico member last", h.Values("Proxy-Status"))
	}
	return ms[len(ms)-1]
}

func TestBodyFollowsAccept(t *testing.T) {
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
	tests := []struct {
		name            string
		accept          string
		wantContentType string
	}{
		{"no accept", "", "text/plain; charset=utf-8"},
		{"curl", "*/*", "text/plain; charset=utf-8"},
		{"browser", browser, "text/html; charset=utf-8"},
		{"problem json", "application/problem+json", "application/problem+json"},
		{"json", "application/json", "application/json"},
		{"axios lists json first", "application/json, text/plain, */*", "application/json"},
		{"q-values outrank order", "text/html;q=0.5, application/json;q=0.9", "application/json"},
		{"application wildcard prefers problem json", "application/*", "application/problem+json"},
		{"specific q=0 excludes despite wildcard", "text/html;q=0, text/*", "text/plain; charset=utf-8"},
		{"case-insensitive", "TEXT/HTML", "text/html; charset=utf-8"},
		{"nothing acceptable falls back to text", "image/png", "text/plain; charset=utf-8"},
		{"malformed ranges ignored", "garbage, text/html;q=2, application/json;q=x, text/html", "text/html; charset=utf-8"},
	}
	for _, proto := range []struct {
		name   string
		http2  bool
		wantHP int
	}{{"HTTP/1.1", false, 1}, {"HTTP/2", true, 2}} {
		t.Run(proto.name, func(t *testing.T) {
			ts := serve(t, newWriter(t, respond.Options{}), refused(), proxystatus.ErrorOnly, proto.http2)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					resp := fetch(t, ts, http.MethodGet, "/api/orders", tt.accept)
					if resp.ProtoMajor != proto.wantHP {
						t.Fatalf("served over %s, want HTTP/%d", resp.Proto, proto.wantHP)
					}
					if resp.StatusCode != http.StatusBadGateway {
						t.Errorf("status = %d, want 502", resp.StatusCode)
					}
					if got := resp.Header.Get("Content-Type"); got != tt.wantContentType {
						t.Errorf("Content-Type = %q, want %q", got, tt.wantContentType)
					}
					if got := resp.Header.Get("Content-Length"); got != strconv.Itoa(len(resp.body)) {
						t.Errorf("Content-Length = %q, body is %d bytes", got, len(resp.body))
					}
					if got := resp.Header.Get("Cache-Control"); got != "no-store" {
						t.Errorf("Cache-Control = %q, want no-store", got)
					}
					if got := resp.Header.Get("X-Request-ID"); got != requestID {
						t.Errorf("X-Request-ID = %q, want %q", got, requestID)
					}
					if got := portico(t, resp.Header); got.Params[0].Value.Str != "connection_refused" {
						t.Errorf("Proxy-Status error = %+v, want connection_refused", got.Params[0])
					}
					if !strings.Contains(resp.body, requestID) {
						t.Errorf("body does not give the request ID to quote:\n%s", resp.body)
					}
				})
			}
		})
	}
}

func TestProblemDetails(t *testing.T) {
	ts := serve(t, newWriter(t, respond.Options{}), refused(), proxystatus.ErrorOnly, false)
	resp := fetch(t, ts, http.MethodGet, "/api/orders", "application/problem+json")
	got := decodeProblem(t, resp.body)
	want := problem{
		Type:        respond.ProblemTypeBase + "connection_refused",
		Title:       "Connection refused",
		Status:      502,
		Detail:      respond.Explain(failure.ConnectionRefused),
		Instance:    "/api/orders",
		RequestID:   requestID,
		ProxyStatus: resp.Header.Get("Proxy-Status"),
	}
	if got != want {
		t.Fatalf("problem details\n got %+v\nwant %+v", got, want)
	}
}

func TestPlainTextIsOneLine(t *testing.T) {
	ts := serve(t, newWriter(t, respond.Options{}), refused(), proxystatus.ErrorOnly, false)
	resp := fetch(t, ts, http.MethodGet, "/", "text/plain")
	want := "502 Bad Gateway: The backend server refused the connection. Request ID: " + requestID + ". Proxy-Status: portico; error=connection_refused\n"
	if resp.body != want {
		t.Fatalf("body\n got %q\nwant %q", resp.body, want)
	}
}

func TestHTMLPageIsForVisitors(t *testing.T) {
	ts := serve(t, newWriter(t, respond.Options{}), refused(), proxystatus.Full, false)
	resp := fetch(t, ts, http.MethodGet, "/", "text/html")
	for _, want := range []string{
		"<title>502 Connection refused</title>",
		respond.Explain(failure.ConnectionRefused),
		"not a problem with your device",
		"Trying again in a few moments may help",
		"<code>" + requestID + "</code>",
	} {
		if !strings.Contains(resp.body, want) {
			t.Errorf("page lacks %q:\n%s", want, resp.body)
		}
	}
	// Even at full detail the page names no internal address.
	for _, leak := range []string{nextHop, "10.0.3.7", "dial tcp"} {
		if strings.Contains(resp.body, leak) {
			t.Errorf("page reveals %q:\n%s", leak, resp.body)
		}
	}
}

func TestHEADHasHeadersOnly(t *testing.T) {
	ts := serve(t, newWriter(t, respond.Options{}), refused(), proxystatus.ErrorOnly, false)
	for _, accept := range []string{"", "application/json", "text/html"} {
		t.Run("accept "+accept, func(t *testing.T) {
			get := fetch(t, ts, http.MethodGet, "/", accept)
			head := fetch(t, ts, http.MethodHead, "/", accept)
			if head.StatusCode != http.StatusBadGateway {
				t.Errorf("status = %d, want 502", head.StatusCode)
			}
			if head.body != "" {
				t.Errorf("HEAD answered with a body: %q", head.body)
			}
			for _, name := range []string{"Content-Type", "Content-Length", "Proxy-Status", "Cache-Control", "X-Request-ID"} {
				if g, h := get.Header.Get(name), head.Header.Get(name); g != h {
					t.Errorf("%s: GET %q, HEAD %q", name, g, h)
				}
			}
		})
	}
}

func TestDetailLevels(t *testing.T) {
	accepts := []string{"", "application/problem+json", "application/json", "text/html"}
	tests := []struct {
		name          string
		detail        proxystatus.Detail
		wantHeader    string
		wantInBodies  []string
		wantNoneOf    []string
		wantNoneOfAll []string // in header and every body
	}{
		{
			name:          "error level reveals only the error type",
			detail:        proxystatus.ErrorOnly,
			wantHeader:    "portico; error=connection_refused",
			wantNoneOfAll: []string{"10.0.3.7", "dial tcp", "next-hop", "details="},
		},
		{
			name:         "full adds next hop and details for operators",
			detail:       proxystatus.Full,
			wantHeader:   `portico; error=connection_refused; next-hop="10.0.3.7:8080"; details="dial tcp 10.0.3.7:8080: connect: connection refused"`,
			wantInBodies: []string{"dial tcp"},
		},
		{
			name:          "off sends no Proxy-Status",
			detail:        proxystatus.Off,
			wantHeader:    "",
			wantNoneOfAll: []string{"10.0.3.7", "dial tcp", "error=", "proxy_status"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := serve(t, newWriter(t, respond.Options{}), refused(), tt.detail, false)
			for _, accept := range accepts {
				resp := fetch(t, ts, http.MethodGet, "/", accept)
				if got := strings.Join(resp.Header.Values("Proxy-Status"), ", "); got != tt.wantHeader {
					t.Errorf("Accept %q: Proxy-Status = %q, want %q", accept, got, tt.wantHeader)
				}
				for _, leak := range tt.wantNoneOfAll {
					if strings.Contains(resp.body, leak) {
						t.Errorf("Accept %q: body reveals %q:\n%s", accept, leak, resp.body)
					}
				}
				if accept == "text/html" {
					continue
				}
				for _, want := range tt.wantInBodies {
					if !strings.Contains(resp.body, want) {
						t.Errorf("Accept %q: body lacks %q:\n%s", accept, want, resp.body)
					}
				}
			}
		})
	}
}

func TestFullDetailInProblemDetails(t *testing.T) {
	ts := serve(t, newWriter(t, respond.Options{}), refused(), proxystatus.Full, false)
	got := decodeProblem(t, fetch(t, ts, http.MethodGet, "/", "application/json").body)
	want := respond.Explain(failure.ConnectionRefused) + " Next hop: " + nextHop + ". Details: " + details
	if got.Detail != want {
		t.Errorf("detail = %q, want %q", got.Detail, want)
	}
	if m, err := proxystatus.Parse(got.ProxyStatus); err != nil || len(m) != 1 || len(m[0].Params) != 3 {
		t.Errorf("proxy_status %q: %+v, %v; want portico's full member", got.ProxyStatus, m, err)
	}
}

func TestHostileDetailsStayContained(t *testing.T) {
	fe := &failure.Error{
		Class:   failure.HTTPProtocolError,
		Target:  nextHop,
		Details: "malformed header \"X\r\nSet-Cookie: stolen=1\" <script>alert(1)</script> \xff\u2028",
	}
	ts := serve(t, newWriter(t, respond.Options{}), fe, proxystatus.Full, false)
	for _, accept := range []string{"", "application/json", "text/html"} {
		resp := fetch(t, ts, http.MethodGet, "/", accept)
		if got := resp.Header.Get("Set-Cookie"); got != "" {
			t.Fatalf("Accept %q: upstream text injected a header: Set-Cookie: %s", accept, got)
		}
		portico(t, resp.Header)
		// text/plain with nosniff is never rendered; the others could be.
		if accept != "" && strings.Contains(resp.body, "<script>") {
			t.Errorf("Accept %q: body carries raw markup:\n%s", accept, resp.body)
		}
		if accept == "" && strings.Count(resp.body, "\n") != 1 {
			t.Errorf("plain text body is not one line: %q", resp.body)
		}
		if accept == "application/json" {
			got := decodeProblem(t, resp.body)
			if !strings.Contains(got.Detail, "\r\nSet-Cookie: stolen=1\" <script>") {
				t.Errorf("JSON detail lost the text: %q", got.Detail)
			}
		}
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		fe         *failure.Error
		retryAfter time.Duration
		wantStatus int
		want       string
	}{
		{"every target down", &failure.Error{Class: failure.DestinationUnavailable}, 0, 503, "5"},
		{"circuit open", &failure.Error{Class: failure.ConnectionLimitReached}, 0, 503, "5"},
		{"maintenance", &failure.Error{Class: failure.ProxyInternalResponse}, 30 * time.Second, 503, "30"},
		{"rate limited", &failure.Error{Class: failure.HTTPRequestDenied, StatusCode: 429, Details: "rate limited"}, 1500 * time.Millisecond, 429, "2"},
		{"502 has none", refused(), 0, 502, ""},
		{"504 has none", &failure.Error{Class: failure.ConnectionTimeout}, 0, 504, ""},
		{"403 has none", &failure.Error{Class: failure.HTTPRequestDenied}, 0, 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := serve(t, newWriter(t, respond.Options{RetryAfter: tt.retryAfter}), tt.fe, proxystatus.ErrorOnly, false)
			resp := fetch(t, ts, http.MethodGet, "/", "text/html")
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := resp.Header.Get("Retry-After"); got != tt.want {
				t.Errorf("Retry-After = %q, want %q", got, tt.want)
			}
			if tt.want != "" && !strings.Contains(resp.body, tt.want+" seconds") {
				t.Errorf("page does not say how long to wait:\n%s", resp.body)
			}
		})
	}
}

func TestStatusCodeOverrides(t *testing.T) {
	tests := []struct {
		name      string
		fe        *failure.Error
		want      int
		wantTitle string
	}{
		{"oversize request headers", &failure.Error{Class: failure.HTTPRequestError, StatusCode: 431}, 431, "Request headers too large"},
		{"rate limit", &failure.Error{Class: failure.HTTPRequestDenied, StatusCode: 429}, 429, "Too many requests"},
		{"oversize request body", &failure.Error{Class: failure.HTTPRequestError, StatusCode: 413}, 413, "Request too large"},
		{"unplanned override", &failure.Error{Class: failure.HTTPRequestError, StatusCode: 414}, 414, "Bad request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := serve(t, newWriter(t, respond.Options{}), tt.fe, proxystatus.ErrorOnly, false)
			resp := fetch(t, ts, http.MethodGet, "/", "application/problem+json")
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.want)
			}
			p := decodeProblem(t, resp.body)
			if p.Status != tt.want || p.Title != tt.wantTitle {
				t.Errorf("problem status %d title %q, want %d %q", p.Status, p.Title, tt.want, tt.wantTitle)
			}
			if got := portico(t, resp.Header).Params[0].Value.Str; got != tt.fe.Class.String() {
				t.Errorf("Proxy-Status error = %q, want %q", got, tt.fe.Class)
			}
		})
	}
}

func TestEveryClassAnswers(t *testing.T) {
	w := newWriter(t, respond.Options{})
	for _, c := range failure.Classes() {
		t.Run(c.String(), func(t *testing.T) {
			fe := &failure.Error{Class: c, Target: "[::1]:8443", Details: "why"}
			ts := serve(t, w, fe, proxystatus.Full, false)
			wantStatus := c.Status()
			if wantStatus == 0 {
				wantStatus = http.StatusBadGateway // found before the head was sent
			}
			for _, accept := range []string{"", "application/json", "text/html"} {
				resp := fetch(t, ts, http.MethodGet, "/", accept)
				if resp.StatusCode != wantStatus {
					t.Errorf("Accept %q: status = %d, want %d", accept, resp.StatusCode, wantStatus)
				}
				m := portico(t, resp.Header)
				if v, _ := m.Param("error"); v.Kind != proxystatus.Token || v.Str != c.String() {
					t.Errorf("Accept %q: error = %+v, want token %s", accept, v, c)
				}
				if !strings.Contains(resp.body, respond.Explain(c)) && accept != "text/html" {
					t.Errorf("Accept %q: body does not explain the failure:\n%s", accept, resp.body)
				}
			}
		})
	}
}

func TestNilFailureIsInternalError(t *testing.T) {
	ts := serve(t, newWriter(t, respond.Options{}), nil, proxystatus.Full, false)
	resp := fetch(t, ts, http.MethodGet, "/", "")
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", resp.StatusCode)
	}
	if v, _ := portico(t, resp.Header).Param("error"); v.Str != "proxy_internal_error" {
		t.Errorf("error = %q, want proxy_internal_error", v.Str)
	}
}

func TestProxyName(t *testing.T) {
	ts := serve(t, newWriter(t, respond.Options{ProxyName: "edge-7"}), refused(), proxystatus.ErrorOnly, false)
	resp := fetch(t, ts, http.MethodGet, "/", "")
	if got := resp.Header.Get("Proxy-Status"); got != "edge-7; error=connection_refused" {
		t.Fatalf("Proxy-Status = %q, want the configured name", got)
	}
}

func writePage(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "oops.html")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOperatorPage(t *testing.T) {
	path := writePage(t, `<h1>{{.Status}} {{.StatusText}}: {{.Title}}</h1><p>{{.Message}} [{{.Cause}}] {{.RequestID}}{{if .RetryAfter}} {{.RetryAfter}}s{{end}}</p>`)
	w := newWriter(t, respond.Options{Pages: map[int]string{502: path, 503: path}})
	tests := []struct {
		name string
		fe   *failure.Error
		want string
	}{
		{"502 uses the operator page", refused(), "<h1>502 Bad Gateway: Connection refused</h1><p>The backend server refused the connection. [connection_refused] " + requestID + "</p>"},
		{"503 gets retry after", &failure.Error{Class: failure.DestinationUnavailable}, "<h1>503 Service Unavailable: Service unavailable</h1><p>" + respond.Explain(failure.DestinationUnavailable) + " [destination_unavailable] " + requestID + " 5s</p>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := serve(t, w, tt.fe, proxystatus.Full, false)
			resp := fetch(t, ts, http.MethodGet, "/", "text/html")
			if resp.body != tt.want {
				t.Fatalf("page\n got %s\nwant %s", resp.body, tt.want)
			}
		})
	}
	t.Run("other statuses keep the default page", func(t *testing.T) {
		ts := serve(t, w, &failure.Error{Class: failure.ConnectionTimeout}, proxystatus.Full, false)
		if resp := fetch(t, ts, http.MethodGet, "/", "text/html"); !strings.Contains(resp.body, "<!doctype html>") {
			t.Fatalf("504 did not get the default page:\n%s", resp.body)
		}
	})
}

func TestOperatorPageErrorsNameTheFile(t *testing.T) {
	tests := []struct {
		name   string
		status int
		path   string
	}{
		{"missing file", 502, filepath.Join(t.TempDir(), "missing.html")},
		{"syntax error", 502, writePage(t, `{{.Status`)},
		{"unknown field", 502, writePage(t, `{{.Upstream}}`)},
		{"not an error status", 200, writePage(t, `ok`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := respond.New(respond.Options{Pages: map[int]string{tt.status: tt.path}})
			if err == nil {
				t.Fatal("New accepted a bad page")
			}
			if !strings.Contains(err.Error(), filepath.Base(tt.path)) {
				t.Fatalf("error %q does not name %s", err, tt.path)
			}
		})
	}
}

func BenchmarkWrite(b *testing.B) {
	w := newWriter(b, respond.Options{})
	fe := refused()
	for _, bc := range []struct {
		name   string
		accept string
		detail proxystatus.Detail
	}{
		{"text/error", "*/*", proxystatus.ErrorOnly},
		{"json/error", "application/json", proxystatus.ErrorOnly},
		{"json/full", "application/json", proxystatus.Full},
		{"html/error", "text/html", proxystatus.ErrorOnly},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/api/orders", nil)
			r.Header.Set("Accept", bc.accept)
			sink := sink{header: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(sink.header)
				w.Write(sink, r, fe, requestID, bc.detail)
			}
		})
	}
}

// sink is a ResponseWriter that keeps the header and drops the body, so
// the benchmark measures Write and not a connection.
type sink struct{ header http.Header }

func (s sink) Header() http.Header         { return s.header }
func (s sink) Write(p []byte) (int, error) { return len(p), nil }
func (s sink) WriteHeader(int)             {}
