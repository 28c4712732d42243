package gateway_test

import (
	"io"
	"net"
	"net/http"
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

const oneUpstream = `
trusted_networks: ["10.99.0.0/16"]
upstreams:
  app:
    targets: ["http://${APP}"]
routes:
  - upstream: app
`

func TestProxiesRequestAndLogsIt(t *testing.T) {
	app := startFault(t, faults.OK)
	h := startGateway(t, oneUpstream, map[string]string{"APP": app.Addr()})

	resp := h.get("/hello/world?x=1")
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, body %q", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Echo-Target"); got != "/hello/world?x=1" {
		t.Errorf("upstream saw target %q", got)
	}
	if got := resp.Header.Get("Via"); got != "1.1 portico" {
		t.Errorf("Via = %q", got)
	}
	id := resp.Header.Get("X-Request-Id")
	if id == "" {
		t.Fatal("no X-Request-ID in the response")
	}
	line := h.logLine(id)
	want := map[string]any{
		"http.request.method":       "GET",
		"url.path":                  "/hello/world",
		"http.response.status_code": float64(200),
		"upstream":                  "app",
		"upstream.address":          app.Addr(),
		"error.type":                "",
		"client.address":            "127.0.0.1",
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("log %s = %v, want %v", k, line[k], v)
		}
	}
	if n, _ := line["http.response.body.size"].(float64); int(n) != len(body) {
		t.Errorf("logged %v response bytes, sent %d", line["http.response.body.size"], len(body))
	}
}

func TestRemovesHopByHopFields(t *testing.T) {
	app := startFault(t, faults.OK)
	h := startGateway(t, oneUpstream, map[string]string{"APP": app.Addr()})

	resp := h.get("/",
		"X-Echo-Headers: 1",
		"Connection: X-Secret, keep-alive",
		"X-Secret: do not forward",
		"Keep-Alive: timeout=5",
		"Proxy-Connection: keep-alive",
		"Upgrade: h2c",
		"TE: trailers, deflate",
		"X-Kept: yes",
	)
	readBody(t, resp)
	for _, name := range []string{"X-Secret", "Keep-Alive", "Proxy-Connection", "Upgrade", "Connection"} {
		if v := resp.Header.Values("X-Echo-Header-" + name); len(v) != 0 {
			t.Errorf("%s reached the upstream: %q", name, v)
		}
	}
	if v := resp.Header.Get("X-Echo-Header-Te"); v != "trailers" {
		t.Errorf("TE sent upstream = %q, want only trailers", v)
	}
	if v := resp.Header.Get("X-Echo-Header-X-Kept"); v != "yes" {
		t.Errorf("end-to-end field lost: %q", v)
	}
}

func TestForwardingFieldsTrustOnlyTrustedClients(t *testing.T) {
	app := startFault(t, faults.OK)
	cases := []struct {
		name        string
		trusted     string
		wantXFF     string
		wantFwd     string
		wantReqID   func(string) bool
		clientReqID string
	}{
		{
			name:        "untrusted client's values are replaced",
			trusted:     "10.99.0.0/16",
			wantXFF:     "127.0.0.1",
			wantFwd:     "for=127.0.0.1;proto=http;host=",
			wantReqID:   func(id string) bool { return id != "client-chosen" && id != "" },
			clientReqID: "client-chosen",
		},
		{
			name:        "trusted client's values are extended",
			trusted:     "127.0.0.0/8",
			wantXFF:     "203.0.113.9, 127.0.0.1",
			wantFwd:     "for=203.0.113.9, for=127.0.0.1;proto=http;host=",
			wantReqID:   func(id string) bool { return id == "client-chosen" },
			clientReqID: "client-chosen",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			yaml := strings.Replace(oneUpstream, "10.99.0.0/16", tc.trusted, 1)
			h := startGateway(t, yaml, map[string]string{"APP": app.Addr()})
			resp := h.get("/",
				"X-Echo-Headers: 1",
				"X-Forwarded-For: 203.0.113.9",
				"Forwarded: for=203.0.113.9",
				"X-Request-ID: "+tc.clientReqID,
			)
			readBody(t, resp)
			if got := resp.Header.Get("X-Echo-Header-X-Forwarded-For"); got != tc.wantXFF {
				t.Errorf("X-Forwarded-For = %q, want %q", got, tc.wantXFF)
			}
			host := strings.TrimPrefix(h.URL, "http://")
			if got, want := resp.Header.Get("X-Echo-Header-Forwarded"), tc.wantFwd+`"`+host+`"`; got != want {
				t.Errorf("Forwarded = %q, want %q", got, want)
			}
			if got := resp.Header.Get("X-Echo-Header-X-Forwarded-Proto"); got != "http" {
				t.Errorf("X-Forwarded-Proto = %q", got)
			}
			if got := resp.Header.Get("X-Echo-Header-X-Forwarded-Host"); got != host {
				t.Errorf("X-Forwarded-Host = %q, want %q", got, host)
			}
			upstreamID := resp.Header.Get("X-Echo-Header-X-Request-Id")
			if !tc.wantReqID(upstreamID) || resp.Header.Get("X-Request-Id") != upstreamID {
				t.Errorf("request id: upstream saw %q, client got %q", upstreamID, resp.Header.Get("X-Request-Id"))
			}
		})
	}
}

