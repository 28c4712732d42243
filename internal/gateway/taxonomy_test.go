package gateway_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-proxy/portico/internal/faults"
	"github.com/portico-proxy/portico/internal/proxystatus"
	"github.com/portico-proxy/portico/internal/resolve"
)

// fastTimeouts keep failure cases quick; each case's fault is far past
// them or far within them.
const fastTimeouts = "{connect: 1s, response_header: 1s, read: 1s, write: 500ms}"

// upstreamConfig routes everything to one upstream with the given target
// and extra upstream keys. Extra keys may replace the timeouts.
func upstreamConfig(target, extra string) string {
	timeouts := "\n    timeouts: " + fastTimeouts
	if strings.Contains(extra, "timeouts:") {
		timeouts = ""
	}
	return `
admin: "127.0.0.1:0"
trusted_networks: ["127.0.0.0/8"]
upstreams:
  app:
    targets: ["` + target + `"]` + timeouts + extra + `
routes:
  - upstream: app
`
}

// want is what a client and the access log must see for one failure.
type want struct {
	status int
	// errorType is portico's Proxy-Status error; "" means portico's member
	// must carry no error (a response relayed from the upstream).
	errorType string
	// params are further Proxy-Status parameters: a string value must be
	// contained in the parameter's value, an int must equal it.
	params map[string]any
	// cause is the logged error.type; it defaults to errorType.
	cause string
}

// taxonomyCase is one row of the failure taxonomy reproduced for real.
type taxonomyCase struct {
	name string
	// setup starts what misbehaves and returns the gateway's config.
	setup  func(t *testing.T) (yaml string, opts harnessOptions)
	path   string
	fields []string
	want   want
}

// fault starts a server with behaviour b and routes to it.
func fault(b faults.Behavior, extra string) func(t *testing.T) (string, harnessOptions) {
	return faultWith(b, faults.Options{}, extra)
}

func faultWith(b faults.Behavior, o faults.Options, extra string) func(t *testing.T) (string, harnessOptions) {
	return func(t *testing.T) (string, harnessOptions) {
		s, err := faults.StartWith(b, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return upstreamConfig(s.URL(), extra), harnessOptions{}
	}
}

// tlsFault starts a TLS server with fault f, trusting the test CA.
func tlsFault(f faults.TLSFault, check func(t *testing.T, s *faults.Server) want) func(t *testing.T) (string, harnessOptions) {
	return func(t *testing.T) (string, harnessOptions) {
		ca, err := faults.NewCA("portico test CA")
		if err != nil {
			t.Fatal(err)
		}
		s, err := faults.StartTLS(f, ca)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		caFile, err := ca.WritePEM(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		port := s.Addr()[strings.LastIndex(s.Addr(), ":")+1:]
		return upstreamConfig("https://localhost:"+port, "\n    tls: {ca_file: \""+caFile+"\"}"), harnessOptions{}
	}
}

// dnsFault points the gateway's resolver at a loopback DNS server that
// answers app.test. with answer.
func dnsFault(answer faults.DNSAnswer) func(t *testing.T) (string, harnessOptions) {
	return func(t *testing.T) (string, harnessOptions) {
		dns, err := faults.StartDNS(map[string]faults.DNSAnswer{"app.test.": answer})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dns.Close() })
		return upstreamConfig("http://app.test:80", ""),
			harnessOptions{resolver: resolve.Config{Servers: []string{dns.Addr()}, Timeout: 300 * time.Millisecond}}
	}
}

// websocketFields ask for a WebSocket upgrade with RFC 6455's sample key.
var websocketFields = []string{
	"Connection: Upgrade",
	"Upgrade: websocket",
	"Sec-WebSocket-Version: 13",
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
}

