// Package gateway runs portico: it opens the listeners, serves every request
// with the current configuration's proxy, swaps in a new configuration on
// reload without dropping a connection, and drains on shutdown.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-proxy/portico/internal/accesslog"
	"github.com/portico-proxy/portico/internal/admin"
	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/h1"
	"github.com/portico-proxy/portico/internal/metrics"
	"github.com/portico-proxy/portico/internal/proxy"
	"github.com/portico-proxy/portico/internal/resolve"
	"github.com/portico-proxy/portico/internal/server"
	"github.com/portico-proxy/portico/internal/upstream"
)

// adminHeadTimeout bounds the wait for a request head on the admin API,
// whose clients are operators' tools.
const adminHeadTimeout = 10 * time.Second

// Options say where the configuration comes from and where to report.
type Options struct {
	// Load reads the configuration; it is called at start and on every
	// reload, so a reload sees the newest file on disk.
	Load func() (*config.Config, error)
	// Log receives operator messages (reloads, listener errors).
	Log *slog.Logger
	// Resolver, when it names servers, replaces the configuration's
	// resolvers (the demo and tests point it at their own DNS server).
	Resolver resolve.Config
	// AccessLog, when set, receives the access log instead of the
	// configured destination (the format still comes from the config).
	AccessLog io.Writer
	// SendTimeout, when set, replaces the 60s after which a client that
	// takes no response bytes is disconnected (tests shorten it).
	SendTimeout time.Duration
}

// Gateway is a running portico.
type Gateway struct {
	opts Options
	// metrics outlive generations, so counters survive reloads.
	metrics *metrics.Metrics
	current atomic.Pointer[generation]

	reloadMu sync.Mutex // serialises reloads
	// bound holds the listeners, which a reload may change.
	bound  listeners
	server *server.Server
	admin  *http.Server
}

// generation is one configuration's proxy and what it owns. It is retired
// when a newer one takes over and closed when its last request ends.
type generation struct {
	cfg       *config.Config
	proxy     *proxy.Proxy
	logCloser io.Closer
	refs      atomic.Int64
	retired   atomic.Bool
	closeOnce sync.Once
}

func (g *generation) release() {
	if g.refs.Add(-1) == 0 && g.retired.Load() {
		g.close()
	}
}

func (g *generation) retire() {
	g.retired.Store(true)
	if g.refs.Load() == 0 {
		g.close()
	}
}

func (g *generation) close() {
	g.closeOnce.Do(func() {
		g.proxy.Close()
		g.logCloser.Close()
	})
}

// New loads the configuration and opens the listeners; Serve starts
// answering.
func New(o Options) (*Gateway, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{opts: o}
	g.metrics = metrics.New(metrics.Options{Pools: func() []*upstream.Pool {
		if gen := g.current.Load(); gen != nil {
			return gen.proxy.Pools()
		}
		return nil
	}})
	cfg, err := o.Load()
	if err != nil {
		return nil, err
	}
	gen, err := g.build(cfg, nil)
	if err != nil {
		return nil, err
	}
	g.current.Store(gen)
	g.bound.init(g.serverTLS())
	commit, err := g.bound.bind(cfg)
	if err != nil {
		gen.close()
		return nil, err
	}
	commit()
	g.newServers(cfg)
	return g, nil
}

// build makes a generation for cfg, replacing prev (nil at the start).
func (g *Gateway) build(cfg *config.Config, prev *generation) (*generation, error) {
	var (
		log    *accesslog.Logger
		closer io.Closer = io.NopCloser(nil)
		err    error
	)
	if g.opts.AccessLog != nil {
		log = accesslog.New(g.opts.AccessLog, cfg.AccessLog.Format)
	} else if log, closer, err = accesslog.Open(cfg.AccessLog); err != nil {
		return nil, err
	}
	rc := g.opts.Resolver
	if len(rc.Servers) == 0 {
		rc = resolve.Config{Servers: cfg.Resolvers, Timeout: cfg.ResolveTimeout}
	}
	res, err := resolve.New(rc)
	if err != nil {
		closer.Close()
		return nil, err
	}
	var previous *proxy.Proxy
	if prev != nil {
		previous = prev.proxy
	}
	p, err := proxy.New(cfg, proxy.Options{AccessLog: log, Resolver: res, Log: g.opts.Log, Metrics: g.metrics, Previous: previous})
	if err != nil {
		closer.Close()
		return nil, err
	}
	return &generation{cfg: cfg, proxy: p, logCloser: closer}, nil
}

// Addrs returns the addresses the gateway listens on, in configuration
// order.
func (g *Gateway) Addrs() []net.Addr { return g.bound.clientAddrs(false) }

// TLSAddrs returns the HTTPS addresses (tls.listen), in configuration
// order.
func (g *Gateway) TLSAddrs() []net.Addr { return g.bound.clientAddrs(true) }

// AdminAddr returns the admin API's address, or nil when it is off.
func (g *Gateway) AdminAddr() net.Addr { return g.bound.adminAddr() }

