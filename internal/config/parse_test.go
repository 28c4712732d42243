package config

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// mustParse parses src as if it were testdata/portico.yaml.
func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	cfg, err := Parse("testdata/portico.yaml", []byte(src), testEnv)
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return cfg
}

func TestEmptyFileGivesDefaults(t *testing.T) {
	for name, src := range map[string]string{
		"empty":        "",
		"comment only": "# nothing configured yet\n",
		"null":         "~\n",
	} {
		t.Run(name, func(t *testing.T) {
			cfg := mustParse(t, src)
			want := &Config{
				Listen:        []string{"127.0.0.1:8080"},
				ProxyStatus:   ProxyStatusError,
				ProxyName:     "portico",
				ShutdownGrace: 30 * time.Second,
				ClientTimeouts: ClientTimeouts{
					Head: 10 * time.Second, Idle: 75 * time.Second, Send: 60 * time.Second,
				},
				AccessLog: AccessLog{Path: "-", Format: "json"},
				Limits: Limits{
					RequestHeaderBytes:         64 << 10,
					ResponseHeaderSectionBytes: 256 << 10,
					ResponseHeaderBytes:        64 << 10,
				},
				ResolveTimeout: 2 * time.Second,
			}
			if !reflect.DeepEqual(cfg, want) {
				t.Errorf("got %+v\nwant %+v", cfg, want)
			}
		})
	}
}

func TestUpstreamDefaults(t *testing.T) {
	cfg := mustParse(t, `
upstreams:
  app:
    targets: ["http://127.0.0.1:3000"]
`)
	u := cfg.Upstream("app")
	if u == nil {
		t.Fatal(`Upstream("app") = nil`)
	}
	want := Timeouts{
		Connect:        2 * time.Second,
		ResponseHeader: 30 * time.Second,
		Read:           60 * time.Second,
		Write:          30 * time.Second,
	}
	if u.Timeouts != want {
		t.Errorf("Timeouts = %+v, want %+v", u.Timeouts, want)
	}
	if u.Balance != RoundRobin || u.ResolveEvery != 30*time.Second ||
		u.MaxIdlePerTarget != 64 || u.IdleTimeout != 60*time.Second {
		t.Errorf("got balance %s, resolve_every %s, max_idle_per_target %d, idle_timeout %s",
			u.Balance, u.ResolveEvery, u.MaxIdlePerTarget, u.IdleTimeout)
	}
	if u.Targets[0].Weight != 1 {
		t.Errorf("weight = %d, want 1", u.Targets[0].Weight)
	}
	if u.MaxInFlight != 0 || u.HealthCheck != nil {
		t.Errorf("max_in_flight %d, health_check %+v; want no limit and no checks", u.MaxInFlight, u.HealthCheck)
	}
	if want := (Outlier{ConsecutiveFailures: 5, EjectFor: 30 * time.Second}); u.Outlier != want {
		t.Errorf("Outlier = %+v, want %+v", u.Outlier, want)
	}
	if want := (Retries{Attempts: 2, BudgetPercent: 20}); u.Retries != want {
		t.Errorf("Retries = %+v, want %+v", u.Retries, want)
	}
	if u.Pos != (Pos{Line: 3, Column: 3}) {
		t.Errorf("Pos = %+v, want line 3 column 3", u.Pos)
	}
}

