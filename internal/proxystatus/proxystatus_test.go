package proxystatus_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/proxystatus"
)

func token(s string) proxystatus.Value { return proxystatus.Value{Kind: proxystatus.Token, Str: s} }
func str(s string) proxystatus.Value   { return proxystatus.Value{Kind: proxystatus.String, Str: s} }
func integer(n int64) proxystatus.Value {
	return proxystatus.Value{Kind: proxystatus.Integer, Int: n}
}

func refused() *failure.Error {
	return &failure.Error{
		Class:   failure.ConnectionRefused,
		Target:  "10.0.3.7:8080",
		Details: "dial tcp 10.0.3.7:8080: connect: connection refused",
	}
}

func TestAppendMember(t *testing.T) {
	tests := []struct {
		name   string
		member string
		fe     *failure.Error
		detail proxystatus.Detail
		want   string
	}{
		{
			name:   "full",
			member: "portico",
			fe:     refused(),
			detail: proxystatus.Full,
			want:   `portico; error=connection_refused; next-hop="10.0.3.7:8080"; details="dial tcp 10.0.3.7:8080: connect: connection refused"`,
		},
		{
			name:   "error only hides next hop and details",
			member: "portico",
			fe:     refused(),
			detail: proxystatus.ErrorOnly,
			want:   `portico; error=connection_refused`,
		},
		{
			name:   "off writes nothing",
			member: "portico",
			fe:     refused(),
			detail: proxystatus.Off,
			want:   ``,
		},
		{
			name:   "class parameters follow details",
			member: "edge-1",
			fe: &failure.Error{
				Class: failure.TLSAlertReceived, Target: "app.internal:443",
				Params: []failure.Param{failure.IntParam("alert-id", 42), failure.StringParam("alert-message", "unknown_ca")},
			},
			detail: proxystatus.Full,
			want:   `edge-1; error=tls_alert_received; next-hop="app.internal:443"; alert-id=42; alert-message="unknown_ca"`,
		},
		{
			name:   "class parameters hidden at error level",
			member: "portico",
			fe:     &failure.Error{Class: failure.DNSError, Params: []failure.Param{failure.StringParam("rcode", "NXDOMAIN")}},
			detail: proxystatus.ErrorOnly,
			want:   `portico; error=dns_error`,
		},
		{
			name:   "quotes and backslashes escaped, control and non-ASCII replaced",
			member: "portico",
			fe:     &failure.Error{Class: failure.HTTPProtocolError, Details: "bad line \"X-\\\"\r\nSet-Cookie: a=b\tcafé\xff"},
			detail: proxystatus.Full,
			want:   `portico; error=http_protocol_error; details="bad line \"X-\\\"??Set-Cookie: a=b?caf??"`,
		},
		{
			name:   "name that is not a token is a string",
			member: "edge 1",
			fe:     &failure.Error{Class: failure.DNSTimeout},
			detail: proxystatus.Full,
			want:   `"edge 1"; error=dns_timeout`,
		},
		{
			name:   "keys lowercased, invalid, reserved and repeated keys left out",
			member: "portico",
			fe: &failure.Error{Class: failure.HTTPResponseHeaderSize, Params: []failure.Param{
				failure.StringParam("Header-Name", "x-big"),
				failure.StringParam("9lives", "x"),
				failure.StringParam("error", "connection_refused"),
				failure.StringParam("header-name", "x-other"),
				{Key: "coding", Value: "not a token", Kind: failure.Token},
				{Key: "huge", Int: 1 << 60, Kind: failure.Integer},
			}},
			detail: proxystatus.Full,
			want:   `portico; error=http_response_header_size; header-name="x-big"; coding="not a token"; huge="1152921504606846976"`,
		},
		{
			name:   "nil failure is an internal error",
			member: "portico",
			fe:     nil,
			detail: proxystatus.Full,
			want:   `portico; error=proxy_internal_error`,
		},
		{
			name:   "failure without a class is an internal error",
			member: "portico",
			fe:     &failure.Error{Target: "10.0.0.1:80"},
			detail: proxystatus.Full,
			want:   `portico; error=proxy_internal_error`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(proxystatus.AppendMember(nil, tt.member, tt.fe, tt.detail))
			if got != tt.want {
				t.Fatalf("AppendMember:\n got %s\nwant %s", got, tt.want)
			}
			if _, err := proxystatus.Parse(got); err != nil {
				t.Fatalf("AppendMember wrote an unparseable member %q: %v", got, err)
			}
		})
	}
}