// sendTimeout is client_timeouts.send, unless Options replace it.
func (g *Gateway) sendTimeout(cfg *config.Config) time.Duration {
	if g.opts.SendTimeout > 0 {
		return g.opts.SendTimeout
	}
	return cfg.ClientTimeouts.Send
}

// serverTLS is the configuration of every HTTPS listener. Certificates
// come from the generation serving, so a reload changes them for the next
// handshake without touching a listener.
func (g *Gateway) serverTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			t := g.current.Load().cfg.TLS
			if t == nil || len(t.Certificates) == 0 {
				return nil, errors.New("no certificate configured")
			}
			for i := range t.Certificates {
				if hello.SupportsCertificate(&t.Certificates[i]) == nil {
					return &t.Certificates[i], nil
				}
			}
			return &t.Certificates[0], nil
		},
	}
}

// clientListen opens the client listeners. Accepted connections get no
// TCP keep-alive probes: the idle timeout already ends silent connections,
// and turning the probes on costs four system calls per connection. A
// connection is accepted once it has sent something (deferAccept).
var clientListen = net.ListenConfig{KeepAlive: -1, Control: deferAccept}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	gen := g.acquire()
	defer gen.release()
	gen.proxy.ServeHTTP(w, r)
}

// acquire returns the current generation with a reference taken. Checking
// the pointer again after counting closes the race with a reload that
// swaps and retires in between.
func (g *Gateway) acquire() *generation {
	for {
		gen := g.current.Load()
		gen.refs.Add(1)
		if g.current.Load() == gen {
			return gen
		}
		gen.release()
	}
}

// newServers makes the gateway's server, which serves every listener, and
// the admin server.
func (g *Gateway) newServers(cfg *config.Config) {
	g.server = server.New(server.Options{
		Handler:           g,
		RequestError:      g.requestError,
		Limits:            h1.Limits{HeaderSection: cfg.Limits.RequestHeaderBytes, HeaderLine: cfg.Limits.RequestHeaderBytes},
		ReadHeaderTimeout: cfg.ClientTimeouts.Head,
		IdleTimeout:       cfg.ClientTimeouts.Idle,
		SendTimeout:       g.sendTimeout(cfg),
		Log:               g.opts.Log,
		HTTP2Error:        g.metrics.HTTP2Error,
	})
	// The admin server exists even while no address is configured, so a
	// reload can give it one.
	g.admin = &http.Server{Handler: g.adminHandler(), ReadHeaderTimeout: adminHeadTimeout}
}

// requestError answers a request the server could not read, with the
// current generation's error pages and access log.
func (g *Gateway) requestError(w http.ResponseWriter, r *http.Request, fe *failure.Error) {
	gen := g.acquire()
	defer gen.release()
	gen.proxy.RequestError(w, r, fe)
}

// Serve answers on every listener, those a reload adds included, until
// Shutdown. It returns the first error that stops a listener other than a
// shutdown or a reload.
func (g *Gateway) Serve() error {
	return g.bound.serve(g.server.Serve, g.admin.Serve)
}

// Reload loads the configuration again and swaps it in: new requests use
// it, in-flight ones finish on the old one, no connection is touched. A
// configuration that does not load or build is refused and the old one
// keeps serving.
func (g *Gateway) Reload() error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	err := g.reload()
	g.metrics.Reload(err)
	return err
}

func (g *Gateway) reload() error {
	cfg, err := g.opts.Load()
	if err != nil {
		return err
	}
	old := g.current.Load()
	// New addresses are bound first, so that one already taken refuses
	// the whole reload; addresses dropped close once the new
	// configuration serves.
	commit, err := g.bound.bind(cfg)
	if err != nil {
		return err
	}
	gen, err := g.build(cfg, old)
	if err != nil {
		g.bound.abandon()
		return err
	}
	g.current.Store(gen)
	commit()
	g.server.SetTimeouts(cfg.ClientTimeouts.Head, cfg.ClientTimeouts.Idle, g.sendTimeout(cfg))
	old.retire()
	return nil
}

// Config returns the configuration being served.
func (g *Gateway) Config() *config.Config { return g.current.Load().cfg }

// Shutdown drains: listeners close at once, idle connections close, and
// in-flight requests finish until ctx ends, after which the rest are cut.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.bound.stop()
	var wg sync.WaitGroup
	var forced atomic.Bool
	servers := []interface {
		Shutdown(context.Context) error
		Close() error
	}{g.server, g.admin}
	for _, srv := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Shutdown(ctx); err != nil {
				forced.Store(true)
				srv.Close()
			}
		}()
	}
	wg.Wait()
	g.current.Load().retire()
	if forced.Load() {
		return errors.New("grace period ended with requests still in flight; they were cut")
	}
	return nil
}

// adminHandler serves the admin API over the current generation.
func (g *Gateway) adminHandler() http.Handler {
	return admin.Handler(admin.Options{
		Source:  func() admin.Source { return g.current.Load().proxy },
		Metrics: g.metrics,
	})
}
