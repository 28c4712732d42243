package health

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/portico-proxy/portico/internal/failure"
)

// IsTargetFailure reports whether an attempt's outcome counts against the
// target for ejection. class is the attempt's failure (failure.None when a
// response head arrived) and status the response's status.
//
// Counted: the target could not be reached or spoke broken HTTP
// (dns_error, connection_refused, connection_timeout,
// destination_ip_unroutable, the tls_* classes, connection_terminated,
// connection_write_timeout, connection_read_timeout, http_protocol_error,
// http_response_incomplete), or it answered 502, 503 or 504, which say it
// cannot serve now (RFC 9110 §15.6.3-15.6.5).
//
// Not counted: what says nothing about the target's health. dns_timeout is
// the resolver's failure, shared by every target; destination_ip_prohibited
// is configuration; http_response_timeout is the whole-request deadline,
// set per route; header and body size limits and unsupported codings are
// one response's shape; other 5xx, a 500 above all, are usually one
// request's bug. Those outcomes neither count nor reset the run.
func IsTargetFailure(class failure.Class, status int) bool {
	switch class {
	case failure.None:
		return status == http.StatusBadGateway || status == http.StatusServiceUnavailable ||
			status == http.StatusGatewayTimeout
	case failure.DNSError, failure.ConnectionRefused, failure.ConnectionTimeout,
		failure.DestinationIPUnroutable, failure.TLSCertificateError, failure.TLSAlertReceived,
		failure.TLSProtocolError, failure.ConnectionTerminated, failure.ConnectionWriteTimeout,
		failure.ConnectionReadTimeout, failure.HTTPProtocolError, failure.HTTPResponseIncomplete:
		return true
	}
	return false
}

// isSuccess reports whether an outcome ends a run of failures: a response
// the target was able to give.
func isSuccess(class failure.Class, status int) bool {
	return class == failure.None && !IsTargetFailure(class, status)
}

// statusCauses are the Cause strings of the statuses that count, built
// once so that reporting them allocates nothing.
var statusCauses = map[int]string{
	http.StatusBadGateway:         "http_status_502",
	http.StatusServiceUnavailable: "http_status_503",
	http.StatusGatewayTimeout:     "http_status_504",
}

// statusCause names a response status as a cause.
func statusCause(status int) string {
	if c, ok := statusCauses[status]; ok {
		return c
	}
	return "http_status_" + strconv.Itoa(status)
}

// Report records the outcome of one attempt on target i: class is its
// failure (failure.None when a response head arrived) and status the
// response's status (0 when none). After outlier.consecutive_failures
// failures in a row (IsTargetFailure) the target is ejected for
// outlier.eject_for, doubled for each repeat ejection up to 8 times as
// long; a target ejected again within the length of its last ejection
// after returning is a repeat. Ejection never takes out a pool's last
// usable target: passive signals alone cannot tell a dead target from a
// request that fails everywhere, and answering with the real failure
// explains more than destination_unavailable would.
func (m *Monitor) Report(i int, class failure.Class, status int) {
	if m.outlier.ConsecutiveFailures == 0 {
		return
	}
	t := &m.targets[i]
	if isSuccess(class, status) {
		// Most outcomes are successes; skipping the store when the run
		// is already 0 keeps the counter's cache line shared.
		if t.failures.Load() != 0 {
			t.failures.Store(0)
		}
		return
	}
	if !IsTargetFailure(class, status) {
		return
	}
	if n := t.failures.Add(1); int(n) < m.outlier.ConsecutiveFailures {
		return
	}
	cause := class.String()
	if class == failure.None {
		cause = statusCause(status)
	}
	m.mu.Lock()
	now := m.now()
	// An ejection that ran out unnoticed ends first, so that this run
	// counts as a repeat.
	back := m.endEjectionLocked(t, now)
	e := m.ejectLocked(t, cause, now)
	m.mu.Unlock()
	m.emit(back)
	m.emit(e)
}

// ejectLocked takes t out of service at now after a run of failures ending
// in cause; the caller holds m.mu.
func (m *Monitor) ejectLocked(t *target, cause string, now time.Time) *event {
	failures := int(t.failures.Load())
	if t.down.Load() || t.ejectedUntil.Load() != 0 || failures < m.outlier.ConsecutiveFailures {
		// Already out, or a success reset the run meanwhile; requests
		// still in flight when it went out report late.
		return nil
	}
	t.cause = cause
	if m.usableCount(now.UnixNano()) <= 1 {
		if failures == m.outlier.ConsecutiveFailures {
			return &event{level: slog.LevelWarn, msg: "upstream target not ejected: it is the last usable one", target: t.name,
				attrs: []any{"cause", cause, "consecutive_failures", failures}}
		}
		return nil
	}
	if !t.returned.IsZero() && now.Sub(t.returned) < t.lastEjection {
		t.doublings = min(t.doublings+1, maxEjectionDoublings)
	} else {
		t.doublings = 0
	}
	length := m.outlier.EjectFor << t.doublings
	t.failures.Store(0)
	t.passes = 0
	t.ejectedUntil.Store(now.Add(length).UnixNano())
	m.setState(t, Ejected, now)
	return &event{level: slog.LevelWarn, msg: "upstream target ejected", target: t.name,
		attrs: []any{"cause", cause, "consecutive_failures", failures, "for", length, "until", now.Add(length).Format(time.RFC3339)}}
}
