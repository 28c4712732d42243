package stale_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/h1"
	"github.com/portico-proxy/portico/internal/stale"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func response(body string, until time.Time) *stale.Response {
	return &stale.Response{Status: 200, Reason: "OK", Body: []byte(body), Stored: t0, Until: until}
}

// TestStoreDropsTheLeastRecentlyUsed: a full store makes room by dropping
// what was used longest ago, and a response past its time is gone.
func TestStoreDropsTheLeastRecentlyUsed(t *testing.T) {
	s := stale.New(&config.StaleIfError{MaxAge: time.Hour, MaxBytes: 700, MaxBody: 200})
	later := t0.Add(time.Hour)
	s.Put("a", response(strings.Repeat("a", 150), later))
	s.Put("b", response(strings.Repeat("b", 150), later))
	s.Put("c", response(strings.Repeat("c", 150), later))
	if _, ok := s.Get("a", t0); !ok { // a is now the most recently used
		t.Fatal("a was dropped while the store had room")
	}
	s.Put("d", response(strings.Repeat("d", 150), later))
	if _, ok := s.Get("b", t0); ok {
		t.Error("b, the least recently used, was kept when d needed room")
	}
	for _, k := range []string{"a", "c", "d"} {
		if _, ok := s.Get(k, t0); !ok {
			t.Errorf("%s was dropped; only b had to go", k)
		}
	}
	if _, ok := s.Get("a", later.Add(time.Second)); ok {
		t.Error("a served after its time")
	}
}

// TestKeepable: which responses may be kept, and until when.
func TestKeepable(t *testing.T) {
	s := stale.New(&config.StaleIfError{MaxAge: 10 * time.Minute, MaxBytes: 1 << 20, MaxBody: 1 << 10})
	tests := []struct {
		name   string
		status int
		fields []h1.Field
		until  time.Duration // -1: not keepable
	}{
		{"plain 200", 200, nil, 10 * time.Minute},
		{"404", 404, nil, -1},
		{"stale-if-error shortens", 200, []h1.Field{{Name: "Cache-Control", Value: "max-age=60, stale-if-error=120"}}, 3 * time.Minute},
		{"stale-if-error cannot lengthen", 200, []h1.Field{{Name: "cache-control", Value: "stale-if-error=86400"}}, 10 * time.Minute},
		{"s-maxage", 200, []h1.Field{{Name: "Cache-Control", Value: "public, s-maxage=60"}}, -1},
		{"no-cache", 200, []h1.Field{{Name: "Cache-Control", Value: "No-Cache"}}, -1},
		{"vary on encoding only", 200, []h1.Field{{Name: "Vary", Value: "accept-encoding"}}, 10 * time.Minute},
		{"vary on anything else", 200, []h1.Field{{Name: "Vary", Value: "Accept-Encoding, *"}}, -1},
		{"set-cookie", 200, []h1.Field{{Name: "Set-Cookie", Value: "a=b"}}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			until, ok := s.Keepable(tt.status, tt.fields, t0)
			switch {
			case tt.until < 0 && ok:
				t.Errorf("kept until %v, want not kept", until)
			case tt.until >= 0 && (!ok || !until.Equal(t0.Add(tt.until))):
				t.Errorf("kept %v until %v, want until %v", ok, until, t0.Add(tt.until))
			}
		})
	}
}

// TestKey: only a GET without credentials has a key, and it tells
// encodings apart.
func TestKey(t *testing.T) {
	get := func(method string, fields ...string) *http.Request {
		r, _ := http.NewRequest(method, "http://example.com/a?b=1", nil)
		r.RequestURI = "/a?b=1"
		for _, f := range fields {
			k, v, _ := strings.Cut(f, ": ")
			r.Header.Add(k, v)
		}
		return r
	}
	plain, ok1 := stale.Key(get("GET"))
	gzip, ok2 := stale.Key(get("GET", "Accept-Encoding: gzip"))
	if !ok1 || !ok2 || plain == gzip {
		t.Errorf("keys %q %q (%v %v); want two different keys", plain, gzip, ok1, ok2)
	}
	for _, r := range []*http.Request{get("POST"), get("HEAD"), get("GET", "Cookie: a=b"), get("GET", "Authorization: Basic x")} {
		if k, ok := stale.Key(r); ok {
			t.Errorf("%s %v has key %q, want none", r.Method, r.Header, k)
		}
	}
}

// TestReconfiguredKeepsWhatTheNewLimitsAllow: a reload with the same
// limits keeps the store itself; new limits keep the responses that fit
// them, shorten lives to the new max_age, and drop the least recently
// used first when the budget shrinks.
func TestReconfiguredKeepsWhatTheNewLimitsAllow(t *testing.T) {
	limits := config.StaleIfError{MaxAge: time.Hour, MaxBytes: 1000, MaxBody: 400}
	s := stale.New(&limits)
	later := t0.Add(time.Hour)
	s.Put("old", response(strings.Repeat("o", 100), later))
	s.Put("big", response(strings.Repeat("b", 300), later))
	s.Put("new", response(strings.Repeat("n", 100), later))

	same := limits
	if got := s.Reconfigured(&same, t0); got != s {
		t.Error("unchanged limits gave a new store; the kept responses should be shared as they are")
	}

	// A smaller body limit drops "big"; a shorter max_age shortens the
	// others' lives; a budget for one response keeps the most recent.
	n := s.Reconfigured(&config.StaleIfError{MaxAge: 10 * time.Minute, MaxBytes: 250, MaxBody: 200}, t0)
	if _, ok := n.Get("big", t0); ok {
		t.Error("a body above the new max_body was carried over")
	}
	if _, ok := n.Get("old", t0); ok {
		t.Error("the least recently used response was kept though the new budget holds one")
	}
	r, ok := n.Get("new", t0)
	if !ok {
		t.Fatal("the most recently used response was not carried over")
	}
	if want := t0.Add(10 * time.Minute); !r.Until.Equal(want) {
		t.Errorf("carried response serves until %v, want %v (stored + the new max_age)", r.Until, want)
	}
	if orig, _ := s.Get("new", t0); !orig.Until.Equal(later) {
		t.Errorf("the old store's response changed to %v; it must stay as the old configuration kept it", orig.Until)
	}

	// A response past its time under the new max_age is not carried.
	if _, ok := s.Reconfigured(&config.StaleIfError{MaxAge: time.Minute, MaxBytes: 1000, MaxBody: 400}, t0.Add(2*time.Minute)).Get("new", t0.Add(2*time.Minute)); ok {
		t.Error("a response older than the new max_age was carried over")
	}
}
