package balancer

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// pool builds targets named t0, t1, … with the given weights.
func pool(weights ...int) []Target {
	targets := make([]Target, len(weights))
	for i, w := range weights {
		targets[i] = Target{Name: fmt.Sprintf("http://10.0.0.%d:8080", i), Weight: w}
	}
	return targets
}

func mustNew(t testing.TB, alg Algorithm, targets []Target, inFlight func(int) int64) *Balancer {
	t.Helper()
	b, err := New(alg, targets, inFlight)
	if err != nil {
		t.Fatalf("New(%s): %v", alg, err)
	}
	return b
}

// loads returns an inFlight func reading from counts.
func loads(counts ...int64) func(int) int64 {
	return func(i int) int64 { return counts[i] }
}

func except(down ...int) func(int) bool {
	return func(i int) bool {
		for _, d := range down {
			if i == d {
				return false
			}
		}
		return true
	}
}

func none(int) bool { return false }

// sequence picks n times and spells the result with letters, target 0 = a.
func sequence(b *Balancer, n int, usable func(int) bool) string {
	var s strings.Builder
	for range n {
		i := b.Pick(0, usable)
		if i < 0 {
			s.WriteByte('-')
			continue
		}
		s.WriteByte(byte('a' + i))
	}
	return s.String()
}

func TestNewRejects(t *testing.T) {
	idle := loads(0, 0)
	tests := []struct {
		name     string
		alg      Algorithm
		targets  []Target
		inFlight func(int) int64
	}{
		{"no targets", RoundRobin, nil, idle},
		{"zero weight", RoundRobin, pool(1, 0), idle},
		{"weight above maximum", LeastConn, pool(1, MaxWeight+1), idle},
		{"unknown algorithm", "fastest", pool(1), idle},
		{"least_conn without counts", LeastConn, pool(1), nil},
		{"random_two without counts", RandomTwo, pool(1), nil},
		{"hash with duplicate names", Hash, []Target{{"x", 1}, {"x", 1}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.alg, tt.targets, tt.inFlight); err == nil {
				t.Fatal("New succeeded, want an error")
			}
		})
	}
	if _, err := New(RoundRobin, nil, nil); !errors.Is(err, ErrNoTargets) {
		t.Errorf("empty pool: got %v, want ErrNoTargets", err)
	}
}

