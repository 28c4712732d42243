package respond

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseQuality(t *testing.T) {
	tests := []struct {
		in     string
		want   int
		wantOK bool
	}{
		{"1", 1000, true},
		{"1.000", 1000, true},
		{"0", 0, true},
		{"0.5", 500, true},
		{"0.125", 125, true},
		{"0.", 0, true},
		{"1.001", 0, false},
		{"0.1234", 0, false},
		{"2", 0, false},
		{".5", 0, false},
		{"0,5", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseQuality(tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Fatalf("parseQuality(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// FuzzNegotiate checks that no Accept value panics the negotiation or picks
// a format the client explicitly refused while another was acceptable.
func FuzzNegotiate(f *testing.F) {
	for _, seed := range []string{
		"", "*/*", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"application/json, text/plain, */*", "application/*;q=0.2, text/html;q=0",
		"text/plain;q=0, text/html;level=1;q=0.5", ";;,,/", "a/b;q=1.0000",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		got := negotiate([]string{accept})
		if got >= numFormats {
			t.Fatalf("negotiate(%q) = %d, not a format", accept, got)
		}
		if got == plainText {
			return // also the answer when nothing is acceptable
		}
		mt := mediaTypes[got]
		named, refused := false, true
		for element := range strings.SplitSeq(accept, ",") {
			typ, sub, q, ok := parseMediaRange(element)
			if ok && strings.EqualFold(typ, mt.typ) && strings.EqualFold(sub, mt.sub) {
				named, refused = true, refused && q == 0
			}
		}
		if named && refused {
			t.Fatalf("negotiate(%q) chose %s/%s, which the client refused", accept, mt.typ, mt.sub)
		}
	})
}

// FuzzJSONString checks the hand-written JSON escaping against
// encoding/json: the output always decodes, to the input when it is valid
// UTF-8.
func FuzzJSONString(f *testing.F) {
	for _, seed := range []string{"", "plain", "quote \" backslash \\", "ctl \x00\x1f\x7f", "<script>&", "caf\xc3\xa9 \xff \u2028\u2029"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%q escapes to invalid JSON %s: %v", s, out, err)
		}
		if utf8.ValidString(s) && got != s {
			t.Fatalf("%q escapes to %s, which decodes to %q", s, out, got)
		}
		if strings.ContainsAny(string(out), "<>&\n\r") {
			t.Fatalf("%q escapes to %s, which keeps markup or a line break", s, out)
		}
	})
}
