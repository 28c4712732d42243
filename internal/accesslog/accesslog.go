// Package accesslog writes one structured line per request: who asked for
// what, where it went, how it ended and, when it failed, the taxonomy cause.
// Field names follow the OpenTelemetry semantic conventions for HTTP
// (docs/logging.md), which log pipelines already parse.
package accesslog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/portico-proxy/portico/internal/config"
)

// Entry is one request's record.
type Entry struct {
	Start      time.Time
	RequestID  string
	ClientAddr string
	Method     string
	Host       string
	Path       string
	Proto      string
	Status     int
	BytesIn    int64
	BytesOut   int64
	Duration   time.Duration
	Route      string
	Upstream   string
	Target     string
	Attempts   int
	// Cause is the RFC 9209 error type of a failed request, "" on success;
	// Details is the operator's sentence for it.
	Cause   string
	Details string
}

// Logger writes entries. A nil *Logger discards them.
type Logger struct {
	h slog.Handler
}

// New returns a logger writing format ("json" or "text") to w.
func New(w io.Writer, format string) *Logger {
	opts := &slog.HandlerOptions{ReplaceAttr: dropLevel}
	if format == "text" {
		return &Logger{h: slog.NewTextHandler(w, opts)}
	}
	return &Logger{h: slog.NewJSONHandler(w, opts)}
}

// dropLevel drops slog's level key: every access line is the same
// level, and the message says what the line is.
func dropLevel(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.LevelKey {
		return slog.Attr{}
	}
	return a
}

// Open returns the logger c describes and the file to close when it is
// retired; "off" gives a nil logger.
func Open(c config.AccessLog) (*Logger, io.Closer, error) {
	switch c.Path {
	case "off":
		return nil, nopCloser{}, nil
	case "", "-":
		return New(os.Stdout, c.Format), nopCloser{}, nil
	}
	f, err := os.OpenFile(c.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("access log: %w", err)
	}
	return New(f, c.Format), f, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// Log writes e as one line.
func (l *Logger) Log(e *Entry) {
	if l == nil {
		return
	}
	r := slog.NewRecord(e.Start, slog.LevelInfo, "request", 0)
	r.AddAttrs(
		slog.String("request_id", e.RequestID),
		slog.String("client.address", e.ClientAddr),
		slog.String("http.request.method", e.Method),
		slog.String("server.address", e.Host),
		slog.String("url.path", e.Path),
		slog.String("network.protocol.version", e.Proto),
		slog.Int("http.response.status_code", e.Status),
		slog.Int64("http.request.body.size", e.BytesIn),
		slog.Int64("http.response.body.size", e.BytesOut),
		slog.Float64("duration_ms", float64(e.Duration.Microseconds())/1000),
		slog.String("route", e.Route),
		slog.String("upstream", e.Upstream),
		slog.String("upstream.address", e.Target),
		slog.Int("attempts", e.Attempts),
		slog.String("error.type", e.Cause),
	)
	if e.Details != "" {
		r.AddAttrs(slog.String("error.message", e.Details))
	}
	_ = l.h.Handle(context.Background(), r)
}