func TestTaxonomy(t *testing.T) {
	closedAddr, err := faults.ClosedAddr()
	if err != nil {
		t.Fatal(err)
	}
	cases := []taxonomyCase{
		{
			name: "no route matches",
			setup: func(*testing.T) (string, harnessOptions) {
				return `
upstreams:
  app:
    targets: ["http://` + closedAddr + `"]
routes:
  - path_prefix: /api/
    upstream: app
`, harnessOptions{}
			},
			path: "/elsewhere",
			want: want{status: 404, errorType: "destination_not_found"},
		},
		{
			name:   "request loops back to this proxy",
			setup:  fault(faults.OK, ""),
			fields: []string{"Via: 1.1 edge, 1.1 portico"},
			want:   want{status: 502, errorType: "proxy_loop_detected"},
		},
		{
			name:  "DNS name does not exist",
			setup: dnsFault(faults.DNSAnswer{Result: faults.DNSNXDomain}),
			want:  want{status: 502, errorType: "dns_error", params: map[string]any{"rcode": "NXDOMAIN", "next-hop": "app.test:80"}},
		},
		{
			name:  "DNS name has no addresses",
			setup: dnsFault(faults.DNSAnswer{Result: faults.DNSNoAnswer}),
			want:  want{status: 502, errorType: "dns_error", params: map[string]any{"rcode": "NOERROR"}},
		},
		{
			name:  "DNS server failure",
			setup: dnsFault(faults.DNSAnswer{Result: faults.DNSServFail}),
			want:  want{status: 502, errorType: "dns_error", params: map[string]any{"rcode": "SERVFAIL"}},
		},
		{
			name:  "DNS lookup times out",
			setup: dnsFault(faults.DNSAnswer{Result: faults.DNSTimeout}),
			want:  want{status: 504, errorType: "dns_timeout"},
		},
		{
			name: "connection refused",
			setup: func(*testing.T) (string, harnessOptions) {
				return upstreamConfig("http://"+closedAddr, ""), harnessOptions{}
			},
			want: want{status: 502, errorType: "connection_refused", params: map[string]any{"next-hop": closedAddr}},
		},
		{
			name: "TLS handshake times out",
			setup: func(t *testing.T) (string, harnessOptions) {
				return upstreamConfig("https://"+mute(t), "\n    timeouts: {connect: 300ms}"), harnessOptions{}
			},
			want: want{status: 504, errorType: "connection_timeout"},
		},
		{
			name:  "TLS certificate from an unknown authority",
			setup: tlsFault(faults.UntrustedCert, nil),
			want:  want{status: 502, errorType: "tls_certificate_error", params: map[string]any{"details": "unknown authority"}},
		},
		{
			name:  "TLS certificate chain incomplete",
			setup: tlsFault(faults.IncompleteChain, nil),
			want:  want{status: 502, errorType: "tls_certificate_error", params: map[string]any{"details": "unknown authority"}},
		},
		{
			name:  "TLS certificate expired",
			setup: tlsFault(faults.ExpiredCert, nil),
			want:  want{status: 502, errorType: "tls_certificate_error", params: map[string]any{"details": "certificate expired on " + time.Now().UTC().Add(-24*time.Hour).Format("2006-01-02")}},
		},
		{
			name:  "TLS certificate not yet valid",
			setup: tlsFault(faults.NotYetValidCert, nil),
			want:  want{status: 502, errorType: "tls_certificate_error", params: map[string]any{"details": "not valid before " + time.Now().UTC().Add(24*time.Hour).Format("2006-01-02")}},
		},
		{
			name:  "TLS certificate for another name",
			setup: tlsFault(faults.WrongName, nil),
			want:  want{status: 502, errorType: "tls_certificate_error", params: map[string]any{"details": "other.example"}},
		},
		{
			name:  "TLS alert: upstream demands a client certificate",
			setup: tlsFault(faults.RequireClientCert, nil),
			want:  want{status: 502, errorType: "tls_alert_received", params: map[string]any{"alert-id": 116, "alert-message": "certificate required"}},
		},
		{
			name:  "TLS alert: no common protocol version",
			setup: tlsFault(faults.VersionMismatch, nil),
			want:  want{status: 502, errorType: "tls_alert_received", params: map[string]any{"alert-id": 70, "alert-message": "protocol version"}},
		},
		{
			name:  "plain HTTP on a TLS port",
			setup: tlsFault(faults.PlainHTTPOnTLSPort, nil),
			want:  want{status: 502, errorType: "tls_protocol_error", params: map[string]any{"details": "plain HTTP"}},
		},
		{
			name:  "connection closed before any response byte",
			setup: fault(faults.CloseBeforeHead, ""),
			want:  want{status: 502, errorType: "connection_terminated"},
		},
		{
			name:  "connection reset before any response byte",
			setup: fault(faults.ResetBeforeHead, ""),
			want:  want{status: 502, errorType: "connection_terminated"},
		},
		{
			name:  "no response head in time",
			setup: fault(faults.Silent, "\n    timeouts: {response_header: 300ms}"),
			want:  want{status: 504, errorType: "connection_read_timeout"},
		},
		{
			name:  "whole-request deadline passes",
			setup: faultWith(faults.SlowHead, faults.Options{Delay: 5 * time.Second}, "\n    timeouts: {request: 300ms, response_header: 10s}"),
			want:  want{status: 504, errorType: "http_response_timeout"},
		},
		{
			name:  "non-HTTP bytes",
			setup: fault(faults.Garbage, ""),
			want:  want{status: 502, errorType: "http_protocol_error"},
		},
		{
			name:  "HTTP/0.9 answer",
			setup: fault(faults.HTTP09, ""),
			want:  want{status: 502, errorType: "http_protocol_error"},
		},
		{
			name:  "bad status line",
			setup: fault(faults.BadStatusLine, ""),
			want:  want{status: 502, errorType: "http_protocol_error"},
		},
		{
			name:  "bad header syntax",
			setup: fault(faults.BadHeaderSyntax, ""),
			want:  want{status: 502, errorType: "http_protocol_error"},
		},
		{
			name:  "obsolete line folding",
			setup: fault(faults.ObsFold, ""),
			want:  want{status: 502, errorType: "http_protocol_error"},
		},
		{
			name:  "conflicting Content-Length",
			setup: fault(faults.ConflictingContentLength, ""),
			want:  want{status: 502, errorType: "http_protocol_error", params: map[string]any{"details": "Content-Length"}},
		},
		{
			name:  "Transfer-Encoding with Content-Length",
			setup: fault(faults.ContentLengthWithTransferEncoding, ""),
			want:  want{status: 502, errorType: "http_protocol_error", params: map[string]any{"details": "Transfer-Encoding"}},
		},
		{
			name:  "response header section too large",
			setup: fault(faults.HeaderSectionTooLarge, ""),
			want:  want{status: 502, errorType: "http_response_header_section_size", params: map[string]any{"header-section-size": 256 << 10}},
		},
		{
			name:  "one response header too large",
			setup: faultWith(faults.HeaderTooLarge, faults.Options{HeaderSize: 80 << 10}, ""),
			want:  want{status: 502, errorType: "http_response_header_size", params: map[string]any{"header-name": strings.ToLower(faults.HugeHeaderName)}},
		},
		{
			name:  "unsupported transfer coding",
			setup: fault(faults.UnknownTransferCoding, ""),
			want:  want{status: 502, errorType: "http_response_transfer_coding", params: map[string]any{"coding": faults.UnknownCoding}},
		},
		{
			name:   "upgrade refused: upstream answers 200",
			setup:  fault(faults.UpgradeRefused, ""),
			fields: websocketFields,
			want:   want{status: 502, errorType: "http_upgrade_failed"},
		},
		{
			name:   "upgrade botched: wrong Sec-WebSocket-Accept",
			setup:  fault(faults.UpgradeBotched, ""),
			fields: websocketFields,
			want:   want{status: 502, errorType: "http_upgrade_failed", params: map[string]any{"details": "Sec-WebSocket-Accept"}},
		},
		{
			name:  "upstream's own 502 passes through marked",
			setup: fault(faults.Origin502, ""),
			want:  want{status: 502, errorType: "", params: map[string]any{"received-status": 502}, cause: ""},
		},
	}
	accepts := []string{"application/problem+json", "text/html", "text/plain", "application/json"}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			yaml, opts := tc.setup(t)
			h := startGateway(t, yaml, nil, opts)
			path := tc.path
			if path == "" {
				path = "/case"
			}
			accept := accepts[i%len(accepts)]
			resp := h.get(path, append([]string{"Accept: " + accept}, tc.fields...)...)
			body := readBody(t, resp)
			checkAnswer(t, h, resp, body, accept, tc.want)
		})
	}
}