func TestFullConfig(t *testing.T) {
	cfg := mustParse(t, `
listen: ["127.0.0.1:8080", "[::1]:8080"]
admin: "127.0.0.1:9901"
proxy_status: full
trusted_networks: ["10.0.0.0/8", "::1", "192.168.1.7"]
proxy_name: edge-1
shutdown_grace: 1m30s
access_log:
  path: logs/access.log
  format: text
limits:
  request_header_bytes: 32KiB
  response_header_section_bytes: 1 MiB
  response_header_bytes: 8192
  response_body_bytes: 2GiB
error_pages:
  502: files/502.html
upstreams:
  app:
    targets:
      - "http://127.0.0.1:3000"
      - url: "https://App-2.Internal"
        weight: 3
    balance: hash
    hash: {cookie: session}
    tls:
      ca_file: files/ca.pem
      server_name: app.internal
    timeouts:
      connect: 500ms
      response_header: 10s
      read: 0s
      write: 5s
      request: 2m
    resolve_every: 10s
    max_idle_per_target: 0
    idle_timeout: 45s
    max_in_flight: 100
    health_check:
      path: /healthz?full=1
      interval: 2s
      timeout: 500ms
      healthy_after: 1
      unhealthy_after: 4
      expect_status: 204
    outlier: {consecutive_failures: 3, eject_for: 1m}
    retries: {attempts: 3, budget_percent: 50}
routes:
  - host: "*.Example.COM"
    path_prefix: /api/
    strip_prefix: true
    upstream: app
    allow: ["10.0.0.0/8", "::1"]
    deny: [10.9.9.9]
    rate_limit: {requests: 50, per: 1m}
    maintenance: true
    maintenance_retry_after: 10m
target_policy:
  deny: ["169.254.0.0/16", "fd00::/8"]
resolvers: ["127.0.0.1", "[::1]:5353", "10.0.0.2:53"]
resolve_timeout: 500ms
`)
	if want := []string{"127.0.0.1:8080", "[::1]:8080"}; !reflect.DeepEqual(cfg.Listen, want) {
		t.Errorf("Listen = %q, want %q", cfg.Listen, want)
	}
	if cfg.Admin != "127.0.0.1:9901" || cfg.ProxyStatus != ProxyStatusFull || !cfg.ProxyStatusSet ||
		cfg.ProxyName != "edge-1" || cfg.ShutdownGrace != 90*time.Second {
		t.Errorf("top level: %+v", cfg)
	}
	wantNets := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("192.168.1.7/32"),
	}
	if !reflect.DeepEqual(cfg.TrustedNetworks, wantNets) {
		t.Errorf("TrustedNetworks = %v, want %v", cfg.TrustedNetworks, wantNets)
	}
	if want := (AccessLog{Path: filepath.Join("testdata", "logs", "access.log"), Format: "text"}); cfg.AccessLog != want {
		t.Errorf("AccessLog = %+v, want %+v", cfg.AccessLog, want)
	}
	wantLimits := Limits{
		RequestHeaderBytes:         32 << 10,
		ResponseHeaderSectionBytes: 1 << 20,
		ResponseHeaderBytes:        8192,
		ResponseBodyBytes:          2 << 30,
	}
	if cfg.Limits != wantLimits {
		t.Errorf("Limits = %+v, want %+v", cfg.Limits, wantLimits)
	}
	if want := map[int]string{502: filepath.Join("testdata", "files", "502.html")}; !reflect.DeepEqual(cfg.ErrorPages, want) {
		t.Errorf("ErrorPages = %v, want %v", cfg.ErrorPages, want)
	}

	u := cfg.Upstream("app")
	var urls []string
	var weights []int
	for _, target := range u.Targets {
		urls = append(urls, target.URL.String())
		weights = append(weights, target.Weight)
	}
	if want := []string{"http://127.0.0.1:3000", "https://App-2.Internal:443"}; !reflect.DeepEqual(urls, want) {
		t.Errorf("target URLs = %q, want %q", urls, want)
	}
	if want := []int{1, 3}; !reflect.DeepEqual(weights, want) {
		t.Errorf("weights = %v, want %v", weights, want)
	}
	if u.Balance != Hash || u.HashOn != (HashKey{Cookie: "session"}) {
		t.Errorf("balance %s on %+v, want hash on cookie session", u.Balance, u.HashOn)
	}
	if want := (TLS{CAFile: filepath.Join("testdata", "files", "ca.pem"), ServerName: "app.internal"}); u.TLS != want {
		t.Errorf("TLS = %+v, want %+v", u.TLS, want)
	}
	wantTimeouts := Timeouts{
		Connect:        500 * time.Millisecond,
		ResponseHeader: 10 * time.Second,
		Read:           0,
		Write:          5 * time.Second,
		Request:        2 * time.Minute,
	}
	if u.Timeouts != wantTimeouts {
		t.Errorf("Timeouts = %+v, want %+v", u.Timeouts, wantTimeouts)
	}
	if u.ResolveEvery != 10*time.Second || u.MaxIdlePerTarget != 0 || u.IdleTimeout != 45*time.Second {
		t.Errorf("pool settings: %+v", u)
	}

	if u.MaxInFlight != 100 {
		t.Errorf("MaxInFlight = %d, want 100", u.MaxInFlight)
	}
	wantCheck := &HealthCheck{
		Path: "/healthz?full=1", Interval: 2 * time.Second, Timeout: 500 * time.Millisecond,
		HealthyAfter: 1, UnhealthyAfter: 4, ExpectStatus: StatusRange{Min: 204, Max: 204},
	}
	if !reflect.DeepEqual(u.HealthCheck, wantCheck) {
		t.Errorf("HealthCheck = %+v, want %+v", u.HealthCheck, wantCheck)
	}
	if want := (Outlier{ConsecutiveFailures: 3, EjectFor: time.Minute}); u.Outlier != want {
		t.Errorf("Outlier = %+v, want %+v", u.Outlier, want)
	}
	if want := (Retries{Attempts: 3, BudgetPercent: 50}); u.Retries != want {
		t.Errorf("Retries = %+v, want %+v", u.Retries, want)
	}
	wantDeny := []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("fd00::/8")}
	if !reflect.DeepEqual(cfg.TargetPolicy.Deny, wantDeny) {
		t.Errorf("TargetPolicy.Deny = %v, want %v", cfg.TargetPolicy.Deny, wantDeny)
	}
	if want := []string{"127.0.0.1:53", "[::1]:5353", "10.0.0.2:53"}; !reflect.DeepEqual(cfg.Resolvers, want) {
		t.Errorf("Resolvers = %q, want %q", cfg.Resolvers, want)
	}
	if cfg.ResolveTimeout != 500*time.Millisecond {
		t.Errorf("ResolveTimeout = %s, want 500ms", cfg.ResolveTimeout)
	}

	wantRoute := &Route{
		Host: "*.example.com", PathPrefix: "/api/", StripPrefix: true, Upstream: "app",
		Allow:                 []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		Deny:                  []netip.Prefix{netip.MustParsePrefix("10.9.9.9/32")},
		RateLimit:             &RateLimit{Requests: 50, Per: time.Minute, Burst: 50},
		Maintenance:           true,
		MaintenanceRetryAfter: 10 * time.Minute,
		Pos:                   Pos{Line: 49, Column: 5},
	}
	if len(cfg.Routes) != 1 || !reflect.DeepEqual(cfg.Routes[0], wantRoute) {
		t.Errorf("Routes = %+v, want [%+v]", cfg.Routes, wantRoute)
	}
}

