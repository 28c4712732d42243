// Package balancer picks one target of an upstream pool for each request,
// by weighted round robin, least connections, power of two choices or
// consistent hashing.
//
// A Balancer is built once per pool when the configuration loads and is then
// read-only apart from one atomic counter, so Pick takes no lock and
// allocates nothing. Every pick takes a filter, so that targets which are down
// or were already tried by the request are passed over.
package balancer

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
)

// Algorithm names a balancing algorithm; the values are the config's
// `balance` keywords.
type Algorithm string

// The algorithms.
const (
	// RoundRobin cycles through the targets in a smooth weighted order.
	RoundRobin Algorithm = "round_robin"
	// LeastConn picks the target with the fewest in-flight requests per
	// unit of weight.
	LeastConn Algorithm = "least_conn"
	// RandomTwo samples two targets by weight and takes the less loaded.
	RandomTwo Algorithm = "random_two"
	// Hash sends equal keys to the same target (weighted rendezvous hashing).
	Hash Algorithm = "hash"
)

// MaxWeight is the largest weight a target may have.
const MaxWeight = 1000

// Target describes one target of a pool.
type Target struct {
	// Name identifies the target, normally its URL. The hash algorithm
	// hashes it, so keys stay with their target when the pool's list is
	// reordered or extended; names must then be distinct.
	Name string
	// Weight is the target's share, 1 to MaxWeight.
	Weight int
}

// ErrNoTargets is returned by New for an empty pool.
var ErrNoTargets = errors.New("pool has no targets")

// Balancer picks targets of one pool. Its methods are safe for concurrent
// use.
type Balancer struct {
	alg     Algorithm
	weights []int64
	// order is the smooth weighted round-robin cycle, each target appearing
	// weight/gcd times. Random sampling from it is weighted sampling.
	order []int32
	// next counts picks; order[next%len(order)] is the next target in the
	// cycle. It is the only field written after New.
	next atomic.Uint64
	// nameKeys are HashKey(Name) per target, for rendezvous hashing.
	nameKeys []uint64
	// invWeights are 1/weight, so a hash pick multiplies instead of divides.
	invWeights []float64
	// equalWeights lets a hash pick skip the logarithm: with one weight for
	// all, the lowest score is simply the highest draw.
	equalWeights bool
	inFlight     func(i int) int64
}

// New builds the balancer for a pool. inFlight reports the number of
// requests in flight to target i; least_conn and random_two need it, the
// others ignore it.
func New(alg Algorithm, targets []Target, inFlight func(i int) int64) (*Balancer, error) {
	if len(targets) == 0 {
		return nil, ErrNoTargets
	}
	switch alg {
	case RoundRobin, Hash:
	case LeastConn, RandomTwo:
		if inFlight == nil {
			return nil, fmt.Errorf("balance %s needs in-flight counts", alg)
		}
	default:
		return nil, fmt.Errorf("unknown balance algorithm %q", alg)
	}
	b := &Balancer{
		alg:        alg,
		weights:    make([]int64, len(targets)),
		nameKeys:   make([]uint64, len(targets)),
		invWeights: make([]float64, len(targets)),
		inFlight:   inFlight,
	}
	seen := make(map[string]int, len(targets))
	for i, t := range targets {
		if t.Weight < 1 || t.Weight > MaxWeight {
			return nil, fmt.Errorf("target %d (%s): weight %d is outside 1..%d", i, t.Name, t.Weight, MaxWeight)
		}
		if alg == Hash {
			if j, dup := seen[t.Name]; dup {
				return nil, fmt.Errorf("targets %d and %d share the name %q, which hashing needs distinct", j, i, t.Name)
			}
			seen[t.Name] = i
		}
		b.weights[i] = int64(t.Weight)
		b.nameKeys[i] = HashKey(t.Name)
		b.invWeights[i] = 1 / float64(t.Weight)
	}
	b.order = smoothOrder(b.weights)
	b.equalWeights = len(b.order) == len(targets)
	return b, nil
}

