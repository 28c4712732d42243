package config

import (
	"strings"
	"testing"
)

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"HOST": "10.0.0.1", "PORT": "8080", "EMPTY": ""}
	lookup := func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
	for _, tc := range []struct {
		name, in, want string
		errAt          int
		errMsg         string
	}{
		{name: "no reference", in: "plain text", want: "plain text"},
		{name: "set variable", in: "${HOST}:${PORT}", want: "10.0.0.1:8080"},
		{name: "set but empty", in: "[${EMPTY}]", want: "[]"},
		{name: "default when unset", in: "${NOPE:-127.0.0.1}", want: "127.0.0.1"},
		{name: "default when empty", in: "${EMPTY:-x}", want: "x"},
		{name: "default ignored when set", in: "${PORT:-1}", want: "8080"},
		{name: "empty default", in: "a${NOPE:-}b", want: "ab"},
		{name: "default may hold colons", in: "${NOPE:-http://x:1}", want: "http://x:1"},
		{name: "required and set", in: "${HOST:?need HOST}", want: "10.0.0.1"},
		{name: "doubled dollar", in: "$${HOST} costs $$5", want: "${HOST} costs $5"},
		{name: "lone dollars stay", in: "pa$s$ word$", want: "pa$s$ word$"},
		{name: "unset", in: "x=${NOPE}", errAt: 2, errMsg: "environment variable NOPE is not set"},
		{name: "required message", in: "${NOPE:?set NOPE to the port}", errMsg: "set NOPE to the port"},
		{name: "required and empty", in: "${EMPTY:?}", errMsg: "environment variable EMPTY is not set"},
		{name: "unterminated", in: "ü ${HOST", errAt: 2, errMsg: `"${" has no closing "}"`},
		{name: "bad name", in: "${A-B}", errMsg: `"A-B" is not a valid environment variable name`},
		{name: "empty name", in: "${}", errMsg: `"" is not a valid environment variable name`},
		{name: "other operator", in: "${HOST:=x}", errMsg: "${HOST:=x} is not a supported form; use ${NAME}, ${NAME:-default} or ${NAME:?message}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := expandEnv(tc.in, lookup)
			switch {
			case tc.errMsg == "" && err != nil:
				t.Fatalf("expandEnv(%q) error %q", tc.in, err.msg)
			case tc.errMsg != "" && err == nil:
				t.Fatalf("expandEnv(%q) = %q, want error %q", tc.in, got, tc.errMsg)
			case err != nil && (err.msg != tc.errMsg || err.offset != tc.errAt):
				t.Fatalf("expandEnv(%q) error %q at %d, want %q at %d", tc.in, err.msg, err.offset, tc.errMsg, tc.errAt)
			case err == nil && got != tc.want:
				t.Errorf("expandEnv(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzExpandEnv checks that escaping every "$" as "$$" always expands back
// to the original text, and that expansion never panics.
func FuzzExpandEnv(f *testing.F) {
	for _, seed := range []string{
		"",                  // nothing to do
		"${HOST}",           // a reference
		"$$",                // an escape
		"${A:-b}${C:?d}",    // both operators
		"${",                // unterminated
		"$${}$",             // escape before braces
		"pa$$w${rd}\u00e9$", // mixed, with a non-ASCII character
	} {
		f.Add(seed)
	}
	lookup := func(name string) (string, bool) { return "v", name == "HOST" }
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = expandEnv(s, lookup)
		escaped := strings.ReplaceAll(s, "$", "$$")
		got, err := expandEnv(escaped, lookup)
		if err != nil || got != s {
			t.Errorf("expandEnv(%q) = %q, %v; want %q", escaped, got, err, s)
		}
	})
}

func TestDidYouMean(t *testing.T) {
	keys := []string{"listen", "admin", "upstreams", "routes", "tls", "timeouts"}
	for _, tc := range []struct{ word, want string }{
		{"listne", `; did you mean "listen"?`},
		{"Listen", `; did you mean "listen"?`},
		{"upstream", `; did you mean "upstreams"?`},
		{"route", `; did you mean "routes"?`},
		{"tsl", ""},
		{"frobnicate", ""},
	} {
		t.Run(tc.word, func(t *testing.T) {
			if got := didYouMean(tc.word, keys); got != tc.want {
				t.Errorf("didYouMean(%q) = %q, want %q", tc.word, got, tc.want)
			}
		})
	}
}
