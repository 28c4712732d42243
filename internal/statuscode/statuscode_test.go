package statuscode_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/statuscode"
)

// TestEveryStatusPorticoSendsHasAnEntry holds the reference to the
// taxonomy: every status an error type answers with has an entry that
// lists the type, and every entry's status is one portico sends.
func TestEveryStatusPorticoSendsHasAnEntry(t *testing.T) {
	sent := map[int]bool{
		// Answered through failure.Error.StatusCode, not a class's own
		// status.
		http.StatusTooManyRequests:             true,
		http.StatusRequestHeaderFieldsTooLarge: true,
		http.StatusRequestEntityTooLarge:       true,
	}
	for _, class := range failure.Classes() {
		code := class.Status()
		if code == 0 {
			continue // mid-body classes: the status has already gone out
		}
		sent[code] = true
		c, ok := statuscode.Lookup(code)
		if !ok {
			t.Errorf("%s answers %d, which has no entry", class, code)
			continue
		}
		if !slices.ContainsFunc(c.ErrorTypes, func(e statuscode.ErrorType) bool { return e.Class == class }) {
			t.Errorf("entry %d does not list %s", code, class)
		}
	}
	for _, c := range statuscode.Codes() {
		if !sent[c.Code] {
			t.Errorf("entry %d is for a status portico never sends", c.Code)
		}
		if c.Reason == "" || c.Spec == "" || c.Meaning == "" || c.SentBy == "" || len(c.Causes) == 0 || len(c.ErrorTypes) == 0 {
			t.Errorf("entry %d is incomplete: %+v", c.Code, c)
		}
	}
}

func TestOverriddenStatusesListTheirClass(t *testing.T) {
	for code, class := range map[int]failure.Class{
		http.StatusTooManyRequests:             failure.HTTPRequestDenied,
		http.StatusRequestHeaderFieldsTooLarge: failure.HTTPRequestError,
		http.StatusRequestEntityTooLarge:       failure.HTTPRequestError,
	} {
		c, _ := statuscode.Lookup(code)
		if len(c.ErrorTypes) != 1 || c.ErrorTypes[0].Class != class {
			t.Errorf("%d lists %+v, want only %s", code, c.ErrorTypes, class)
		}
	}
}

// goConstants are net/http's names, to check the derived Go names by
// value: a name the compiler knows is a name that exists.
var goConstants = map[string]int{
	"http.StatusBadRequest":                  http.StatusBadRequest,
	"http.StatusForbidden":                   http.StatusForbidden,
	"http.StatusNotFound":                    http.StatusNotFound,
	"http.StatusTooManyRequests":             http.StatusTooManyRequests,
	"http.StatusRequestEntityTooLarge":       http.StatusRequestEntityTooLarge,
	"http.StatusRequestHeaderFieldsTooLarge": http.StatusRequestHeaderFieldsTooLarge,
	"http.StatusInternalServerError":         http.StatusInternalServerError,
	"http.StatusBadGateway":                  http.StatusBadGateway,
	"http.StatusServiceUnavailable":          http.StatusServiceUnavailable,
	"http.StatusGatewayTimeout":              http.StatusGatewayTimeout,
}

func TestNames(t *testing.T) {
	for _, c := range statuscode.Codes() {
		byPlace := map[string]string{}
		for _, n := range c.Names {
			byPlace[n.Where] = n.Name
		}
		if got := goConstants[byPlace["Go"]]; got != c.Code {
			t.Errorf("%d: Go name %q is not net/http's constant for it", c.Code, byPlace["Go"])
		}
		for _, where := range []string{"Python", ".NET", "Rust", "Spring", "ASP.NET Core", "Rails", "Symfony", "Angular", "Apache HttpComponents"} {
			if byPlace[where] == "" {
				t.Errorf("%d has no %s name", c.Code, where)
			}
		}
	}
	c, _ := statuscode.Lookup(http.StatusBadGateway)
	want := map[string]string{
		"Python":       "http.HTTPStatus.BAD_GATEWAY",
		"Java":         "java.net.HttpURLConnection.HTTP_BAD_GATEWAY",
		".NET":         "System.Net.HttpStatusCode.BadGateway",
		"Rust":         "http::StatusCode::BAD_GATEWAY",
		"ASP.NET Core": "StatusCodes.Status502BadGateway",
		"Rails":        ":bad_gateway",
		"Symfony":      "Response::HTTP_BAD_GATEWAY",
	}
	for _, n := range c.Names {
		if w, ok := want[n.Where]; ok && n.Name != w {
			t.Errorf("502 in %s: %q, want %q", n.Where, n.Name, w)
		}
	}
	if c, _ := statuscode.Lookup(http.StatusTooManyRequests); slices.ContainsFunc(c.Names, func(n statuscode.Name) bool { return n.Where == "Java" }) {
		t.Errorf("429 has a java.net.HttpURLConnection name, which has none for it")
	}
}

func TestLookupUnknown(t *testing.T) {
	for _, code := range []int{200, 418, 599, 0} {
		if _, ok := statuscode.Lookup(code); ok {
			t.Errorf("Lookup(%d) found an entry; portico never answers with it", code)
		}
	}
}
