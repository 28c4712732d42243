package accesslog

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the zone tests must not depend on the host's zoneinfo
	"unicode/utf8"

	"github.com/portico-proxy/portico/internal/config"
)

func sampleEntry() *Entry {
	return &Entry{
		Start:      time.Date(2026, 11, 25, 8, 31, 32, 100e6, time.UTC),
		RequestID:  "4d5712254410-4",
		ClientAddr: "127.0.0.1",
		Method:     "GET",
		Host:       "example.com",
		Path:       "/a \"quoted\"\npath\xff",
		Proto:      "HTTP/1.1",
		Status:     502,
		BytesOut:   229,
		Duration:   1234567 * time.Nanosecond,
		Route:      "example.com/",
		Upstream:   "app",
		Target:     "10.0.3.7:8080",
		Attempts:   1,
		Cause:      "connection_refused",
		Details:    "dial tcp 10.0.3.7:8080: connect: connection refused",
	}
}

func TestJSONLineParsesWithEveryField(t *testing.T) {
	var buf bytes.Buffer
	New(&buf, "json").Log(sampleEntry())
	line := buf.String()
	if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
		t.Fatalf("not one line: %q", line)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	want := map[string]any{
		"time":                      "2026-11-25T08:31:32.1Z",
		"msg":                       "request",
		"request_id":                "4d5712254410-4",
		"url.path":                  "/a \"quoted\"\npath\ufffd",
		"http.response.status_code": float64(502),
		"duration_ms":               1.234,
		"error.type":                "connection_refused",
		"upstream.address":          "10.0.3.7:8080",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
}

func TestTextLineIsLogfmt(t *testing.T) {
	var buf bytes.Buffer
	New(&buf, "text").Log(sampleEntry())
	line := buf.String()
	for _, want := range []string{"msg=request ", "http.response.status_code=502 ", `url.path="/a \"quoted\"\npath\ufffd"`, "error.type=connection_refused"} {
		if !strings.Contains(line, want) {
			t.Errorf("text line lacks %q:\n%s", want, line)
		}
	}
}

// The exact lines, so that a faster encoder cannot change a byte.
func TestLinesAreByteForByteStable(t *testing.T) {
	other := &Entry{
		Start:    time.Date(1999, 12, 31, 23, 59, 59, 120000, time.FixedZone("", -(3*3600+30*60))),
		Method:   "POST",
		Path:     "/x=y z",
		Status:   200,
		Duration: 1500 * time.Millisecond,
	}
	for _, c := range []struct {
		format string
		e      *Entry
		want   string
	}{
		{"json", sampleEntry(), `{"time":"2026-11-25T08:31:32.1Z","msg":"request","request_id":"4d5712254410-4","client.address":"127.0.0.1","http.request.method":"GET","server.address":"example.com","url.path":"/a \"quoted\"\npath\ufffd","network.protocol.version":"HTTP/1.1","http.response.status_code":502,"http.request.body.size":0,"http.response.body.size":229,"duration_ms":1.234,"route":"example.com/","upstream":"app","upstream.address":"10.0.3.7:8080","attempts":1,"error.type":"connection_refused","error.message":"dial tcp 10.0.3.7:8080: connect: connection refused"}` + "\n"},
		{"text", sampleEntry(), `time=2026-11-25T08:31:32.1Z msg=request request_id=4d5712254410-4 client.address=127.0.0.1 http.request.method=GET server.address=example.com url.path="/a \"quoted\"\npath\ufffd" network.protocol.version=HTTP/1.1 http.response.status_code=502 http.request.body.size=0 http.response.body.size=229 duration_ms=1.234 route=example.com/ upstream=app upstream.address=10.0.3.7:8080 attempts=1 error.type=connection_refused error.message="dial tcp 10.0.3.7:8080: connect: connection refused"` + "\n"},
		{"json", other, `{"time":"1999-12-31T23:59:59.00012-03:30","msg":"request","request_id":"","client.address":"","http.request.method":"POST","server.address":"","url.path":"/x=y z","network.protocol.version":"","http.response.status_code":200,"http.request.body.size":0,"http.response.body.size":0,"duration_ms":1500,"route":"","upstream":"","upstream.address":"","attempts":0,"error.type":""}` + "\n"},
		{"text", other, `time=1999-12-31T23:59:59.00012-03:30 msg=request request_id="" client.address="" http.request.method=POST server.address="" url.path="/x=y z" network.protocol.version="" http.response.status_code=200 http.request.body.size=0 http.response.body.size=0 duration_ms=1500 route="" upstream="" upstream.address="" attempts=0 error.type=""` + "\n"},
	} {
		var buf bytes.Buffer
		New(&buf, c.format).Log(c.e)
		if got := buf.String(); got != c.want {
			t.Errorf("%s line\n got %s\nwant %s", c.format, got, c.want)
		}
	}
}

func testZones(t *testing.T) []*time.Location {
	zones := []*time.Location{
		time.UTC,
		time.Local,
		time.FixedZone("", 0), // not UTC, yet written "Z"
		time.FixedZone("IST", 5*3600+30*60),
		time.FixedZone("", -(3*3600 + 30*60)),
		time.FixedZone("LMT", -(4*3600 + 56*60 + 2)), // seconds in the offset
		time.FixedZone("", 14*3600),
		time.FixedZone("", -12*3600),
	}
	for _, name := range []string{"America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu", "Pacific/Chatham"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		zones = append(zones, loc)
	}
	return zones
}

// testInstants returns times around the boundaries a cached second could
// get wrong, with fractions that have and lack trailing zeros.
func testInstants(t *testing.T) []time.Time {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	bases := []time.Time{
		time.Date(2026, 11, 25, 8, 31, 32, 0, time.UTC),
		time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), // second, minute, hour, day, year
		time.Date(2024, 2, 28, 23, 59, 59, 0, time.UTC),  // into a leap day
		time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), // negative unix seconds
		time.Date(2026, 3, 8, 1, 59, 59, 0, ny),          // into daylight saving time
		time.Date(2026, 11, 1, 1, 59, 59, 0, ny).Add(time.Hour),
		time.Date(2026, 10, 25, 0, 59, 59, 0, time.UTC), // Europe's switch back
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(12345, 6, 7, 8, 9, 10, 0, time.UTC),
		time.Date(-44, 3, 15, 12, 0, 0, 0, time.UTC),
		time.Unix(1<<62, 0), // a year of twelve digits
		time.Unix(-1<<62, 0),
		{},
	}
	fractions := []time.Duration{0, 1, 9, 10, 100, 120000, 1e6, 100e6, 123456789, 500e6, 999999999, 1e9, 1e9 + 1}
	var instants []time.Time
	for _, base := range bases {
		for _, d := range fractions {
			instants = append(instants, base.Add(-d), base.Add(d))
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		instants = append(instants, time.Unix(r.Int64N(1<<36)-1<<35, r.Int64N(1e9)))
	}
	// Runs of lines within one second, as a busy proxy logs them.
	now := time.Now()
	for i := range 1000 {
		instants = append(instants, now.Add(time.Duration(i)*3*time.Millisecond+time.Duration(r.IntN(1000))))
	}
	return instants
}

