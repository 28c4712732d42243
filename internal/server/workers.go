package server

import (
	"net"
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

// worker is one goroutine serving connection after connection, with one
// conn it readies for each.
type worker struct {
	next      chan net.Conn // nil stops the worker
	idleSince time.Time
}

const (
	// maxIdleWorkers bounds the goroutines kept waiting for a connection.
	maxIdleWorkers = 256
	// workerIdleTimeout is how long a worker waits before it ends.
	workerIdleTimeout = 10 * time.Second
)

// serve serves nc on an idle worker, or on a new one.
func (p *workers) serve(s *Server, nc net.Conn) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.next <- nc
		return
	}
	p.mu.Unlock()
	go p.work(s, nc)
}

func (p *workers) work(s *Server, nc net.Conn) {
	w := &worker{next: make(chan net.Conn, 1)}
	c := new(conn)
	for nc != nil {
		if c.start(s, nc) {
			c.serve()
		} else {
			nc.Close()
		}
		if !p.park(w) {
			return
		}
		nc = <-w.next
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