// checkAnswer asserts the status, portico's Proxy-Status member, the body
// for the Accept sent and the logged cause.
func checkAnswer(t *testing.T, h *harness, resp *http.Response, body, accept string, w want) {
	t.Helper()
	if resp.StatusCode != w.status {
		t.Errorf("status %d, want %d (Proxy-Status %q)", resp.StatusCode, w.status, resp.Header.Values("Proxy-Status"))
	}
	members, err := proxystatus.ParseHeader(resp.Header)
	if err != nil || len(members) == 0 {
		t.Fatalf("Proxy-Status %q does not parse: %v", resp.Header.Values("Proxy-Status"), err)
	}
	ours := members[len(members)-1]
	if ours.Name != "portico" {
		t.Fatalf("last Proxy-Status member is %q, want portico's", ours.Name)
	}
	errParam, hasErr := ours.Param("error")
	switch {
	case w.errorType == "" && hasErr:
		t.Errorf("portico claims error %q for a relayed response", errParam.Str)
	case w.errorType != "" && (errParam.Kind != proxystatus.Token || errParam.Str != w.errorType):
		t.Errorf("Proxy-Status error = %+v, want token %s", errParam, w.errorType)
	}
	for key, expected := range w.params {
		v, ok := ours.Param(key)
		if !ok {
			t.Errorf("Proxy-Status lacks %s: %q", key, resp.Header.Values("Proxy-Status"))
			continue
		}
		switch e := expected.(type) {
		case int:
			if v.Kind != proxystatus.Integer || v.Int != int64(e) {
				t.Errorf("Proxy-Status %s = %+v, want integer %d", key, v, e)
			}
		case string:
			if v.Kind != proxystatus.String && v.Kind != proxystatus.Token || !strings.Contains(v.Str, e) {
				t.Errorf("Proxy-Status %s = %+v, want it to contain %q", key, v, e)
			}
		}
	}
	id := resp.Header.Get("X-Request-Id")
	if w.errorType != "" {
		checkErrorBody(t, resp, body, accept, id, w)
	}
	cause := w.cause
	if cause == "" {
		cause = w.errorType
	}
	line := h.logLine(id)
	if line["error.type"] != cause {
		t.Errorf("logged error.type %q, want %q", line["error.type"], cause)
	}
	if cause != "" && h.g.AdminAddr() != nil {
		if n := h.failuresCounted(cause); n < 1 {
			t.Errorf("portico_failures_total{cause=%q} = %v, want at least 1", cause, n)
		}
	}
	if got := line["http.response.status_code"]; got != float64(w.status) {
		t.Errorf("logged status %v, want %d", got, w.status)
	}
}

