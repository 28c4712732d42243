package upstream

import (
	"strconv"

	"github.com/portico-proxy/portico/internal/failure"
)

// Admit counts a request against the pool's max_in_flight before a target
// is picked. When the pool is full it fails with connection_limit_reached
// and counts nothing; otherwise the caller must call release exactly once
// when the request ends, which a defer right after the check ensures:
//
//	release, err := pool.Admit()
//	if err != nil {
//		// answer with err
//	}
//	defer release()
//
// Admit allocates nothing when it admits.
func (p *Pool) Admit() (release func(), err error) {
	n := p.inFlight.Add(1)
	if p.maxInFlight > 0 && n > p.maxInFlight {
		// Racing admissions may each see the pool full for a moment and
		// be refused; none is ever admitted past the limit.
		p.inFlight.Add(-1)
		fe := failure.Newf(failure.ConnectionLimitReached, failure.PhasePolicy,
			"upstream "+strconv.Quote(p.name)+" already has its max_in_flight of "+
				strconv.FormatInt(p.maxInFlight, 10)+" requests in flight")
		fe.Upstream = p.name
		return nil, fe
	}
	p.depositRetry()
	return p.release, nil
}

// leave ends a request counted by Admit.
func (p *Pool) leave() { p.inFlight.Add(-1) }

// InFlight returns how many admitted requests the pool is serving now.
func (p *Pool) InFlight() int64 { return p.inFlight.Load() }

// MaxInFlight returns the pool's max_in_flight; 0 is no limit.
func (p *Pool) MaxInFlight() int64 { return p.maxInFlight }
