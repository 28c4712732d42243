package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/portico-proxy/portico/internal/config"
)

// listeners are the gateway's bound addresses: the client listeners in
// configuration order (plain ones, then HTTPS ones) and the admin one. A reload binds what is new
// before it takes effect and closes what was dropped after; addresses it
// keeps keep their listener, so no connection notices.
type listeners struct {
	mu sync.Mutex // guards all fields
	// client and admin are what is served; admin.ln is nil when the admin
	// API is off.
	client []bound
	admin  bound
	// pending is what bind prepared for commit or abandon.
	pending struct {
		client []bound
		admin  bound
		opened []net.Listener
	}
	// serveClient and serveAdmin are set once Serve runs: listeners bound
	// later are served at once.
	serveClient, serveAdmin func(net.Listener) error
	// retired are listeners closed by a reload, whose Serve ends without
	// it being a failure.
	retired map[net.Listener]bool
	failed  chan error
	stopped chan struct{}
	stop1   sync.Once
	// tls serves the HTTPS listeners.
	tls *tls.Config
}

// bound is a listener and the address it was configured with; tls marks
// an HTTPS one.
type bound struct {
	addr string
	tls  bool
	ln   net.Listener
}

func (l *listeners) init(tlsConfig *tls.Config) {
	l.tls = tlsConfig
	l.retired = map[net.Listener]bool{}
	l.failed = make(chan error, 1)
	l.stopped = make(chan struct{})
}

// bind prepares cfg's addresses: it keeps the listeners of addresses
// already bound and opens the others. On success commit makes them the
// ones served; on failure nothing changed.
func (l *listeners) bind(cfg *config.Config) (commit func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := &l.pending
	p.client, p.admin, p.opened = nil, bound{}, nil
	wanted := make([]bound, 0, len(cfg.Listen))
	for _, addr := range cfg.Listen {
		wanted = append(wanted, bound{addr: addr})
	}
	if cfg.TLS != nil {
		for _, addr := range cfg.TLS.Listen {
			wanted = append(wanted, bound{addr: addr, tls: true})
		}
	}
	for _, b := range wanted {
		b.ln = l.find(b.addr, b.tls)
		if b.ln == nil {
			ln, err := clientListen.Listen(context.Background(), "tcp", b.addr)
			if err != nil {
				l.closeOpened()
				return nil, fmt.Errorf("listen on %s: %w", b.addr, err)
			}
			if b.tls {
				ln = tls.NewListener(ln, l.tls)
			}
			p.opened = append(p.opened, ln)
			b.ln = ln
		}
		p.client = append(p.client, b)
	}
	if cfg.Admin != "" {
		ln := l.admin.ln
		if l.admin.addr != cfg.Admin {
			if ln, err = net.Listen("tcp", cfg.Admin); err != nil {
				l.closeOpened()
				return nil, fmt.Errorf("admin listen on %s: %w", cfg.Admin, err)
			}
			p.opened = append(p.opened, ln)
		}
		p.admin = bound{addr: cfg.Admin, ln: ln}
	}
	return l.commit, nil
}

// find returns the client listener bound to addr, HTTPS or not, or nil.
func (l *listeners) find(addr string, tls bool) net.Listener {
	for _, b := range l.client {
		if b.addr == addr && b.tls == tls {
			return b.ln
		}
	}
	return nil
}

func (l *listeners) closeOpened() {
	for _, ln := range l.pending.opened {
		ln.Close()
	}
	l.pending.opened = nil
}

// abandon closes what bind opened, for a reload that did not happen.
func (l *listeners) abandon() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closeOpened()
}

// commit serves what bind prepared and closes the listeners it dropped.
func (l *listeners) commit() {
	l.mu.Lock()
	defer l.mu.Unlock()
	kept := map[net.Listener]bool{}
	for _, b := range l.pending.client {
		kept[b.ln] = true
	}
	kept[l.pending.admin.ln] = true
	retire := func(ln net.Listener) {
		if ln != nil && !kept[ln] {
			l.retired[ln] = true
			ln.Close()
		}
	}
	for _, b := range l.client {
		retire(b.ln)
	}
	retire(l.admin.ln)
	l.client, l.admin = l.pending.client, l.pending.admin
	if l.serveClient != nil {
		for _, b := range l.client {
			if l.opened(b.ln) {
				l.start(b.ln, l.serveClient)
			}
		}
		if l.admin.ln != nil && l.opened(l.admin.ln) {
			l.start(l.admin.ln, l.serveAdmin)
		}
	}
	l.pending.opened = nil
}

// opened reports whether bind opened ln.
func (l *listeners) opened(ln net.Listener) bool {
	for _, o := range l.pending.opened {
		if o == ln {
			return true
		}
	}
	return false
}

// serve serves every listener, and those bound later, until stop; it
// returns early with the error of a listener that failed.
func (l *listeners) serve(client, admin func(net.Listener) error) error {
	l.mu.Lock()
	l.serveClient, l.serveAdmin = client, admin
	for _, b := range l.client {
		l.start(b.ln, client)
	}
	if l.admin.ln != nil {
		l.start(l.admin.ln, admin)
	}
	l.mu.Unlock()
	select {
	case err := <-l.failed:
		return err
	case <-l.stopped:
		return nil
	}
}

func (l *listeners) start(ln net.Listener, serve func(net.Listener) error) {
	go func() {
		err := serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			// A listener bound while the servers shut down is never
			// served; Serve leaves it open.
			ln.Close()
			return
		}
		l.mu.Lock()
		retired := l.retired[ln]
		delete(l.retired, ln)
		l.mu.Unlock()
		if !retired {
			select {
			case l.failed <- err:
			default:
			}
		}
	}()
}

// stop ends serve; the servers' own shutdown closes the listeners.
func (l *listeners) stop() { l.stop1.Do(func() { close(l.stopped) }) }

// clientAddrs returns the plain (tls false) or HTTPS client addresses,
// in configuration order.
func (l *listeners) clientAddrs(tls bool) []net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []net.Addr{}
	for _, b := range l.client {
		if b.tls == tls {
			out = append(out, b.ln.Addr())
		}
	}
	return out
}

func (l *listeners) adminAddr() net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.admin.ln == nil {
		return nil
	}
	return l.admin.ln.Addr()
}
