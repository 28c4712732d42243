package server

import (
	"sync"
	"time"
)

// workers hands accepted connections to goroutines that have served one
// before. Serving a request takes a deep stack; a new goroutine starts
// with a small one, which grows, and is copied, several times on every new
// connection. A worker keeps what it grew.
type workers struct {
	mu sync.Mutex
	// idle is a stack: the most recently parked worker, whose stack the GC
	// has had least time to shrink, is taken first.
	idle    []*worker
	stopped bool
}

// worker is one goroutine serving connection after connection.
type worker struct {
	next      chan *conn // nil stops the worker
	idleSince time.Time
}

const (
	// maxIdleWorkers bounds the goroutines kept waiting for a connection.
	maxIdleWorkers = 256
	// workerIdleTimeout is how long a worker waits before it ends.
	workerIdleTimeout = 10 * time.Second
)

// serve serves c on an idle worker, or on a new one.
func (p *workers) serve(c *conn) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.next <- c
		return
	}
	p.mu.Unlock()
	go p.work(c)
}

func (p *workers) work(c *conn) {
	w := &worker{next: make(chan *conn, 1)}
	for c != nil {
		c.serve()
		if !p.park(w) {
			return
		}
		c = <-w.next
	}
}

// park adds w to the idle workers, unless there are enough or the pool
// has stopped.
func (p *workers) park(w *worker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || len(p.idle) >= maxIdleWorkers {
		return false
	}
	w.idleSince = time.Now()
	p.idle = append(p.idle, w)
	return true
}

// expire ends the workers idle for longer than workerIdleTimeout.
func (p *workers) expire(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for n < len(p.idle) && now.Sub(p.idle[n].idleSince) > workerIdleTimeout {
		p.idle[n].next <- nil
		n++
	}
	p.idle = append(p.idle[:0], p.idle[n:]...)
}

// stop ends every idle worker and any that would park from now on.
func (p *workers) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	for _, w := range p.idle {
		w.next <- nil
	}
	p.idle = nil
}