// checkErrorBody asserts portico's own error body in the negotiated format.
func checkErrorBody(t *testing.T, resp *http.Response, body, accept, id string, w want) {
	t.Helper()
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if (w.status == 503 || w.status == 429) != (resp.Header.Get("Retry-After") != "") {
		t.Errorf("status %d with Retry-After %q", w.status, resp.Header.Get("Retry-After"))
	}
	ct := resp.Header.Get("Content-Type")
	switch accept {
	case "application/problem+json", "application/json":
		if !strings.HasPrefix(ct, accept) {
			t.Errorf("Content-Type %q for Accept %s", ct, accept)
		}
		var problem struct {
			Status      int    `json:"status"`
			Title       string `json:"title"`
			RequestID   string `json:"request_id"`
			ProxyStatus string `json:"proxy_status"`
		}
		if err := json.Unmarshal([]byte(body), &problem); err != nil {
			t.Fatalf("problem body %q: %v", body, err)
		}
		if problem.Status != w.status || problem.RequestID != id || !strings.Contains(problem.ProxyStatus, "error="+w.errorType) {
			t.Errorf("problem details %+v", problem)
		}
	case "text/html":
		if !strings.HasPrefix(ct, "text/html") || !strings.Contains(body, id) || strings.Contains(body, "127.0.0.1") {
			t.Errorf("HTML page (%s) must name the request ID and no address:\n%s", ct, body)
		}
	default:
		if !strings.HasPrefix(ct, "text/plain") || strings.Count(body, "\n") > 1 || !strings.Contains(body, strconv.Itoa(w.status)) {
			t.Errorf("text body (%s): %q", ct, body)
		}
	}
}

