package upstream

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/portico-proxy/portico/internal/resolve"
)

// addresses keeps a target's resolved addresses. The first request
// resolves synchronously; afterwards a background loop renews them every
// refresh interval, so a DNS change reaches traffic without a reload and
// no request waits on DNS once warm. A failed renewal keeps the last good
// addresses: a flapping resolver must not take a healthy target down.
type addresses struct {
	host     string
	every    time.Duration
	resolver *resolve.Resolver
	literal  []netip.Addr
	// changed is called after a lookup brought a different address set.
	changed func()
	stop    chan struct{}

	mu    sync.Mutex // guards addrs
	addrs []netip.Addr
}

func newAddresses(host string, every time.Duration, r *resolve.Resolver) *addresses {
	a := &addresses{host: host, every: every, resolver: r, stop: make(chan struct{})}
	if ip, err := netip.ParseAddr(host); err == nil {
		a.literal = []netip.Addr{ip}
	}
	return a
}

// get returns the addresses to dial.
func (a *addresses) get(ctx context.Context) ([]netip.Addr, error) {
	if a.literal != nil {
		return a.literal, nil
	}
	a.mu.Lock()
	addrs := a.addrs
	a.mu.Unlock()
	if addrs != nil {
		return addrs, nil
	}
	return a.lookup(ctx)
}

func (a *addresses) lookup(ctx context.Context) ([]netip.Addr, error) {
	answer, err := a.resolver.Lookup(ctx, a.host)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	changed := a.addrs != nil && !slices.Equal(a.addrs, answer.Addrs)
	a.addrs = answer.Addrs
	a.mu.Unlock()
	if changed && a.changed != nil {
		a.changed()
	}
	return answer.Addrs, nil
}

// renewLoop re-resolves a host name every interval until close.
func (a *addresses) renewLoop() {
	tick := time.NewTicker(a.every)
	defer tick.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), a.every+5*time.Second)
			a.lookup(ctx)
			cancel()
		}
	}
}

// start begins renewing a host name's addresses; IP literals need none.
func (a *addresses) start() {
	if a.literal == nil && a.every > 0 {
		go a.renewLoop()
	}
}

func (a *addresses) close() { close(a.stop) }