// TestResponseFieldsRelayedWithoutHopByHop: what an upstream's response
// says about its own connection stays behind, portico's own fields
// replace the upstream's, and the rest passes as it came. A 200 and a 502
// take different paths through the proxy; both must behave the same.
func TestResponseFieldsRelayedWithoutHopByHop(t *testing.T) {
	for _, status := range []string{"200 OK", "502 Bad Gateway"} {
		t.Run(status, func(t *testing.T) {
			app := startRawUpstream(t, func(c net.Conn, _ *http.Request) {
				io.WriteString(c, "HTTP/1.1 "+status+"\r\n"+
					"Connection: X-Hop, keep-alive\r\n"+
					"X-Hop: secret\r\n"+
					"Keep-Alive: timeout=5\r\n"+
					"Proxy-Connection: keep-alive\r\n"+
					"X-Request-Id: chosen-by-upstream\r\n"+
					"Via: 1.1 upstream-cache\r\n"+
					"content-type: text/plain\r\n"+
					"X-Multi: one\r\n"+
					"X-Multi: two\r\n"+
					"Content-Length: 2\r\n\r\nok")
			})
			h := startGateway(t, upstreamConfig("http://"+app, ""), nil)
			resp := h.get("/", "X-Request-Id: client-id")
			if body := readBody(t, resp); body != "ok" {
				t.Fatalf("body %q, want ok", body)
			}
			for _, name := range []string{"X-Hop", "Keep-Alive", "Proxy-Connection"} {
				if v := resp.Header.Values(name); len(v) != 0 {
					t.Errorf("%s reached the client: %q", name, v)
				}
			}
			if got := resp.Header.Values("X-Request-Id"); len(got) != 1 || got[0] != "client-id" {
				t.Errorf("X-Request-Id = %q, want only the request's own ID", got)
			}
			if got := strings.Join(resp.Header.Values("Via"), ", "); got != "1.1 upstream-cache, 1.1 portico" {
				t.Errorf("Via = %q, want the upstream's hop then portico's", got)
			}
			if got := resp.Header.Get("Content-Type"); got != "text/plain" {
				t.Errorf("Content-Type = %q", got)
			}
			if got := resp.Header.Values("X-Multi"); len(got) != 2 || got[0] != "one" || got[1] != "two" {
				t.Errorf("X-Multi = %q, want both lines in order", got)
			}
			if resp.ContentLength != 2 || resp.Header.Get("Date") == "" {
				t.Errorf("Content-Length %d, Date %q: want 2 and a date", resp.ContentLength, resp.Header.Get("Date"))
			}
			if resp.Close {
				t.Errorf("the upstream's Connection field ended the client's connection")
			}
		})
	}
}