func TestAppendMemberBoundsDetails(t *testing.T) {
	fe := &failure.Error{Class: failure.HTTPProtocolError, Details: strings.Repeat("x", 100_000)}
	got := proxystatus.AppendMember(nil, "portico", fe, proxystatus.Full)
	if len(got) > 1024 {
		t.Fatalf("member is %d bytes; want details bounded", len(got))
	}
	ms, err := proxystatus.Parse(string(got))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := ms[0].Param("details"); !strings.HasSuffix(d.Str, "...") {
		t.Errorf("truncated details %q do not end in ...", d.Str)
	}
}

func TestAppendMemberParsesBackForEveryClass(t *testing.T) {
	for _, c := range failure.Classes() {
		t.Run(c.String(), func(t *testing.T) {
			fe := &failure.Error{Class: c, Target: "[::1]:8443", Details: "why"}
			ms, err := proxystatus.Parse(string(proxystatus.AppendMember(nil, "portico", fe, proxystatus.Full)))
			if err != nil {
				t.Fatal(err)
			}
			want := []proxystatus.Member{{Name: "portico", Params: []proxystatus.Param{
				{Key: "error", Value: token(c.String())},
				{Key: "next-hop", Value: str("[::1]:8443")},
				{Key: "details", Value: str("why")},
			}}}
			if !equalMembers(ms, want) {
				t.Fatalf("got %+v, want %+v", ms, want)
			}
		})
	}
}

func TestAppendReceived(t *testing.T) {
	got := string(proxystatus.AppendReceived(nil, "portico", 502))
	if want := "portico; received-status=502"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	ms, err := proxystatus.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ms[0].Param("error"); ok {
		t.Error("a passed-through upstream status must carry no error parameter")
	}
	if v, _ := ms[0].Param("received-status"); v != integer(502) {
		t.Errorf("received-status = %+v, want integer 502", v)
	}
}