func TestHealthCheckDefaults(t *testing.T) {
	cfg := mustParse(t, `
upstreams:
  app:
    targets: ["http://127.0.0.1:3000"]
    health_check: {}
`)
	want := &HealthCheck{
		Path: "/", Interval: 5 * time.Second, Timeout: time.Second,
		HealthyAfter: 2, UnhealthyAfter: 3, ExpectStatus: StatusRange{Min: 200, Max: 399},
	}
	if got := cfg.Upstream("app").HealthCheck; !reflect.DeepEqual(got, want) {
		t.Errorf("HealthCheck = %+v, want %+v", got, want)
	}
}

func TestRateLimitBurstDefaultsToRequests(t *testing.T) {
	cfg := mustParse(t, `
upstreams:
  app:
    targets: ["http://127.0.0.1:3000"]
routes:
  - rate_limit: {burst: 7, requests: 3}
    path_prefix: /a/
    upstream: app
  - rate_limit: {requests: 3}
    upstream: app
`)
	if got, want := *cfg.Routes[0].RateLimit, (RateLimit{Requests: 3, Per: time.Second, Burst: 7}); got != want {
		t.Errorf("route 1 RateLimit = %+v, want %+v", got, want)
	}
	if got, want := *cfg.Routes[1].RateLimit, (RateLimit{Requests: 3, Per: time.Second, Burst: 3}); got != want {
		t.Errorf("route 2 RateLimit = %+v, want %+v", got, want)
	}
	if cfg.Routes[1].HasPolicy() != true || (&Route{}).HasPolicy() {
		t.Errorf("HasPolicy wrong")
	}
}

