package proxy

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/h1"
	"github.com/portico-proxy/portico/internal/transport"
)

// upgradeRequested returns the protocol an HTTP/1.1 request asks to switch
// to (RFC 9110 §7.8), or "".
func upgradeRequested(r *http.Request) string {
	if r.ProtoMajor != 1 || !containsToken(r.Header["Connection"], "upgrade") {
		return ""
	}
	return r.Header.Get("Upgrade")
}

// websocketGUID is appended to Sec-WebSocket-Key to form
// Sec-WebSocket-Accept (RFC 6455 §1.3).
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// checkUpgrade decides whether the upstream's answer to an upgrade request
// may be relayed. A 101 must switch to the protocol asked for and, for
// WebSocket, prove it read the key; a 2xx means the upstream ignored the
// upgrade, which the client cannot use. Refusals with their own meaning
// (3xx, 4xx, 5xx) pass through.
func checkUpgrade(r *http.Request, protocol string, resp *transport.Response) *failure.Error {
	fail := func(details string) *failure.Error {
		return failure.Newf(failure.HTTPUpgradeFailed, failure.PhaseReadHead, details)
	}
	switch {
	case protocol == "" && resp.Status == http.StatusSwitchingProtocols:
		return fail("upstream switched protocols without being asked to")
	case protocol == "":
		return nil
	case resp.Status >= 200 && resp.Status < 300:
		return fail("upstream answered " + strconv.Itoa(resp.Status) + " to an upgrade to " + protocol + " instead of switching protocols")
	case resp.Status != http.StatusSwitchingProtocols:
		return nil
	}
	got := fieldValue(resp.Fields, "Upgrade")
	if !strings.EqualFold(strings.TrimSpace(got), strings.TrimSpace(protocol)) {
		return fail("upstream switched to " + strconv.Quote(got) + ", not the " + strconv.Quote(protocol) + " asked for")
	}
	if strings.EqualFold(protocol, "websocket") {
		sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + websocketGUID))
		if want := base64.StdEncoding.EncodeToString(sum[:]); fieldValue(resp.Fields, "Sec-WebSocket-Accept") != want {
			return fail("upstream's Sec-WebSocket-Accept does not match the key (RFC 6455 §4.2.2)")
		}
	}
	return nil
}

func fieldValue(fields []h1.Field, name string) string {
	for _, f := range fields {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// tunnel relays a switched connection: the client's 101 head is written by
// hand on the hijacked connection, then bytes flow both ways. When one side
// finishes sending, the other is half-closed so it sees the end, and the
// tunnel ends when both directions have.
func (x *exchange) tunnel(resp *transport.Response) {
	upstream := resp.Body.Tunnel()
	defer upstream.Close()
	client, buffered, err := http.NewResponseController(x.w).Hijack()
	if err != nil {
		x.fail(failure.New(failure.HTTPUpgradeFailed, failure.PhaseReadHead, err))
		return
	}
	defer client.Close()
	h := make(http.Header, len(resp.Fields)+2)
	copyResponseHeader(h, resp.Fields, 0)
	h["Connection"] = []string{"Upgrade"}
	h["Upgrade"] = []string{fieldValue(resp.Fields, "Upgrade")}
	h["Via"] = append(h["Via"], x.p.via)
	h["X-Request-Id"] = []string{x.entry.RequestID}
	buffered.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	h.Write(buffered)
	buffered.WriteString("\r\n")
	if err := buffered.Flush(); err != nil {
		x.entry.Status = statusClientClosed
		return
	}
	x.entry.Status = http.StatusSwitchingProtocols
	x.wroteHead = true

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		n, _ := io.Copy(upstream, readerWithBuffer(buffered.Reader, client))
		x.entry.BytesIn += n
		closeWrite(upstream)
	}()
	n, _ := io.Copy(client, upstream)
	x.entry.BytesOut += n
	closeWrite(client)
	wg.Wait()
}

// readerWithBuffer reads what the server already buffered from the client,
// then the connection.
func readerWithBuffer(br *bufio.Reader, c net.Conn) io.Reader {
	if br.Buffered() == 0 {
		return c
	}
	return io.MultiReader(io.LimitReader(br, int64(br.Buffered())), c)
}

// closeWrite half-closes c so its peer sees the end of the stream while
// the other direction keeps flowing.
func closeWrite(c any) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() == nil {
			return
		}
	}
	if cl, ok := c.(io.Closer); ok {
		cl.Close()
	}
}
