package accesslog

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

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