func TestTargetPortsAreExplicit(t *testing.T) {
	for _, tc := range []struct{ target, want string }{
		{"http://app.internal", "http://app.internal:80"},
		{"https://app.internal", "https://app.internal:443"},
		{"http://app.internal/", "http://app.internal:80"},
		{"HTTPS://10.0.0.1:8443", "https://10.0.0.1:8443"},
		{"http://[::1]", "http://[::1]:80"},
		{"http://[::1]:3000", "http://[::1]:3000"},
	} {
		t.Run(tc.target, func(t *testing.T) {
			cfg := mustParse(t, "upstreams:\n  app:\n    targets: [\""+tc.target+"\"]\n")
			if got := cfg.Upstream("app").Targets[0].URL.String(); got != tc.want {
				t.Errorf("URL = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRouteHosts(t *testing.T) {
	for _, tc := range []struct{ host, want string }{
		{"", ""},
		{"Example.com", "example.com"},
		{"*.Example.com", "*.example.com"},
		{"127.0.0.1", "127.0.0.1"},
		{"[::1]", "::1"},
		{"_service.internal", "_service.internal"},
	} {
		t.Run(tc.host, func(t *testing.T) {
			cfg := mustParse(t, `
upstreams:
  app:
    targets: ["http://127.0.0.1:3000"]
routes:
  - host: "`+tc.host+`"
    upstream: app
`)
			if got := cfg.Routes[0]; got.Host != tc.want || got.PathPrefix != "/" {
				t.Errorf("host %q prefix %q, want host %q prefix \"/\"", got.Host, got.PathPrefix, tc.want)
			}
		})
	}
}

func TestEnvironmentExpansion(t *testing.T) {
	env := map[string]string{"PORT": "9000", "APP": "10.0.0.5", "EMPTY": "", "WEIGHT": "4", "STRIP": "true"}
	lookup := func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
	cfg, err := Parse("portico.yaml", []byte(`
listen: "127.0.0.1:${PORT}"
admin: "${ADMIN:-127.0.0.1:9901}"
proxy_name: "${EMPTY:-edge}"
upstreams:
  app:
    targets:
      - url: http://${APP}:3000
        weight: ${WEIGHT}
  fallback:
    targets: ["http://${MISSING:-127.0.0.1}:4000"]
routes:
  - path_prefix: /cost$/$${HOME}
    strip_prefix: ${STRIP}
    upstream: app
`), lookup)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cfg.Listen[0] != "127.0.0.1:9000" || cfg.Admin != "127.0.0.1:9901" || cfg.ProxyName != "edge" {
		t.Errorf("listen %q admin %q proxy_name %q", cfg.Listen, cfg.Admin, cfg.ProxyName)
	}
	target := cfg.Upstream("app").Targets[0]
	if target.URL.String() != "http://10.0.0.5:3000" || target.Weight != 4 {
		t.Errorf("target %s weight %d, want http://10.0.0.5:3000 weight 4", target.URL, target.Weight)
	}
	if got := cfg.Upstream("fallback").Targets[0].URL.String(); got != "http://127.0.0.1:4000" {
		t.Errorf("default not used: %s", got)
	}
	if r := cfg.Routes[0]; r.PathPrefix != "/cost$/${HOME}" || !r.StripPrefix {
		t.Errorf("route %+v, want prefix /cost$/${HOME} stripped", r)
	}
}

func TestAnchorsAndAliases(t *testing.T) {
	cfg := mustParse(t, `
x-timeouts: &fast
  connect: 250ms
  response_header: 2s
upstreams:
  a:
    targets: ["http://127.0.0.1:3000"]
    timeouts: *fast
  b:
    targets: ["http://127.0.0.1:3001"]
    timeouts: *fast
`)
	for _, name := range []string{"a", "b"} {
		if got := cfg.Upstream(name).Timeouts; got.Connect != 250*time.Millisecond || got.ResponseHeader != 2*time.Second || got.Read != 60*time.Second {
			t.Errorf("upstream %s timeouts = %+v", name, got)
		}
	}
}

func TestProxyStatusModes(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want ProxyStatusMode
		set  bool
	}{
		{"", ProxyStatusError, false},
		{"proxy_status: error", ProxyStatusError, true},
		{"proxy_status: full", ProxyStatusFull, true},
		{"proxy_status: off", ProxyStatusOff, true},
	} {
		t.Run(tc.src, func(t *testing.T) {
			cfg := mustParse(t, tc.src)
			if cfg.ProxyStatus != tc.want || cfg.ProxyStatusSet != tc.set {
				t.Errorf("mode %s set %v, want %s set %v", cfg.ProxyStatus, cfg.ProxyStatusSet, tc.want, tc.set)
			}
		})
	}
}

func TestUnreferencedUpstreamIsFine(t *testing.T) {
	cfg := mustParse(t, `
upstreams:
  used:
    targets: ["http://127.0.0.1:3000"]
  spare:
    targets: ["http://127.0.0.1:3001"]
routes:
  - upstream: used
`)
	if len(cfg.Upstreams) != 2 || cfg.Upstreams[0].Name != "used" || cfg.Upstreams[1].Name != "spare" {
		t.Errorf("Upstreams not in file order: %+v", cfg.Upstreams)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "portico.yaml")
	ca, err := os.ReadFile("testdata/files/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PORTICO_TEST_PORT", "8181")
	src := `
listen: "127.0.0.1:${PORTICO_TEST_PORT}"
upstreams:
  app:
    targets: ["https://127.0.0.1:3443"]
    tls: {ca_file: ca.pem}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("valid file", func(t *testing.T) {
		cfg, err := Load(path)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if cfg.Path != path {
			t.Errorf("Path = %q, want %q", cfg.Path, path)
		}
		if cfg.Listen[0] != "127.0.0.1:8181" {
			t.Errorf("Listen = %q; the process environment was not used", cfg.Listen)
		}
		if want := filepath.Join(dir, "ca.pem"); cfg.Upstream("app").TLS.CAFile != want {
			t.Errorf("CAFile = %q, want %q beside the config file", cfg.Upstream("app").TLS.CAFile, want)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(filepath.Join(dir, "absent.yaml"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Load error = %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("missing ca_file", func(t *testing.T) {
		if err := os.Remove(filepath.Join(dir, "ca.pem")); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		var list ErrorList
		if !errors.As(err, &list) || len(list) != 1 {
			t.Fatalf("Load error = %v, want one problem", err)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("errors.Is(err, fs.ErrNotExist) = false for %v", err)
		}
		if list[0].File != path || list[0].Line != 6 || list[0].Column != 20 {
			t.Errorf("problem at %s:%d:%d, want %s:6:20", list[0].File, list[0].Line, list[0].Column, path)
		}
	})
}

func TestErrorsAreSortedAndComplete(t *testing.T) {
	_, err := Parse("p.yaml", []byte(`
routes:
  - upstream: nowhere
listen: "nope"
upstreams:
  app:
    targets: ["http//x"]
`), nil)
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error = %v, want an ErrorList", err)
	}
	want := []string{
		`p.yaml:3:15: route 1: upstream "nowhere" is not defined`,
		`p.yaml:4:9: listen "nope" is not host:port, as in "127.0.0.1:8080" or ":8080"`,
		`p.yaml:7:15: upstream "app": target "http//x" is not a URL`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("Error() =\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

func TestSnippet(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      string
	}{
		{
			name: "caret under the column",
			src:  "listen: \"nope\"\n",
			want: "1 | listen: \"nope\"\n  |         ^\n",
		},
		{
			name: "columns count characters",
			src:  "# über\nproxy_name: \"é é\"\n",
			want: "2 | proxy_name: \"é é\"\n  |             ^\n",
		},
		{
			name: "tabs are kept",
			src:  "proxy_name: \"a\tb\" # \t${X}\n",
			want: "1 | proxy_name: \"a\tb\" # \t${X}\n  |             ^\n",
		},
		{
			name: "windows line endings",
			src:  "admin: \"x\"\r\n",
			want: "1 | admin: \"x\"\n  |        ^\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tc.src), nil)
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error = %v, want an ErrorList", err)
			}
			if got := list[0].Snippet(); got != tc.want {
				t.Errorf("Snippet() =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestClientTimeouts(t *testing.T) {
	cfg := mustParse(t, "client_timeouts: {head: 5s, idle: 30s, send: 20s}\n")
	if want := (ClientTimeouts{Head: 5 * time.Second, Idle: 30 * time.Second, Send: 20 * time.Second}); cfg.ClientTimeouts != want {
		t.Errorf("ClientTimeouts = %+v, want %+v", cfg.ClientTimeouts, want)
	}
	cfg = mustParse(t, "client_timeouts: {send: 5m}\n")
	if want := (ClientTimeouts{Head: 10 * time.Second, Idle: 75 * time.Second, Send: 5 * time.Minute}); cfg.ClientTimeouts != want {
		t.Errorf("ClientTimeouts = %+v, want the defaults but send %+v", cfg.ClientTimeouts, want)
	}
}
