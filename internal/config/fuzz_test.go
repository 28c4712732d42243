package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that Parse never panics, that it returns either a
// Config or an ErrorList whose positions all lie inside the input, that it
// is deterministic, and that a valid result keeps its invariants.
func FuzzParse(f *testing.F) {
	// Every golden error case, plus valid files, seeds the corpus.
	inputs, _ := filepath.Glob("testdata/errors/*.yaml")
	for _, input := range inputs {
		data, err := os.ReadFile(input)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, seed := range []string{
		"",
		"listen: \"127.0.0.1:8080\"\n",
		"upstreams:\n  app:\n    targets: [\"http://127.0.0.1:3000\"]\nroutes:\n  - upstream: app\n",
		"routes:\n  - host: \"*.Example.com\"\n    upstream: x\n",
		"listen: ${PORT:-8080}\n",
		"x-a: &a {connect: 1s}\nupstreams: {u: {targets: [http://h], timeouts: *a}}\n",
		"\xef\xbb\xbflisten: ':1'\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("f.yaml", data, testEnv)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse returned Config %v and error %v", cfg != nil, err)
		}
		if err != nil {
			checkPositions(t, data, err)
		} else {
			checkInvariants(t, cfg)
		}
		again, err2 := Parse("f.yaml", data, testEnv)
		if !reflect.DeepEqual(cfg, again) || errString(err) != errString(err2) {
			t.Fatalf("Parse is not deterministic:\n%v\n%v", err, err2)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func checkPositions(t *testing.T, data []byte, err error) {
	t.Helper()
	var list ErrorList
	if !errors.As(err, &list) || len(list) == 0 {
		t.Fatalf("error %v is not a non-empty ErrorList", err)
	}
	lines := strings.Split(string(data), "\n")
	for i, e := range list {
		if e.File != "f.yaml" || e.Line < 1 || e.Line > len(lines) {
			t.Fatalf("%v: line outside the %d-line input", e, len(lines))
		}
		text := strings.TrimSuffix(lines[e.Line-1], "\r")
		if e.Column < 1 || e.Column > utf8.RuneCountInString(text)+1 {
			t.Fatalf("%v: column outside line %q", e, text)
		}
		if i > 0 && (list[i-1].Line > e.Line || list[i-1].Line == e.Line && list[i-1].Column > e.Column) {
			t.Fatalf("errors not sorted: %v before %v", list[i-1], e)
		}
		if strings.Contains(e.Msg, "\n") {
			t.Fatalf("message %q spans lines", e.Msg)
		}
		_ = e.Snippet()
	}
}

func checkInvariants(t *testing.T, cfg *Config) {
	t.Helper()
	if len(cfg.Listen) == 0 {
		t.Fatal("valid Config has no listen address")
	}
	for _, u := range cfg.Upstreams {
		if len(u.Targets) == 0 {
			t.Fatalf("upstream %q has no targets", u.Name)
		}
		for _, target := range u.Targets {
			if target.URL.Port() == "" || target.URL.Path != "" || target.Weight < 1 {
				t.Fatalf("upstream %q: target %v weight %d", u.Name, target.URL, target.Weight)
			}
		}
		if (u.Balance == Hash) != (u.HashOn != HashKey{}) {
			t.Fatalf("upstream %q: balance %s with hash key %+v", u.Name, u.Balance, u.HashOn)
		}
	}
	for _, r := range cfg.Routes {
		if r.Host != strings.ToLower(r.Host) || !strings.HasPrefix(r.PathPrefix, "/") || cfg.Upstream(r.Upstream) == nil {
			t.Fatalf("route %+v breaks an invariant", r)
		}
	}
}