func TestRoundRobinIsSmooth(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		want    string
	}{
		{"one target", []int{3}, "aaaa"},
		{"equal weights rotate", []int{1, 1, 1}, "abcabcabc"},
		{"nginx example 5,1,1", []int{5, 1, 1}, "aabacaa" + "aabacaa"},
		{"2,1 interleaves", []int{2, 1}, "abaaba"},
		{"common factor does not change the order", []int{10, 2, 2}, "aabacaa"},
		{"heavy last target", []int{1, 3}, "babbbabb"},
		{"docs/balancing.md example 3,1", []int{3, 1}, "aaba"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustNew(t, RoundRobin, pool(tt.weights...), nil)
			if got := sequence(b, len(tt.want), nil); got != tt.want {
				t.Errorf("picks = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRoundRobinSkipsFairly(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		down    []int
		want    string
	}{
		{"one of three equal down", []int{1, 1, 1}, []int{2}, "abababab"},
		{"middle down", []int{1, 1, 1}, []int{1}, "acacacac"},
		// With a plain "take the next slot" skip, the target after c would
		// absorb c's share; the survivors must stay at 5:1.
		{"weighted survivor keeps its ratio", []int{5, 1, 1}, []int{2}, "aabaaa" + "aabaaa"},
		{"heavy target down", []int{5, 1, 1}, []int{0}, "bcbcbc"},
		{"only the light target left", []int{MaxWeight, 1}, []int{0}, "bbbb"},
		{"all down", []int{1, 2}, []int{0, 1}, "---"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustNew(t, RoundRobin, pool(tt.weights...), nil)
			if got := sequence(b, len(tt.want), except(tt.down...)); got != tt.want {
				t.Errorf("picks = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRoundRobinShareMatchesWeights(t *testing.T) {
	weights := []int{7, 3, 1, 9}
	b := mustNew(t, RoundRobin, pool(weights...), nil)
	const cycles = 50
	counts := make([]int, len(weights))
	for range cycles * 20 {
		counts[b.Pick(0, except(3))]++
	}
	// Target 3 holds 9 of 20 slots; the other 11 slots per cycle are shared
	// 7:3:1 exactly over whole cycles of the survivors.
	for i, w := range weights[:3] {
		want := cycles * 20 * w / 11
		if math.Abs(float64(counts[i]-want)) > 1 {
			t.Errorf("target %d: %d picks, want %d", i, counts[i], want)
		}
	}
	if counts[3] != 0 {
		t.Errorf("unusable target picked %d times", counts[3])
	}
}

func TestLeastConnPicksLeastLoaded(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		load    []int64
		down    []int
		want    int
	}{
		{"fewest in flight", []int{1, 1, 1}, []int64{4, 1, 3}, nil, 1},
		{"load is relative to weight", []int{1, 4}, []int64{2, 6}, nil, 1},
		{"heavier weight loses when fuller", []int{1, 4}, []int64{1, 8}, nil, 0},
		{"skips the unusable least loaded", []int{1, 1, 1}, []int64{4, 0, 3}, []int{1}, 2},
		{"all unusable", []int{1, 1}, []int64{0, 0}, []int{0, 1}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustNew(t, LeastConn, pool(tt.weights...), loads(tt.load...))
			for range 2 * len(tt.weights) {
				if got := b.Pick(0, except(tt.down...)); got != tt.want {
					t.Fatalf("Pick = %d, want %d", got, tt.want)
				}
			}
		})
	}
}

func TestLeastConnRotatesTies(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		want    string
	}{
		{"equal weights", []int{1, 1, 1}, "abcabc"},
		{"idle pool follows the weights", []int{5, 1, 1}, "aabacaa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustNew(t, LeastConn, pool(tt.weights...), loads(make([]int64, len(tt.weights))...))
			if got := sequence(b, len(tt.want), nil); got != tt.want {
				t.Errorf("picks = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRandomTwoAvoidsTheMostLoaded(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		load    []int64
		busiest int
	}{
		{"equal weights", []int{1, 1, 1}, []int64{0, 0, 100}, 2},
		{"busiest is heaviest", []int{1, 1, 1000}, []int64{0, 0, 100}, 2},
		{"busiest first", []int{1, 1, 1}, []int64{100, 0, 0}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustNew(t, RandomTwo, pool(tt.weights...), loads(tt.load...))
			for range 2000 {
				if got := b.Pick(0, nil); got == tt.busiest || got < 0 {
					t.Fatalf("Pick = %d, the most loaded or none", got)
				}
			}
		})
	}
}

func TestRandomTwoFilters(t *testing.T) {
	tests := []struct {
		name string
		down []int
		want int
	}{
		{"single usable target", []int{0, 1}, 2},
		{"nothing usable", []int{0, 1, 2}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustNew(t, RandomTwo, pool(1000, 1000, 1), loads(0, 0, 5))
			for range 100 {
				if got := b.Pick(0, except(tt.down...)); got != tt.want {
					t.Fatalf("Pick = %d, want %d", got, tt.want)
				}
			}
		})
	}
}

func TestRandomTwoFollowsWeightsWhenIdle(t *testing.T) {
	b := mustNew(t, RandomTwo, pool(1, 3), loads(0, 0))
	const picks = 20000
	counts := make([]int, 2)
	for range picks {
		counts[b.Pick(0, nil)]++
	}
	// Ties keep the first draw, which is weighted: target 1 gets ~3/4.
	if share := float64(counts[1]) / picks; share < 0.70 || share > 0.80 {
		t.Errorf("target with weight 3 got %.3f of idle picks, want ~0.75", share)
	}
}

// assign maps keys 0..n-1 to targets.
func assign(b *Balancer, n int, usable func(int) bool) []int {
	got := make([]int, n)
	for k := range got {
		got[k] = b.Pick(HashKey(fmt.Sprint("client-", k)), usable)
	}
	return got
}

func TestHashMovesFewKeysWhenATargetJoins(t *testing.T) {
	const keys = 10000
	for _, n := range []int{2, 5, 10} {
		t.Run(fmt.Sprint(n, " targets"), func(t *testing.T) {
			weights := make([]int, n+1)
			for i := range weights {
				weights[i] = 1
			}
			before := assign(mustNew(t, Hash, pool(weights[:n]...), nil), keys, nil)
			after := assign(mustNew(t, Hash, pool(weights...), nil), keys, nil)
			moved := 0
			for k := range keys {
				if before[k] == after[k] {
					continue
				}
				moved++
				if after[k] != n {
					t.Fatalf("key %d moved from target %d to old target %d", k, before[k], after[k])
				}
			}
			want := float64(keys) / float64(n+1)
			if math.Abs(float64(moved)-want) > 0.15*want {
				t.Errorf("%d of %d keys moved, want ~%.0f", moved, keys, want)
			}
		})
	}
}

func TestHashIgnoresTargetOrder(t *testing.T) {
	targets := pool(1, 2, 3)
	reversed := []Target{targets[2], targets[1], targets[0]}
	a := assign(mustNew(t, Hash, targets, nil), 1000, nil)
	b := assign(mustNew(t, Hash, reversed, nil), 1000, nil)
	for k := range a {
		if a[k] != 2-b[k] {
			t.Fatalf("key %d: target %s, but %s after reordering", k, targets[a[k]].Name, reversed[b[k]].Name)
		}
	}
}

func TestHashShareFollowsWeights(t *testing.T) {
	weights := []int{1, 2, 5}
	const keys = 40000
	counts := make([]int, len(weights))
	for _, i := range assign(mustNew(t, Hash, pool(weights...), nil), keys, nil) {
		counts[i]++
	}
	for i, w := range weights {
		want := float64(keys*w) / 8
		if math.Abs(float64(counts[i])-want) > 0.1*want {
			t.Errorf("target %d (weight %d): %d keys, want ~%.0f", i, w, counts[i], want)
		}
	}
}

func TestHashFallbackIsStable(t *testing.T) {
	b := mustNew(t, Hash, pool(1, 1, 1, 1, 1), nil)
	const keys = 5000
	all := assign(b, keys, nil)
	down := except(2)
	first := assign(b, keys, down)
	again := assign(b, keys, down)
	spread := make([]int, 5)
	for k := range keys {
		if first[k] != again[k] {
			t.Fatalf("key %d fell back to %d, then to %d", k, first[k], again[k])
		}
		if all[k] != 2 && first[k] != all[k] {
			t.Fatalf("key %d moved from healthy target %d to %d", k, all[k], first[k])
		}
		if all[k] == 2 {
			spread[first[k]]++
		}
	}
	// The down target's keys spread over all survivors, not onto one.
	for i, c := range spread {
		if i != 2 && c == 0 {
			t.Errorf("no fallback keys went to target %d: %v", i, spread)
		}
	}
	if got := b.Pick(HashKey("x"), none); got != -1 {
		t.Errorf("all down: Pick = %d, want -1", got)
	}
}

func TestHashKeyIsStable(t *testing.T) {
	// Pinned values: a change here moves every client to another target
	// on upgrade.
	tests := []struct {
		in   string
		want uint64
	}{
		{"", 0xefd01f60ba992926},
		{"203.0.113.7", 0x987c7c1923965ade},
		{"session=abc", 0xdd6837764d5d4f79},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			if got := HashKey(tt.in); got != tt.want {
				t.Errorf("HashKey(%q) = %#x, want %#x", tt.in, got, tt.want)
			}
			// The hand-written FNV-1a must agree with the standard one.
			h := fnv.New64a()
			h.Write([]byte(tt.in))
			if got, want := HashKey(tt.in), mix(h.Sum64()); got != want {
				t.Errorf("HashKey(%q) = %#x, want mix(FNV-1a) = %#x", tt.in, got, want)
			}
		})
	}
}

func TestPickConcurrently(t *testing.T) {
	for _, alg := range []Algorithm{RoundRobin, LeastConn, RandomTwo, Hash} {
		t.Run(string(alg), func(t *testing.T) {
			weights := []int{3, 1, 2, 1}
			inFlight := make([]atomic.Int64, len(weights))
			b := mustNew(t, alg, pool(weights...), func(i int) int64 { return inFlight[i].Load() })
			const workers, picks = 8, 2000
			counts := make([]atomic.Int64, len(weights))
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for p := range picks {
						i := b.Pick(uint64(w*picks+p), except(3))
						if i < 0 || i == 3 {
							t.Errorf("Pick = %d", i)
							return
						}
						inFlight[i].Add(1)
						counts[i].Add(1)
						inFlight[i].Add(-1)
					}
				})
			}
			wg.Wait()
			if alg == RoundRobin {
				// Concurrency reorders picks but must not change shares.
				for i, w := range weights[:3] {
					want := int64(workers * picks * w / 6)
					if got := counts[i].Load(); math.Abs(float64(got-want)) > float64(workers) {
						t.Errorf("target %d: %d picks, want %d", i, got, want)
					}
				}
			}
		})
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	for _, alg := range []Algorithm{RoundRobin, LeastConn, RandomTwo, Hash} {
		t.Run(string(alg), func(t *testing.T) {
			b := mustNew(t, alg, pool(5, 1, 1, 3), loads(1, 0, 2, 0))
			tried := 2
			key := HashKey("203.0.113.7")
			allocs := testing.AllocsPerRun(1000, func() {
				// A capturing filter, as a retrying caller would write it.
				b.Pick(key, func(i int) bool { return i != tried })
			})
			if allocs != 0 {
				t.Errorf("Pick allocates %.1f times", allocs)
			}
		})
	}
}

