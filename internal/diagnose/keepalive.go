package diagnose

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/h1"
)

// keepAlive watches the connection after a complete response, as it would
// sit in portico's idle pool, for at most the idle probe. A server that
// closes idle connections sooner than portico stops reusing them is the
// classic cause of sporadic 502s: a request sent just as the server closes
// meets connection_terminated. portico sends an idempotent request once
// more on a fresh connection when that happens, but not a POST.
func (c *check) keepAlive() {
	probe := c.d.opts.IdleProbe
	if probe < 0 {
		return
	}
	idleTimeout := c.d.proxy.IdleTimeout
	step := &KeepAliveStep{Step: newStep(), ProxyIdleTimeout: Millis(idleTimeout)}
	c.r.KeepAlive = step
	start := time.Now()
	defer func() { step.Duration = Millis(time.Since(start)) }()

	switch framing := c.head.Framing("GET"); {
	case framing == h1.Tunnel:
		step.note("the connection carries another protocol now; keep-alive does not apply")
		return
	case c.head.Close || framing == h1.UntilClose:
		step.note("the server ends the connection after each response (" + closeReason(&c.head, framing) +
			"), so portico opens a new connection for every request and never meets a stale one")
		return
	case !c.r.HTTP.BodyComplete:
		step.note("the body was not read to its end, so the idle connection was not watched")
		return
	}
	step.Reusable = true
	step.Probe = Millis(probe)

	c.conn.SetReadDeadline(time.Now().Add(probe))
	idleFrom := time.Now()
	b, err := c.br.Peek(1)
	closedAfter := time.Since(idleFrom)
	switch {
	case err == nil:
		step.warn(fmt.Sprintf("the server sent %q on the idle connection without a request; portico would take it for the next response", b))
		return
	case isTimeout(err):
		if idleTimeout > 0 && probe > idleTimeout {
			step.note(fmt.Sprintf("that is longer than portico's idle_timeout (%s), so portico never reuses a connection the server has closed", formatSetting(idleTimeout)))
			return
		}
		step.note(fmt.Sprintf("portico reuses idle connections for up to %s: run with --idle-probe %s to see whether the server keeps them that long",
			formatIdleTimeout(idleTimeout), formatSetting(suggestedProbe(idleTimeout))))
		return
	}
	step.ClosedAfter = new(Millis(closedAfter))
	if idleTimeout > 0 && closedAfter >= idleTimeout {
		step.note(fmt.Sprintf("the server closed the idle connection after %s, later than portico's idle_timeout (%s)", formatDuration(closedAfter), formatSetting(idleTimeout)))
		return
	}
	step.fail(failure.Newf(failure.ConnectionTerminated, failure.PhaseReadHead,
		fmt.Sprintf("the server closed an idle keep-alive connection after %s; portico keeps idle connections for reuse for %s",
			formatDuration(closedAfter), formatIdleTimeout(idleTimeout))))
}

func closeReason(head *h1.ResponseHead, framing h1.Framing) string {
	switch {
	case framing == h1.UntilClose:
		return "its body ends when the connection closes"
	case head.Major == 1 && head.Minor == 0:
		return "HTTP/1.0 without keep-alive"
	}
	return "Connection: close"
}

func formatIdleTimeout(d time.Duration) string {
	if d == 0 {
		return "ever (idle_timeout 0)"
	}
	return formatSetting(d)
}

// formatSetting writes a duration as a config file would: whole seconds
// as "60s" rather than time.Duration's "1m0s".
func formatSetting(d time.Duration) string {
	if d >= time.Second && d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

// suggestedProbe is a probe long enough to outlast portico's idle timeout.
func suggestedProbe(idleTimeout time.Duration) time.Duration {
	if idleTimeout == 0 {
		return 5 * time.Minute
	}
	return idleTimeout + time.Second
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
