// Package stale keeps, per route, the last good response to each GET a
// shared cache may store, so that a failing upstream can be answered for
// with it instead of a 502, 503 or 504 (RFC 9111 §4.2.4, RFC 5861
// stale-if-error). It is not a cache: a kept response is used only when
// the upstream fails.
package stale

import (
	"container/list"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/h1"
)

// Response is a kept response. Its fields and body are never changed once
// stored, so one may be served to many clients at once.
type Response struct {
	Status int
	Reason string
	Fields []h1.Field
	Body   []byte
	// Stored is when it was kept; Until is the last moment it may serve.
	Stored, Until time.Time
}

// size is what a response counts against the store's budget.
func (r *Response) size(key string) int64 {
	n := int64(len(key) + len(r.Body) + len(r.Reason) + 64)
	for _, f := range r.Fields {
		n += int64(len(f.Name) + len(f.Value) + 32)
	}
	return n
}

// Store holds one route's responses, least recently used first out.
type Store struct {
	maxAge   time.Duration
	maxBytes int64
	maxBody  int64

	mu    sync.Mutex // guards what follows
	byKey map[string]*list.Element
	lru   *list.List // of *entry, most recently used at the front
	bytes int64
}

type entry struct {
	key  string
	resp *Response
	size int64
}

// New returns an empty store configured by c.
func New(c *config.StaleIfError) *Store {
	return &Store{
		maxAge:   c.MaxAge,
		maxBytes: c.MaxBytes,
		maxBody:  c.MaxBody,
		byKey:    map[string]*list.Element{},
		lru:      list.New(),
	}
}

// Reconfigured returns a store configured by c that holds what s holds
// and c allows, so that a reload keeps a route's responses: s itself when
// c changes nothing, otherwise a new store with the responses still
// within c's limits, in the same order of use. s is left as it is, for
// the requests still served by the configuration it belongs to.
func (s *Store) Reconfigured(c *config.StaleIfError, now time.Time) *Store {
	if s.maxAge == c.MaxAge && s.maxBytes == c.MaxBytes && s.maxBody == c.MaxBody {
		return s
	}
	n := New(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Least recently used first, so the most recently used end up in
	// front, and the ones a smaller budget cannot hold are the first out.
	for el := s.lru.Back(); el != nil; el = el.Prev() {
		e := el.Value.(*entry)
		r := e.resp
		if int64(len(r.Body)) > n.maxBody {
			continue
		}
		if limit := r.Stored.Add(n.maxAge); limit.Before(r.Until) {
			// A kept response is never changed: a shorter life makes a
			// copy.
			shorter := *r
			shorter.Until = limit
			r = &shorter
		}
		if now.After(r.Until) {
			continue
		}
		n.Put(e.key, r)
	}
	return n
}

// MaxBody is the largest body the store keeps.
func (s *Store) MaxBody() int64 { return s.maxBody }

// Get returns the response kept under key if it may still serve at now.
func (s *Store) Get(key string, now time.Time) (*Response, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.byKey[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*entry)
	if now.After(e.resp.Until) {
		s.remove(el)
		return nil, false
	}
	s.lru.MoveToFront(el)
	return e.resp, true
}

// Put keeps r under key, replacing what was there and making room by
// dropping the least recently used responses.
func (s *Store) Put(key string, r *Response) {
	size := r.size(key)
	if size > s.maxBytes {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.byKey[key]; ok {
		s.remove(el)
	}
	for s.bytes+size > s.maxBytes {
		s.remove(s.lru.Back())
	}
	s.byKey[key] = s.lru.PushFront(&entry{key: key, resp: r, size: size})
	s.bytes += size
}

func (s *Store) remove(el *list.Element) {
	e := el.Value.(*entry)
	s.lru.Remove(el)
	delete(s.byKey, e.key)
	s.bytes -= e.size
}

// Key returns the key r's response is kept under, and false when it may
// be neither kept nor served: only a GET without credentials qualifies,
// since a response to one client's Authorization or Cookie must not reach
// another (RFC 9111 §3.5). The key holds the Accept-Encoding asked for,
// the one request field a kept response may vary on.
func Key(r *http.Request) (string, bool) {
	if r.Method != http.MethodGet || r.Header["Authorization"] != nil || r.Header["Cookie"] != nil {
		return "", false
	}
	return r.Host + " " + r.RequestURI + " " + strings.Join(r.Header["Accept-Encoding"], ","), true
}

// Keepable reports until when a response with status and fields, arriving
// at now, may be served in place of a failure, and false when it may not
// be kept: only a 200 that a shared cache may store and serve stale
// qualifies. It must carry no Set-Cookie (another client's session), vary
// on nothing but Accept-Encoding, and its Cache-Control must allow
// serving it stale: no no-store, private, no-cache, must-revalidate,
// proxy-revalidate or s-maxage (RFC 9111 §4.2.4, §5.2.2). A
// stale-if-error=N directive bounds how long it serves to N seconds after
// it goes stale (RFC 5861 §4).
func (s *Store) Keepable(status int, fields []h1.Field, now time.Time) (time.Time, bool) {
	if status != http.StatusOK {
		return time.Time{}, false
	}
	until := now.Add(s.maxAge)
	maxAge, staleIfError := int64(-1), int64(-1)
	for _, f := range fields {
		switch {
		case strings.EqualFold(f.Name, "Set-Cookie"):
			return time.Time{}, false
		case strings.EqualFold(f.Name, "Vary"):
			for v := range strings.SplitSeq(f.Value, ",") {
				if v = strings.TrimSpace(v); v != "" && !strings.EqualFold(v, "Accept-Encoding") {
					return time.Time{}, false
				}
			}
		case strings.EqualFold(f.Name, "Cache-Control"):
			for d := range strings.SplitSeq(f.Value, ",") {
				name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
				switch strings.ToLower(name) {
				case "no-store", "private", "no-cache", "must-revalidate", "proxy-revalidate", "s-maxage":
					return time.Time{}, false
				case "max-age":
					maxAge = seconds(value)
				case "stale-if-error":
					staleIfError = seconds(value)
				}
			}
		}
	}
	if staleIfError >= 0 {
		limit := now.Add(time.Duration(max(maxAge, 0)+staleIfError) * time.Second)
		if limit.Before(until) {
			until = limit
		}
	}
	return until, true
}

// seconds reads a delta-seconds directive value, -1 when it is not one.
func seconds(v string) int64 {
	n, err := strconv.ParseInt(strings.Trim(v, `"`), 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return min(n, 1<<31)
}
