package upstream

import (
	"net/http"
	"strconv"

	"github.com/portico-proxy/portico/internal/failure"
)

// The retry budget counts in thousandths of a retry. Each request adds
// retries.budget_percent × 10 of them, and a retry spends 1000, so retries
// stay within that share of the requests; the budget holds at most
// retryReserve retries, which a quiet pool starts with.
const (
	retryCost    = 1000
	retryReserve = 10 * retryCost
)

// depositRetry adds a request's share to the retry budget.
func (p *Pool) depositRetry() {
	if p.attempts > 1 && p.retryBudget.Load() < retryReserve {
		p.retryBudget.Add(p.retryDeposit)
	}
}

// spendRetry takes one retry from the budget; false when it is spent.
func (p *Pool) spendRetry() bool {
	for {
		b := p.retryBudget.Load()
		if b < retryCost {
			return false
		}
		if p.retryBudget.CompareAndSwap(b, b-retryCost) {
			return true
		}
	}
}

// RetryOn returns the target a request that failed with err on target
// failed is sent to next, or nil when it is not sent again; tried reports
// the targets already tried, by index. The next target is the first after
// failed, in configuration order, that was not tried and is usable: the
// balancer is left alone, so a dead target does not shift its turns onto
// the others. Only a safe retry is made:
//
//   - a failure before any byte of the request was sent (DNS, connect,
//     TLS) allows one for every request, its body untouched;
//   - the connection closing, or the response head not coming in time,
//     after the request was sent allows one only for an idempotent method
//     (RFC 9110 §9.2.2) and no body, since the target may have acted on it.
//
// attempt is the number of tries made so far. When a retry would be safe
// but cannot be made (no usable target left, the budget spent, the
// attempts used up), why says so for the log; otherwise why is "".
func (p *Pool) RetryOn(err error, method string, hasBody bool, attempt int, failed *Target, tried func(i int) bool) (next *Target, why string) {
	fe, ok := failure.As(err)
	if !ok || fe.Target == "" || p.attempts == 1 || len(p.targets) == 1 {
		// Not a target's failure (the client left, or the request was
		// refused before a target was asked), retries are off, or there is
		// no other target.
		return nil, ""
	}
	switch {
	case !fe.RequestWritten:
		if fe.Class == failure.HTTPResponseTimeout {
			return nil, "" // the whole-request deadline: no time is left
		}
	case hasBody || !idempotent(method):
		return nil, ""
	case fe.Class != failure.ConnectionTerminated && (fe.Class != failure.ConnectionReadTimeout || fe.Phase != failure.PhaseReadHead):
		return nil, ""
	}
	if attempt >= p.attempts {
		return nil, "not retried: all " + strconv.Itoa(p.attempts) + " attempts made"
	}
	n := len(p.targets)
	for k := 1; k < n; k++ {
		i := (failed.index + k) % n
		if tried(i) || !p.health.Usable(i) {
			continue
		}
		if !p.spendRetry() {
			return nil, "not retried: the retry budget is spent"
		}
		return p.targets[i], ""
	}
	return nil, "not retried: no other usable target"
}

// Index returns the target's position in its pool, as RetryOn's tried
// takes it.
func (t *Target) Index() int { return t.index }

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}