func TestTimestampMatchesAppendFormat(t *testing.T) {
	zones, instants := testZones(t), testInstants(t)
	var stamp secondStamp
	check := func(tm time.Time) {
		got := string(stamp.append(nil, tm))
		if want := tm.Format(time.RFC3339Nano); got != want {
			t.Fatalf("%v (unix %d.%09d in %v): got %s, want %s", tm, tm.Unix(), tm.Nanosecond(), tm.Location(), got, want)
		}
	}
	// Each instant in every zone in turn, then every instant in each zone
	// in turn: the cache is both missed and hit.
	for _, tm := range instants {
		for _, loc := range zones {
			check(tm.In(loc))
		}
	}
	for _, loc := range zones {
		for _, tm := range instants {
			check(tm.In(loc))
		}
	}
}

func TestTimestampsOfConcurrentLoggers(t *testing.T) {
	zones := testZones(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			loc := zones[g%len(zones)]
			var buf bytes.Buffer
			l := New(&buf, "text")
			e := sampleEntry()
			for i := range 2000 {
				e.Start = time.Unix(1790000000+int64(i/7), int64(i)*1234567%1e9).In(loc)
				buf.Reset()
				l.Log(e)
				want := "time=" + e.Start.Format(time.RFC3339Nano) + " "
				if !strings.HasPrefix(buf.String(), want) {
					t.Errorf("in %v: line %q, want it to start %q", loc, buf.String(), want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestMillisMatchesAppendFloat(t *testing.T) {
	check := func(us int64) {
		got := string(appendMillis(nil, us))
		if want := strconv.FormatFloat(float64(us)/1000, 'f', -1, 64); got != want {
			t.Fatalf("%d µs: got %s, want %s", us, got, want)
		}
	}
	for us := int64(-100000); us <= 100000; us++ {
		check(us)
	}
	for p := int64(1); p <= 1e18; p *= 10 {
		for _, us := range []int64{p - 1, p, p + 1, p + 999, p*9 + 9} {
			check(us)
			check(-us)
		}
	}
	for _, d := range []time.Duration{math.MinInt64, math.MaxInt64, time.Duration(1e15*1000 - 1), time.Duration(1e15 * 1000)} {
		check(d.Microseconds())
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		check(r.Int64N(1e12))
		check(r.Int64() >> r.IntN(64))
	}
}

// quotedByteByByte is appendQuoted written plainly, byte by byte.
func quotedByteByByte(s string) string {
	const hex = "0123456789abcdef"
	b := []byte{'"'}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < ' ':
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return string(append(b, '"'))
}

// needsQuotingByteByByte is needsQuoting written plainly.
func needsQuotingByteByByte(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

func checkQuoting(t *testing.T, s string) {
	t.Helper()
	got := string(appendQuoted([]byte("x"), s))
	if want := "x" + quotedByteByByte(s); got != want {
		t.Fatalf("appendQuoted(%q) = %s, want %s", s, got[1:], want[1:])
	}
	// What JSON readers get back is what encoding/json would have sent.
	var back, viaJSON string
	if err := json.Unmarshal([]byte(got[1:]), &back); err != nil {
		t.Fatalf("appendQuoted(%q) = %s: %v", s, got[1:], err)
	}
	marshaled, _ := json.Marshal(s)
	json.Unmarshal(marshaled, &viaJSON)
	if back != viaJSON {
		t.Fatalf("appendQuoted(%q) reads back as %q, encoding/json's as %q", s, back, viaJSON)
	}
	if got, want := needsQuoting(s), needsQuotingByteByByte(s); got != want {
		t.Fatalf("needsQuoting(%q) = %v, want %v", s, got, want)
	}
}

var quotingSeeds = []string{
	"", "plain", "/api/v1/users/12345/profile", "a\"b", `back\slash`, "tab\there", "cr\rlf\n",
	"\x00\x01\x1f\x7f", "a=b", "with space", "é", "日本語", "\u2028\u2029", "\ufffd", "\xef\xbf\xbd",
	"\xff", "\xc3", "\xc3(", "\xe2\x82", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", "\U0010ffff",
	"abc\xffdef\"ghi\\jkl\x05mno", "\"\"\"\"\"\"\"\"\"", "é" + strings.Repeat("x", 9) + "\xff",
}

func TestQuotingMatchesByteByByte(t *testing.T) {
	for _, s := range quotingSeeds {
		checkQuoting(t, s)
	}
	for c := range 256 {
		for d := range 256 {
			checkQuoting(t, string([]byte{byte(c), byte(d)}))
		}
	}
	// Each special byte at every place around the four-byte steps.
	for _, special := range []string{"\"", "\\", "\n", "\x00", "\x7f", " ", "=", "\xff", "é", "€", "\U0001F600", "\xe2\x82"} {
		for n := range 13 {
			for at := 0; at <= n; at++ {
				plain := strings.Repeat("a", n)
				checkQuoting(t, plain[:at]+special+plain[at:])
			}
		}
	}
}

func FuzzQuoting(f *testing.F) {
	for _, s := range quotingSeeds {
		f.Add(s)
	}
	f.Fuzz(checkQuoting)
}

func TestNilLoggerDiscards(t *testing.T) {
	var l *Logger
	l.Log(sampleEntry())
}

func TestLogAllocatesNothingOnceWarm(t *testing.T) {
	l := New(&bytes.Buffer{}, "json")
	e := sampleEntry()
	l.Log(e)
	if n := testing.AllocsPerRun(100, func() { l.w.(*bytes.Buffer).Reset(); l.Log(e) }); n != 0 {
		t.Errorf("%v allocations per line", n)
	}
}

func BenchmarkLogJSON(b *testing.B) {
	l := New(&bytes.Buffer{}, "json")
	e := sampleEntry()
	b.ReportAllocs()
	for b.Loop() {
		l.w.(*bytes.Buffer).Reset()
		l.Log(e)
	}
}

func BenchmarkLogText(b *testing.B) {
	l := New(&bytes.Buffer{}, "text")
	e := sampleEntry()
	b.ReportAllocs()
	for b.Loop() {
		l.w.(*bytes.Buffer).Reset()
		l.Log(e)
	}
}

func TestFileLogIsBufferedAndFlushed(t *testing.T) {
	path := t.TempDir() + "/access.log"
	l, closer, err := Open(config.AccessLog{Path: path, Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	l.Log(sampleEntry())
	l.Log(sampleEntry())
	// Retiring the logger writes what it holds.
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n != 2 {
		t.Errorf("%d lines in the file, want 2", n)
	}
}

func TestFileLogFlushesWithinASecond(t *testing.T) {
	path := t.TempDir() + "/access.log"
	l, closer, err := Open(config.AccessLog{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	l.Log(sampleEntry())
	deadline := time.Now().Add(3 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		if strings.Count(string(data), "\n") == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the line never reached the file")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