func BenchmarkPick(b *testing.B) {
	for _, alg := range []Algorithm{RoundRobin, LeastConn, RandomTwo, Hash} {
		for _, n := range []int{4, 32} {
			for _, spread := range []int{1, 3} {
				name := fmt.Sprintf("%s/targets=%d/equal", alg, n)
				if spread > 1 {
					name = fmt.Sprintf("%s/targets=%d/weighted", alg, n)
				}
				b.Run(name, func(b *testing.B) {
					targets := make([]Target, n)
					counts := make([]int64, n)
					for i := range targets {
						targets[i] = Target{Name: fmt.Sprint("http://10.0.0.", i), Weight: 1 + i%spread}
						counts[i] = int64(i % 5)
					}
					bal := mustNew(b, alg, targets, loads(counts...))
					tried := 1
					key := HashKey("203.0.113.7")
					b.ReportAllocs()
					for b.Loop() {
						bal.Pick(key, func(i int) bool { return i != tried })
					}
				})
			}
		}
	}
}

func TestHashEqualWeightsAgreeWithWeightedPath(t *testing.T) {
	// Scaling every weight keeps the pool's shares, so it must keep every
	// key's target although the two pools take different code paths.
	plain := mustNew(t, Hash, pool(1, 1, 1, 1), nil)
	scaled := mustNew(t, Hash, pool(7, 7, 7, 7), nil)
	skewed := mustNew(t, Hash, pool(7, 7, 7, 7, 1), nil)
	usable := except(1)
	for k := range 2000 {
		key := HashKey(fmt.Sprint("client-", k))
		want := plain.Pick(key, usable)
		if got := scaled.Pick(key, usable); got != want {
			t.Fatalf("key %d: equal weights give %d, scaled weights %d", k, want, got)
		}
		// The weighted path (a fifth target breaks equality) may move a
		// key only onto the newcomer.
		if got := skewed.Pick(key, usable); got != want && got != 4 {
			t.Fatalf("key %d: equal weights give %d, weighted path %d", k, want, got)
		}
	}
}

// BenchmarkPickSkippingHeavyTarget measures round robin when most of the
// cycle belongs to a target that is down.
func BenchmarkPickSkippingHeavyTarget(b *testing.B) {
	bal := mustNew(b, RoundRobin, pool(MaxWeight, 1, 1), nil)
	usable := except(0)
	b.ReportAllocs()
	for b.Loop() {
		bal.Pick(0, usable)
	}
}

// BenchmarkNew measures the build of a large pool with varied weights, the
// worst case for the round-robin cycle (one slot per unit of weight).
func BenchmarkNew(b *testing.B) {
	targets := make([]Target, 100)
	for i := range targets {
		targets[i] = Target{Name: fmt.Sprint("http://10.0.0.", i), Weight: 1 + i*7%MaxWeight}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(RoundRobin, targets, nil); err != nil {
			b.Fatal(err)
		}
	}
}