func TestAppend(t *testing.T) {
	const ours = "portico; error=connection_timeout"
	tests := []struct {
		name        string
		existing    []string
		member      string
		wantLines   []string
		wantDropped string
	}{
		{
			name:      "no upstream members",
			member:    ours,
			wantLines: []string{ours},
		},
		{
			name:      "valid upstream members kept byte for byte, ours last",
			existing:  []string{`origin-lb;error=http_response_timeout`, `cdn;received-status=504`},
			member:    ours,
			wantLines: []string{`origin-lb;error=http_response_timeout`, `cdn;received-status=504`, ours},
		},
		{
			name:        "invalid upstream value dropped and returned",
			existing:    []string{`origin; details="unterminated`},
			member:      ours,
			wantLines:   []string{ours},
			wantDropped: `origin; details="unterminated`,
		},
		{
			name:        "an empty upstream line makes the joined list invalid",
			existing:    []string{`origin; error=dns_error`, ``},
			member:      ours,
			wantLines:   []string{ours},
			wantDropped: `origin; error=dns_error, `,
		},
		{
			name:      "blank upstream value replaced",
			existing:  []string{` `},
			member:    ours,
			wantLines: []string{ours},
		},
		{
			name:      "empty member leaves the header alone",
			existing:  []string{`origin; error=dns_error`},
			member:    "",
			wantLines: []string{`origin; error=dns_error`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.existing {
				h.Add("Proxy-Status", v)
			}
			dropped := proxystatus.Append(h, tt.member)
			if dropped != tt.wantDropped {
				t.Errorf("dropped = %q, want %q", dropped, tt.wantDropped)
			}
			if got := h.Values("Proxy-Status"); !slices.Equal(got, tt.wantLines) {
				t.Fatalf("lines = %q, want %q", got, tt.wantLines)
			}
			ms, err := proxystatus.ParseHeader(h)
			if err != nil {
				t.Fatalf("client cannot parse the result: %v", err)
			}
			if tt.member != "" && ms[len(ms)-1].Name != "portico" {
				t.Errorf("last member is %q, want portico's", ms[len(ms)-1].Name)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  []proxystatus.Member
	}{
		{name: "empty field", value: "", want: nil},
		{
			name:  "rfc 9209 example",
			value: `ExampleCDN; error=http_protocol_error; details="Malformed response header: space before colon"`,
			want: []proxystatus.Member{{Name: "ExampleCDN", Params: []proxystatus.Param{
				{Key: "error", Value: token("http_protocol_error")},
				{Key: "details", Value: str("Malformed response header: space before colon")},
			}}},
		},
		{
			name:  "several members, string name, whitespace",
			value: "  origin;error=dns_error;rcode=\"NXDOMAIN\" ,\t\"edge 2\"; received-status=502  ",
			want: []proxystatus.Member{
				{Name: "origin", Params: []proxystatus.Param{{Key: "error", Value: token("dns_error")}, {Key: "rcode", Value: str("NXDOMAIN")}}},
				{Name: "edge 2", Params: []proxystatus.Param{{Key: "received-status", Value: integer(502)}}},
			},
		},
		{
			name:  "every bare item type",
			value: `p; i=-42; d=1.50; s="a\"b\\c"; t=*foo/bar:1; b=:aGVsbG8=:; no=?0; yes; at=@1659578233; ds=%"caf%c3%a9"`,
			want: []proxystatus.Member{{Name: "p", Params: []proxystatus.Param{
				{Key: "i", Value: integer(-42)},
				{Key: "d", Value: proxystatus.Value{Kind: proxystatus.Decimal, Int: 1500}},
				{Key: "s", Value: str(`a"b\c`)},
				{Key: "t", Value: token("*foo/bar:1")},
				{Key: "b", Value: proxystatus.Value{Kind: proxystatus.ByteSequence, Str: "hello"}},
				{Key: "no", Value: proxystatus.Value{Kind: proxystatus.Boolean}},
				{Key: "yes", Value: proxystatus.Value{Kind: proxystatus.Boolean, Bool: true}},
				{Key: "at", Value: proxystatus.Value{Kind: proxystatus.Date, Int: 1659578233}},
				{Key: "ds", Value: proxystatus.Value{Kind: proxystatus.DisplayString, Str: "café"}},
			}}},
		},
		{
			name:  "byte sequence without padding",
			value: `p; b=:aGVsbG8:`,
			want: []proxystatus.Member{{Name: "p", Params: []proxystatus.Param{
				{Key: "b", Value: proxystatus.Value{Kind: proxystatus.ByteSequence, Str: "hello"}},
			}}},
		},
		{
			name:  "repeated key keeps first place and last value",
			value: `p; a=1; b=2; a=3`,
			want: []proxystatus.Member{{Name: "p", Params: []proxystatus.Param{
				{Key: "a", Value: integer(3)}, {Key: "b", Value: integer(2)},
			}}},
		},
		{
			name:  "largest integer and decimal",
			value: `p; i=999999999999999; d=-999999999999.999`,
			want: []proxystatus.Member{{Name: "p", Params: []proxystatus.Param{
				{Key: "i", Value: integer(999_999_999_999_999)},
				{Key: "d", Value: proxystatus.Value{Kind: proxystatus.Decimal, Int: -999_999_999_999_999}},
			}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := proxystatus.Parse(tt.value)
			if err != nil {
				t.Fatal(err)
			}
			if !equalMembers(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name  string
		value string
	}{
		{"trailing comma", "a, "},
		{"leading comma", ", a"},
		{"leading tab", "\ta"},
		{"inner list", "(a b)"},
		{"integer member", "42; error=dns_error"},
		{"uppercase key", "a; Error=dns_error"},
		{"unterminated string", `a; details="x`},
		{"bad escape", `a; details="\n"`},
		{"newline in string", "a; details=\"x\ny\""},
		{"non-ASCII in string", "a; details=\"caf\xc3\xa9\""},
		{"integer too long", "a; i=1234567890123456"},
		{"decimal too many integer digits", "a; d=1234567890123.5"},
		{"decimal too many fractional digits", "a; d=1.2345"},
		{"decimal ending in dot", "a; d=1."},
		{"bare minus", "a; i=-"},
		{"bad boolean", "a; b=?2"},
		{"bad byte sequence", "a; b=:a*b:"},
		{"decimal date", "a; at=@1.5"},
		{"uppercase display string escape", `a; ds=%"caf%C3%A9"`},
		{"invalid UTF-8 display string", `a; ds=%"%ff"`},
		{"space before semicolon in member", "a ;x"},
		{"missing value after equals", "a; x="},
		{"two members without comma", "a b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := proxystatus.Parse(tt.value)
			var se *proxystatus.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) = %+v, %v; want a *SyntaxError", tt.value, ms, err)
			}
		})
	}
}

func TestParseHeaderJoinsLines(t *testing.T) {
	h := http.Header{}
	h.Add("Proxy-Status", "origin; error=dns_timeout")
	h.Add("Proxy-Status", "portico; received-status=504")
	ms, err := proxystatus.ParseHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Name != "origin" || ms[1].Name != "portico" {
		t.Fatalf("got %+v, want origin then portico", ms)
	}
}

func TestFormatIsCanonical(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"spacing and trailing zeros", `a;x=1.50;y=007 ,  "b";z=?1`, `a; x=1.5; y=7, b; z`},
		{"string name kept when not a token", `"edge 1";d=2.000`, `"edge 1"; d=2.0`},
		{"byte sequence padded", `a;b=:aGVsbG8:`, `a; b=:aGVsbG8=:`},
		{"display string escapes", `a;ds=%"100%25 caf%c3%a9 a\b %22q%22"`, `a; ds=%"100%25 caf%c3%a9 a\b %22q%22"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := proxystatus.Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := proxystatus.Format(ms)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("Format = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestFormatRejectsUnserialisable(t *testing.T) {
	tests := []struct {
		name string
		m    proxystatus.Member
	}{
		{"control byte in name", proxystatus.Member{Name: "a\nb"}},
		{"uppercase key", proxystatus.Member{Name: "a", Params: []proxystatus.Param{{Key: "X", Value: integer(1)}}}},
		{"integer out of range", proxystatus.Member{Name: "a", Params: []proxystatus.Param{{Key: "x", Value: integer(1e15)}}}},
		{"token with space", proxystatus.Member{Name: "a", Params: []proxystatus.Param{{Key: "x", Value: token("a b")}}}},
		{"string with newline", proxystatus.Member{Name: "a", Params: []proxystatus.Param{{Key: "x", Value: str("a\nb")}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := proxystatus.Format([]proxystatus.Member{tt.m}); !errors.Is(err, proxystatus.ErrInvalid) {
				t.Fatalf("Format = %v, want ErrInvalid", err)
			}
		})
	}
}

func equalMembers(a, b []proxystatus.Member) bool {
	return slices.EqualFunc(a, b, func(x, y proxystatus.Member) bool {
		return x.Name == y.Name && slices.Equal(x.Params, y.Params)
	})
}

func BenchmarkAppendMember(b *testing.B) {
	fe := &failure.Error{
		Class:   failure.TLSAlertReceived,
		Target:  "10.0.3.7:8443",
		Details: "remote error: tls: unknown certificate authority",
		Params:  []failure.Param{failure.IntParam("alert-id", 48), failure.StringParam("alert-message", "unknown_ca")},
	}
	for _, d := range []proxystatus.Detail{proxystatus.ErrorOnly, proxystatus.Full} {
		b.Run(d.String(), func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 256)
			for b.Loop() {
				buf = proxystatus.AppendMember(buf[:0], "portico", fe, d)
			}
		})
	}
}

func TestAppendMemberDoesNotAllocate(t *testing.T) {
	fe := refused()
	fe.Params = []failure.Param{failure.StringParam("Header-Name", "x")}
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		buf = proxystatus.AppendMember(buf[:0], "portico", fe, proxystatus.Full)
	})
	if allocs != 0 {
		t.Fatalf("AppendMember allocates %v times per call into a sized buffer, want 0", allocs)
	}
}

func BenchmarkParse(b *testing.B) {
	const v = `origin; error=http_response_timeout, portico; error=connection_refused; next-hop="10.0.3.7:8080"; details="dial tcp 10.0.3.7:8080: connect: connection refused"`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := proxystatus.Parse(v); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDetailMatchesConfigMode pins the conversion the proxy relies on:
// Detail(mode) for a config.ProxyStatusMode is the level of the same name.
func TestDetailMatchesConfigMode(t *testing.T) {
	for _, mode := range []config.ProxyStatusMode{config.ProxyStatusError, config.ProxyStatusFull, config.ProxyStatusOff} {
		t.Run(mode.String(), func(t *testing.T) {
			if got := proxystatus.Detail(mode).String(); got != mode.String() {
				t.Fatalf("Detail(%s) is %s", mode, got)
			}
		})
	}
}

func TestReduce(t *testing.T) {
	inner := []string{`inner; error=connection_refused; next-hop="10.1.2.3:8080"; details="dial tcp 10.1.2.3:8080: refused"`, `cdn;received-status=502`}
	tests := []struct {
		name     string
		existing []string
		detail   proxystatus.Detail
		want     []string
	}{
		{"full keeps the members as sent", inner, proxystatus.Full, inner},
		{"error keeps names and error types only", inner, proxystatus.ErrorOnly, []string{"inner; error=connection_refused, cdn"}},
		{"off removes the field", inner, proxystatus.Off, nil},
		{"a value that does not parse is removed", []string{`inner; error=`}, proxystatus.ErrorOnly, nil},
		{"no field, nothing to do", nil, proxystatus.ErrorOnly, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.existing != nil {
				h["Proxy-Status"] = append([]string(nil), tt.existing...)
			}
			changed := proxystatus.Reduce(h, tt.detail)
			if got := h["Proxy-Status"]; !slices.Equal(got, tt.want) {
				t.Errorf("Proxy-Status %q, want %q", got, tt.want)
			}
			if wantChanged := !slices.Equal(tt.existing, tt.want); changed != wantChanged {
				t.Errorf("Reduce reported changed=%v, want %v", changed, wantChanged)
			}
		})
	}
}
