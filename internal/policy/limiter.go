package policy

import (
	"math"
	"net/netip"
	"sync"
	"time"

	"github.com/portico-proxy/portico/internal/config"
)

// MaxTrackedClients bounds the client addresses one route's rate limiter
// holds state for, so that a flood from many addresses cannot grow memory
// without limit. Past it, addresses whose bucket has refilled are forgotten
// first (forgetting them changes nothing), then arbitrary ones, which start
// afresh with a full bucket when they return.
const MaxTrackedClients = 1 << 16

// shardCount spreads clients over independently locked maps, so that
// concurrent requests from different clients rarely wait for each other.
const shardCount = 64

// limiter is a token bucket per client address, kept in the equivalent
// form of the generic cell rate algorithm: one "theoretical arrival time"
// per client instead of a token count and a timestamp. A request is
// allowed when the client's arrival time is no more than tolerance ahead of
// now, and pushes it interval further; a client idle long enough has an
// arrival time in the past, which is exactly a full bucket.
type limiter struct {
	// interval is the time one token takes to refill (per / requests).
	interval int64
	// tolerance is (burst-1) intervals: how far ahead of now a client's
	// arrival time may run.
	tolerance int64
	perShard  int
	shards    [shardCount]shard
}

type shard struct {
	mu sync.Mutex // guards arrival
	// arrival maps a client to its theoretical arrival time in Unix
	// nanoseconds.
	arrival map[netip.Addr]int64
	// The padding fills the shard to a 64-byte cache line, so that two
	// shards' locks never share one.
	_ [64 - 16]byte
}

func newLimiter(rl config.RateLimit) *limiter {
	interval := max(int64(rl.Per)/int64(rl.Requests), 1)
	tolerance := int64(math.MaxInt64 / 4)
	if burst := int64(rl.Burst - 1); burst < tolerance/interval {
		tolerance = burst * interval
	}
	l := &limiter{interval: interval, tolerance: tolerance, perShard: MaxTrackedClients / shardCount}
	for i := range l.shards {
		l.shards[i].arrival = make(map[netip.Addr]int64)
	}
	return l
}

// take spends one of client's tokens at now (Unix nanoseconds). It returns
// 0 when the request may pass, or how long until a token is free.
func (l *limiter) take(client netip.Addr, now int64) time.Duration {
	s := &l.shards[shardOf(client)]
	s.mu.Lock()
	defer s.mu.Unlock()
	arrival, known := s.arrival[client]
	arrival = max(arrival, now)
	if ahead := arrival - now; ahead > l.tolerance {
		return time.Duration(ahead - l.tolerance)
	}
	if !known && len(s.arrival) >= l.perShard {
		s.evict(now, l.perShard)
	}
	s.arrival[client] = arrival + l.interval
	return 0
}

// evict makes room in a full shard, down to seven eighths of its capacity
// so that the cost is shared by many insertions: first clients whose bucket
// has refilled, which lose nothing by being forgotten, then any.
func (s *shard) evict(now int64, capacity int) {
	target := capacity - capacity/8
	for client, arrival := range s.arrival {
		if arrival <= now {
			delete(s.arrival, client)
		}
	}
	for client := range s.arrival {
		if len(s.arrival) <= target {
			break
		}
		delete(s.arrival, client)
	}
}

func (l *limiter) size() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.arrival)
		s.mu.Unlock()
	}
	return n
}

// shardOf spreads addresses over the shards by mixing all 128 bits, since
// neighbouring clients differ only in their last bits.
func shardOf(a netip.Addr) int {
	b := a.As16()
	var hi, lo uint64
	for i := range 8 {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	x := hi*0x9e3779b97f4a7c15 ^ lo
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	return int(x % shardCount)
}
