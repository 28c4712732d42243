package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync/atomic"
)

// idPrefix makes request IDs unique across processes; idCounter across
// requests. Together they cost one atomic add per request instead of a
// read from the random source.
var (
	idPrefix  = newIDPrefix()
	idCounter atomic.Uint64
)

func newIDPrefix() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("request id: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b[:]) + "-"
}

// maxRequestIDLen bounds an accepted X-Request-ID, which is logged and
// echoed to the client.
const maxRequestIDLen = 128

// requestID returns the request's ID: the client's X-Request-ID when the
// client is trusted and the value is sane, a new one otherwise. An
// untrusted client must not be able to choose the ID that operators search
// the logs for.
func requestID(r *http.Request, trusted bool) string {
	if trusted {
		// The map's keys are canonical already: Get would canonicalize
		// the constant again on every request.
		if v := r.Header["X-Request-Id"]; len(v) > 0 && validRequestID(v[0]) {
			return v[0]
		}
	}
	var b [32]byte
	id := append(b[:0], idPrefix...)
	return string(strconv.AppendUint(id, idCounter.Add(1), 36))
}

// validRequestID accepts visible ASCII only, so an ID can be logged and
// echoed without escaping.
func validRequestID(v string) bool {
	if v == "" || len(v) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] > '~' {
			return false
		}
	}
	return true
}