// TestProxyStatusDetailByAudience: trusted clients get full detail, others
// only the error type, and proxy_status overrides both.
func TestProxyStatusDetailByAudience(t *testing.T) {
	closedAddr, err := faults.ClosedAddr()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, settings string
		wantNextHop    bool
		wantHeader     bool
	}{
		{"trusted client gets full detail", `trusted_networks: ["127.0.0.0/8"]`, true, true},
		{"untrusted client gets the error only", `trusted_networks: ["10.0.0.0/8"]`, false, true},
		{"proxy_status full for everyone", "trusted_networks: []\nproxy_status: full", true, true},
		{"proxy_status error for everyone", "trusted_networks: [\"127.0.0.0/8\"]\nproxy_status: error", false, true},
		{"proxy_status off", "proxy_status: off", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := startGateway(t, tc.settings+`
upstreams:
  app:
    targets: ["http://`+closedAddr+`"]
routes:
  - upstream: app
`, nil)
			resp := h.get("/", "Accept: application/json")
			body := readBody(t, resp)
			header := resp.Header.Get("Proxy-Status")
			if (header != "") != tc.wantHeader {
				t.Fatalf("Proxy-Status %q", header)
			}
			if got := strings.Contains(header, "next-hop") || strings.Contains(body, closedAddr); got != tc.wantNextHop {
				t.Errorf("next hop revealed = %v; header %q body %q", got, header, body)
			}
			if tc.wantHeader && !strings.Contains(header, "error=connection_refused") {
				t.Errorf("Proxy-Status %q lacks the error type", header)
			}
			// Logs always carry the full detail.
			line := h.logLine(resp.Header.Get("X-Request-Id"))
			if msg, _ := line["error.message"].(string); !strings.Contains(msg, closedAddr) {
				t.Errorf("log lacks the full detail: %q", msg)
			}
		})
	}
}

// TestHeadRequestFailureHasNoBody: a failed HEAD gets the headers only.
func TestHeadRequestFailureHasNoBody(t *testing.T) {
	closedAddr, err := faults.ClosedAddr()
	if err != nil {
		t.Fatal(err)
	}
	h := startGateway(t, upstreamConfig("http://"+closedAddr, ""), nil)
	req, _ := http.NewRequest(http.MethodHead, h.URL+"/", nil)
	resp := h.do(req)
	body := readBody(t, resp)
	if resp.StatusCode != 502 || body != "" || !strings.Contains(resp.Header.Get("Proxy-Status"), "connection_refused") {
		t.Errorf("HEAD: %d %q body %q", resp.StatusCode, resp.Header.Get("Proxy-Status"), body)
	}
}

// TestOriginProxyStatusKeptBeforeOurs: an upstream's own Proxy-Status
// members come first, portico's last.
func TestOriginProxyStatusKeptBeforeOurs(t *testing.T) {
	s := startFault(t, faults.Origin502)
	h := startGateway(t, upstreamConfig(s.URL(), ""), nil)
	resp := h.get("/")
	readBody(t, resp)
	members, err := proxystatus.ParseHeader(resp.Header)
	if err != nil || len(members) != 2 || members[0].Name != "origin" || members[1].Name != "portico" {
		t.Fatalf("Proxy-Status %q: %v", resp.Header.Values("Proxy-Status"), err)
	}
	if v, _ := members[1].Param("received-status"); v.Int != 502 {
		t.Errorf("received-status %+v", v)
	}
}

// mute accepts TCP connections and never sends a byte, not even a TLS
// ServerHello, until the test ends.
func mute(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range held {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestUpstreamProxyStatusCutForUntrustedClients: members that proxies
// behind portico add to Proxy-Status are cut to what portico's own member
// would show the client: names and error types outside the trusted
// networks, nothing with proxy_status off.
func TestUpstreamProxyStatusCutForUntrustedClients(t *testing.T) {
	const inner = `inner; error=connection_refused; next-hop="10.1.2.3:8080"; details="dial tcp 10.1.2.3:8080: connect: connection refused"`
	addr := startRawUpstream(t, func(c net.Conn, req *http.Request) {
		status := "200 OK"
		if req.URL.Path == "/fail" {
			status = "502 Bad Gateway"
		}
		io.WriteString(c, "HTTP/1.1 "+status+"\r\nProxy-Status: "+inner+"\r\nContent-Length: 2\r\n\r\nok")
	})
	config := func(mode string) string {
		return `
upstreams:
  app:
    targets: ["http://` + addr + `"]
routes:
  - upstream: app
` + mode
	}
	tests := []struct {
		name, mode, path string
		want             []string
	}{
		{"untrusted, success", "", "/", []string{"inner; error=connection_refused"}},
		{"untrusted, upstream 502", "", "/fail", []string{"inner; error=connection_refused", "portico; received-status=502"}},
		{"proxy_status off", "proxy_status: off\n", "/fail", nil},
		{"full", "proxy_status: full\n", "/", []string{inner}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startGateway(t, config(tt.mode), nil)
			resp := h.get(tt.path)
			readBody(t, resp)
			if got := resp.Header.Values("Proxy-Status"); !slices.Equal(got, tt.want) {
				t.Errorf("Proxy-Status %q, want %q", got, tt.want)
			}
		})
	}
}
