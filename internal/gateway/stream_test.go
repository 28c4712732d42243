package gateway_test

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-proxy/portico/internal/faults"
)

// patternReader generates n bytes without holding them, so a test can
// stream a body far larger than it could keep in memory.
type patternReader struct{ left int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	p.left -= int64(len(b))
	return len(b), nil
}

// TestStreamsLargeBodiesBothWays sends 1 GiB up and receives it back (the
// upstream echoes as it reads) with flat memory: neither direction is
// buffered whole.
func TestStreamsLargeBodiesBothWays(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 1 GiB each way")
	}
	const size = 1 << 30
	echo := startFault(t, faults.Echo)
	h := startGateway(t, oneUpstream, map[string]string{"APP": echo.Addr()})

	sent := sha256.New()
	body := io.TeeReader(&patternReader{left: size}, sent)
	req, err := http.NewRequest(http.MethodPost, h.URL+"/upload", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // chunked, so neither side may rely on a length

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	// Under the race detector 2 GiB of copying takes a while; the shared
	// client's timeout is for answers that should be quick.
	slow := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	resp, err := slow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	received := sha256.New()
	n, err := io.Copy(received, resp.Body)
	if err != nil {
		t.Fatalf("after %d bytes: %v", n, err)
	}
	if n != size || string(received.Sum(nil)) != string(sent.Sum(nil)) {
		t.Fatalf("received %d bytes, content differs: %v", n, string(received.Sum(nil)) != string(sent.Sum(nil)))
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	// Client, proxy and upstream share this process: all of them together
	// must stay far below the body's size.
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 64<<20 {
		t.Errorf("heap grew by %d MiB while streaming 1 GiB", grown>>20)
	}
}

// TestFlushesStreamedResponses: each server-sent event reaches the client
// while the upstream holds the response open.
func TestFlushesStreamedResponses(t *testing.T) {
	sse := startFault(t, faults.SSE)
	h := startGateway(t, oneUpstream, map[string]string{"APP": sse.Addr()})

	resp := h.get("/events")
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q", ct)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data:") {
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	for i := range 3 {
		sse.Tick()
		select {
		case _, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended before event %d", i)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d did not arrive while the stream stayed open", i)
		}
	}
}

// TestConcurrentBodiesNeverMix: many requests share a few upstream
// connections, and every client gets its own body back byte for byte.
// Response bodies are relayed straight from the upstream connection's
// buffer; the connection must not serve another request before the bytes
// have been relayed.
func TestConcurrentBodiesNeverMix(t *testing.T) {
	app := startFault(t, faults.Echo)
	h := startGateway(t, upstreamConfig(app.URL(), "\n    max_idle_per_target: 2"), nil)
	const clients, rounds = 8, 40
	errs := make(chan error, clients)
	for c := range clients {
		go func() {
			for r := range rounds {
				want := strings.Repeat(string(rune('a'+c))+strconv.Itoa(r)+"-", 1000+(c*rounds+r)*37)
				resp, err := testClient.Post(h.URL+"/", "text/plain", strings.NewReader(want))
				if err != nil {
					errs <- err
					return
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(got) != want {
					errs <- fmt.Errorf("client %d round %d: got %d bytes (%v), want %d of its own", c, r, len(got), err, len(want))
					return
				}
			}
			errs <- nil
		}()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
