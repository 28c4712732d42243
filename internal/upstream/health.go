package upstream

import (
	"context"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/health"
	"github.com/portico-proxy/portico/internal/transport"
)

// probeHeader is sent with every health check; it is only read.
var probeHeader = http.Header{
	"User-Agent": {"portico-health-check"},
	"Accept":     {"*/*"},
}

// probeBodyLimit is how much of a check's response body is read so that
// the connection can be kept; past it the connection is dropped instead.
const probeBodyLimit = 64 << 10

// probe runs one active check of target i through the target's own
// endpoint, so that a check resolves, dials, verifies TLS and obeys
// target_policy exactly as requests do, and its failures carry the same
// classes.
func (p *Pool) probe(ctx context.Context, i int) (int, error) {
	t := p.targets[i]
	resp, err := t.Endpoint.RoundTrip(ctx, &transport.Request{
		Method: http.MethodGet,
		Target: p.check.Path,
		Host:   t.authority,
		Header: probeHeader,
	})
	if err != nil {
		return 0, err
	}
	io.CopyN(io.Discard, resp.Body, probeBodyLimit)
	resp.Body.Close()
	return resp.Status, nil
}

// unavailableListed bounds the targets a destination_unavailable message
// names one by one.
const unavailableListed = 3

// unavailable explains why Pick found no target: which targets are down or
// ejected, since when and why, and when one may be back.
func (p *Pool) unavailable() error {
	var listed []string
	out, up := 0, 0
	for _, t := range p.targets {
		s := t.Health()
		if s.State == health.Up {
			up++
			continue
		}
		if out++; out <= unavailableListed {
			listed = append(listed, describe(t.url, s))
		}
	}
	if out > unavailableListed {
		listed = append(listed, "and "+strconv.Itoa(out-unavailableListed)+" more")
	}
	quoted := strconv.Quote(p.name)
	total := strconv.Itoa(len(p.targets))
	var details string
	switch {
	case out == 0:
		details = "no usable target in upstream " + quoted
	case up == 0:
		details = "all " + total + " targets of upstream " + quoted + " are out of service: " + strings.Join(listed, "; ")
	default:
		details = strconv.Itoa(out) + " of " + total + " targets of upstream " + quoted +
			" are out of service and the rest were already tried: " + strings.Join(listed, "; ")
	}
	fe := failure.Newf(failure.DestinationUnavailable, failure.PhaseRoute, details)
	fe.Upstream = p.name
	if wait := p.health.RetryAfter(); wait > 0 {
		fe.RetryAfterSeconds = int(math.Ceil(wait.Seconds()))
	}
	return fe
}

// describe says why one target is out: "http://10.0.0.7:8080 down since
// 2025-03-01T08:31:02Z (connection_refused)".
func describe(url string, s health.Status) string {
	text := url + " " + s.State.String() + " since " + s.Since.UTC().Format(time.RFC3339)
	if s.State == health.Ejected {
		text += " until " + s.Until.UTC().Format(time.RFC3339)
	}
	if s.Cause != "" {
		text += " (" + s.Cause + ")"
	}
	return text
}
