package proxystatus_test

import (
	"strings"
	"testing"

	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/proxystatus"
)

// FuzzParse checks that the parser never panics, and that whatever it accepts
// re-serialises to a canonical form that parses to the same members and
// serialises to itself.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		// What portico itself sends.
		`portico; error=connection_refused; next-hop="10.0.3.7:8080"; details="dial tcp 10.0.3.7:8080: connect: connection refused"`,
		`portico; received-status=502`,
		// RFC 9209 §2 examples, from origin to client.
		`ExampleCDN; error=http_protocol_error; details="Malformed response header: space before colon"`,
		`SomeReverseProxy; error=connection_timeout, ExampleCDN`,
		// Every bare item type, odd spacing, repeated keys.
		`p;i=-42;d=1.50;s="a\"b\\c";t=*x/y:z;b=:aGVsbG8=:;f=?0;yes;at=@-1;ds=%"caf%c3%a9"`,
		"  a ,\tb;x=1;x=2  ",
		// Near misses the parser must reject.
		`a, `, `(a b)`, `a; d=1.`, `a; b=:aGVsbG8`, `"unterminated`, `a; ds=%"%ff"`,
		``,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		ms, err := proxystatus.Parse(value)
		if err != nil {
			return
		}
		canonical, err := proxystatus.Format(ms)
		if err != nil {
			t.Fatalf("Parse(%q) accepted %+v, which Format rejects: %v", value, ms, err)
		}
		again, err := proxystatus.Parse(canonical)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canonical, value, err)
		}
		if !equalMembers(ms, again) {
			t.Fatalf("%q parses to %+v, its canonical form %q to %+v", value, ms, canonical, again)
		}
		if twice, _ := proxystatus.Format(again); twice != canonical {
			t.Fatalf("canonical form not stable: %q then %q", canonical, twice)
		}
	})
}

// FuzzRoundTrip checks parse(format(x)) == x for members built from fuzzed
// parts; x that Format rejects are skipped.
func FuzzRoundTrip(f *testing.F) {
	f.Add("portico", "error", uint8(proxystatus.Token), int64(0), "connection_refused", false)
	f.Add("edge 1", "next-hop", uint8(proxystatus.String), int64(0), "[::1]:8080", false)
	f.Add("a", "alert-id", uint8(proxystatus.Integer), int64(-999_999_999_999_999), "", false)
	f.Add("a", "d", uint8(proxystatus.Decimal), int64(1500), "", false)
	f.Add("a", "b", uint8(proxystatus.ByteSequence), int64(0), "\x00\xff", false)
	f.Add("a", "yes", uint8(proxystatus.Boolean), int64(0), "", true)
	f.Add("a", "at", uint8(proxystatus.Date), int64(1659578233), "", false)
	f.Add("a", "ds", uint8(proxystatus.DisplayString), int64(0), "café \"%\"", false)
	f.Fuzz(func(t *testing.T, name, key string, kind uint8, n int64, s string, b bool) {
		v := proxystatus.Value{Kind: proxystatus.Kind(kind)}
		switch v.Kind {
		case proxystatus.Integer, proxystatus.Decimal, proxystatus.Date:
			v.Int = n
		case proxystatus.String, proxystatus.Token, proxystatus.ByteSequence, proxystatus.DisplayString:
			v.Str = s
		case proxystatus.Boolean:
			v.Bool = b
		}
		in := []proxystatus.Member{{Name: name, Params: []proxystatus.Param{{Key: key, Value: v}}}, {Name: "portico"}}
		text, err := proxystatus.Format(in)
		if err != nil {
			return
		}
		out, err := proxystatus.Parse(text)
		if err != nil {
			t.Fatalf("Format(%+v) = %q, which does not parse: %v", in, text, err)
		}
		if !equalMembers(in, out) {
			t.Fatalf("%+v formats to %q, which parses to %+v", in, text, out)
		}
	})
}

// FuzzAppendMember checks that whatever a failure carries, portico's member
// parses, names the class, and at error level reveals nothing else.
func FuzzAppendMember(f *testing.F) {
	f.Add("portico", uint8(failure.ConnectionRefused), "10.0.3.7:8080", "dial tcp: connection refused", "rcode", "NXDOMAIN", int64(3))
	f.Add("edge 1", uint8(failure.TLSAlertReceived), "[::1]:443", "caf\xc3\xa9\r\n\"\\", "Alert-ID", "", int64(-1<<62))
	f.Add("", uint8(0), "", "", "", "", int64(0))
	f.Fuzz(func(t *testing.T, name string, class uint8, target, details, key, value string, n int64) {
		fe := &failure.Error{
			Class: failure.Class(class), Target: target, Details: details,
			Params: []failure.Param{
				failure.StringParam(key, value), failure.IntParam(key+"-n", n),
				{Key: key + "-t", Value: value, Kind: failure.Token},
			},
		}
		for _, d := range []proxystatus.Detail{proxystatus.ErrorOnly, proxystatus.Full} {
			text := string(proxystatus.AppendMember(nil, name, fe, d))
			ms, err := proxystatus.Parse(text)
			if err != nil {
				t.Fatalf("%s member %q does not parse: %v", d, text, err)
			}
			if len(ms) != 1 {
				t.Fatalf("%s member %q parses to %d members", d, text, len(ms))
			}
			wantName := strings.Map(func(r rune) rune {
				if r < 0x20 || r > 0x7e {
					return '?'
				}
				return r
			}, name)
			if ms[0].Name != wantName {
				t.Errorf("name %q came back as %q", name, ms[0].Name)
			}
			got, _ := ms[0].Param("error")
			if _, ok := failure.ParseClass(got.Str); got.Kind != proxystatus.Token || !ok {
				t.Errorf("error=%+v is not a class token", got)
			}
			if d == proxystatus.ErrorOnly && len(ms[0].Params) != 1 {
				t.Errorf("error-level member %q reveals more than the error type", text)
			}
		}
	})
}