// smoothOrder returns one cycle of nginx's smooth weighted round robin: each
// step every target gains its weight, the richest is picked and pays the
// total. Weights 5,1,1 give a a b a c a a, spreading each target's turns
// evenly instead of in bursts. Weights are first divided by their greatest
// common divisor, which shortens the cycle without changing the order.
func smoothOrder(weights []int64) []int32 {
	g := weights[0]
	for _, w := range weights[1:] {
		g = gcd(g, w)
	}
	reduced := make([]int64, len(weights))
	var total int64
	for i, w := range weights {
		reduced[i] = w / g
		total += reduced[i]
	}
	current := make([]int64, len(weights))
	order := make([]int32, total)
	for step := range order {
		best, bestCurrent := 0, int64(math.MinInt64)
		for i, w := range reduced {
			c := current[i] + w
			current[i] = c
			if c > bestCurrent {
				best, bestCurrent = i, c
			}
		}
		current[best] -= total
		order[step] = int32(best)
	}
	return order
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Pick returns the index of the target for a request, or -1 when usable
// rejects every target. usable reports whether target i may be used (nil
// means all may); it is called only during Pick. key is the request's hash
// key; only the hash algorithm reads it.
func (b *Balancer) Pick(key uint64, usable func(i int) bool) int {
	switch b.alg {
	case LeastConn:
		return b.pickLeastConn(usable)
	case RandomTwo:
		return b.pickRandomTwo(usable)
	case Hash:
		return b.pickHash(key, usable)
	}
	return b.pickRoundRobin(usable)
}

// turn takes the next slot of the round-robin cycle.
func (b *Balancer) turn() int {
	n := b.next.Add(1) - 1
	return int(b.order[n%uint64(len(b.order))])
}

func (b *Balancer) pickRoundRobin(usable func(int) bool) int {
	n := b.next.Add(1) - 1
	cycle := uint64(len(b.order))
	pos := n % cycle
	i := int(b.order[pos])
	if usable == nil || usable(i) {
		return i
	}
	fallback := b.firstUsable(usable, -1)
	if fallback < 0 {
		return -1
	}
	// Handing an unusable target's turn to the next target in the cycle
	// would give that neighbour its share. Instead the pick moves on to the
	// next usable turn and the skipped turns are used up, as if each had
	// been picked and refused, so the usable targets keep their shares
	// relative to each other. Without concurrent picks one compare-and-swap
	// claims all the skipped turns; otherwise they are taken one at a time,
	// since turns another pick already holds must not be claimed twice.
	memo := usableMemo{filter: usable}
	for skip := uint64(1); skip < cycle; skip++ {
		if pos++; pos == cycle {
			pos = 0
		}
		if i := int(b.order[pos]); memo.usable(i) {
			if b.next.CompareAndSwap(n+1, n+skip+1) {
				return i
			}
			break
		}
	}
	for range cycle {
		if i := b.turn(); usable(i) {
			return i
		}
	}
	// Only reachable when concurrent picks keep taking the usable turns.
	return fallback
}

// usableMemo remembers a filter's answers for the first 64 targets, so that
// scanning a long stretch of the cycle calls the filter once per target
// rather than once per turn.
type usableMemo struct {
	filter      func(int) bool
	known, good uint64
}

func (m *usableMemo) usable(i int) bool {
	if i >= 64 {
		return m.filter(i)
	}
	bit := uint64(1) << i
	if m.known&bit == 0 {
		m.known |= bit
		if m.filter(i) {
			m.good |= bit
		}
	}
	return m.good&bit != 0
}

// firstUsable returns the lowest usable index other than except, or -1.
func (b *Balancer) firstUsable(usable func(int) bool, except int) int {
	for i := range b.weights {
		if i != except && usable(i) {
			return i
		}
	}
	return -1
}

// lighter reports whether target i carries less load per unit of weight than
// target j. It compares cross products, which are exact where a quotient
// would round.
func (b *Balancer) lighter(i, j int, loadI, loadJ int64) bool {
	return loadI*b.weights[j] < loadJ*b.weights[i]
}

func (b *Balancer) pickLeastConn(usable func(int) bool) int {
	// The scan starts at the round-robin cycle's next target, so equal loads
	// (an idle pool above all) are shared out in weighted rotation instead
	// of always going to the first target.
	n := len(b.weights)
	start := b.turn()
	best, bestLoad := -1, int64(0)
	for k := range n {
		i := start + k
		if i >= n {
			i -= n
		}
		if usable != nil && !usable(i) {
			continue
		}
		load := b.inFlight(i)
		if best < 0 || b.lighter(i, best, load, bestLoad) {
			best, bestLoad = i, load
		}
	}
	return best
}

// sampleTries bounds the random draws before sampling falls back to a scan,
// which matters only when most of the weight is unusable.
const sampleTries = 8

func (b *Balancer) pickRandomTwo(usable func(int) bool) int {
	first := b.sample(usable, -1)
	if first < 0 {
		return -1
	}
	second := b.sample(usable, first)
	if second < 0 {
		return first
	}
	if b.lighter(second, first, b.inFlight(second), b.inFlight(first)) {
		return second
	}
	return first
}

// sample draws a usable target other than except, each with probability
// proportional to its weight, or returns -1 when there is none.
func (b *Balancer) sample(usable func(int) bool, except int) int {
	for range sampleTries {
		i := int(b.order[rand.Uint64N(uint64(len(b.order)))])
		if i != except && (usable == nil || usable(i)) {
			return i
		}
	}
	n := len(b.weights)
	start := rand.IntN(n)
	for k := range n {
		i := (start + k) % n
		if i != except && (usable == nil || usable(i)) {
			return i
		}
	}
	return -1
}

func (b *Balancer) pickHash(key uint64, usable func(int) bool) int {
	// Weighted rendezvous hashing: each target scores -ln(u)/weight for a
	// uniform u drawn from hash(key, target), and the lowest score wins. A
	// key therefore moves only when its own target leaves or a newcomer
	// outscores it, and when its target is unusable it falls to its
	// second-best target, the same one every time.
	if b.equalWeights {
		best, bestDraw := -1, uint64(0)
		for i, nameKey := range b.nameKeys {
			if usable != nil && !usable(i) {
				continue
			}
			if d := draw(key, nameKey); best < 0 || d > bestDraw {
				best, bestDraw = i, d
			}
		}
		return best
	}
	best, bestScore := -1, math.Inf(1)
	for i, nameKey := range b.nameKeys {
		if usable != nil && !usable(i) {
			continue
		}
		u := (float64(draw(key, nameKey)) + 0.5) / (1 << 53)
		if score := -math.Log(u) * b.invWeights[i]; score < bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// draw is the 53-bit uniform number that target nameKey draws for key: as
// many bits as a float64 holds, so both hash paths rank targets alike.
func draw(key, nameKey uint64) uint64 {
	return mix(key^nameKey) >> 11
}

// HashKey hashes s to a hash-balancing key. Unlike hash/maphash it has no
// per-process seed, so a client keeps its target across restarts and across
// the instances of a cluster.
func HashKey(s string) uint64 {
	// 64-bit FNV-1a, then a finaliser, since FNV's low bits mix poorly.
	h := uint64(14695981039346656037)
	for i := range len(s) {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix(h)
}

// mix is the MurmurHash3 64-bit finaliser: every input bit affects every
// output bit.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
