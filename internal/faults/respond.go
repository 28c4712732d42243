package faults

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A partial body: the length the head announces and the bytes actually sent.
const (
	announcedLength = 100
	partialBody     = "0123456789"
)

// stopsReadingHold is how long StopsReadingBody holds a connection: far
// past any write timeout a proxy would use, yet bounded so a long-running
// demo does not pile up connections.
const stopsReadingHold = 5 * time.Minute

// websocketGUID is the fixed suffix of the Sec-WebSocket-Accept hash
// (RFC 6455 §1.3).
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// respond answers req on c as b says, and reports whether the connection may
// carry another request.
func (s *Server) respond(c net.Conn, br *bufio.Reader, req *http.Request, b Behavior, bodyLen int64) bool {
	switch b {
	case OK:
		return write(c, s.okResponse(req, bodyLen))
	case Echo:
		return s.echo(c, req)
	case CloseBeforeHead:
		return false
	case ResetBeforeHead:
		reset(c)
		return false
	case Silent:
		awaitPeerClose(br)
		return false
	case SlowHead:
		timer := time.NewTimer(s.opts.Delay)
		defer timer.Stop()
		select {
		case <-timer.C:
			return write(c, s.okResponse(req, bodyLen))
		case <-s.done:
			return false
		}
	case Garbage:
		write(c, "\x00\xff\xfe garbage \x01\x02\x03 not an HTTP response\r\n\r\n")
		return false
	case HTTP09:
		write(c, "hello from a server that speaks HTTP/0.9\n")
		return false
	case BadStatusLine:
		write(c, "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n")
		return false
	case BadHeaderSyntax:
		write(c, "HTTP/1.1 200 OK\r\nthis line has no colon\r\nContent-Length: 0\r\n\r\n")
		return false
	case ObsFold:
		write(c, "HTTP/1.1 200 OK\r\nX-Folded: first\r\n  second\r\nContent-Length: 3\r\n\r\nok\n")
		return false
	case ConflictingContentLength:
		write(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")
		return false
	case ContentLengthWithTransferEncoding:
		write(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
		return false
	case UnknownTransferCoding:
		write(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: "+UnknownCoding+"\r\n\r\nhello")
		return false
	case HeaderSectionTooLarge:
		write(c, headerSection(s.opts.HeaderSectionSize))
		return false
	case HeaderTooLarge:
		write(c, "HTTP/1.1 200 OK\r\n"+HugeHeaderName+": "+strings.Repeat("h", s.opts.HeaderSize)+"\r\nContent-Length: 0\r\n\r\n")
		return false
	case TruncatedBody:
		write(c, partialResponse())
		return false
	case ResetMidBody:
		if write(c, partialResponse()) {
			reset(c)
		}
		return false
	case BadChunk:
		write(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nbroken\r\n")
		return false
	case StallMidBody:
		if write(c, partialResponse()) {
			awaitPeerClose(br)
		}
		return false
	case StopsReadingBody:
		if tc := tcpConn(c); tc != nil {
			tc.SetReadBuffer(stalledReadBuffer)
		}
		// Without reading there is no way to see the peer leave, so the
		// hold is bounded instead.
		hold := time.NewTimer(stopsReadingHold)
		defer hold.Stop()
		select {
		case <-hold.C:
		case <-s.done:
		}
		return false
	case UpgradeRefused:
		return write(c, head("200 OK", "Content-Type: text/plain", "Content-Length: 16")+"upgrade refused\n")
	case UpgradeBotched:
		write(c, head("101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
			"Sec-WebSocket-Accept: "+websocketAccept(req.Header.Get("Sec-WebSocket-Key")+"-botched")))
		return false
	case UpgradeOK:
		if write(c, head("101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
			"Sec-WebSocket-Accept: "+websocketAccept(req.Header.Get("Sec-WebSocket-Key")))) {
			io.Copy(c, br)
		}
		return false
	case Origin502:
		const body = "bad gateway, says the origin\n"
		return write(c, head("502 Bad Gateway", "Proxy-Status: "+OriginProxyStatus, "Content-Type: text/plain",
			"Content-Length: "+strconv.Itoa(len(body)))+body)
	case EarlyHints:
		return write(c, "HTTP/1.1 103 Early Hints\r\nLink: "+EarlyHintsLink+"\r\n\r\n"+s.okResponse(req, bodyLen))
	case CloseDelimited:
		write(c, head("200 OK", "Content-Type: text/plain", "Connection: close")+"this body ends when the connection closes\n")
		return false
	case Trailers:
		return write(c, head("200 OK", "Content-Type: text/plain", "Transfer-Encoding: chunked", "Trailer: "+TrailerName)+
			"5\r\nhello\r\n0\r\n"+TrailerName+": "+TrailerValue+"\r\n\r\n")
	case NoContent204:
		return write(c, head("204 No Content", "X-Served-By: "+s.opts.Name))
	case CustomStatus:
		const body = "a status code no registry knows\n"
		return write(c, head(strconv.Itoa(CustomStatusCode)+" "+CustomReason, "Content-Type: text/plain",
			"Content-Length: "+strconv.Itoa(len(body)))+body)
	case ManySetCookie:
		return write(c, manySetCookie())
	case SSE:
		return s.sse(c, br)
	}
	return false
}

// awaitPeerClose discards input until the peer closes the connection or
// Close does, so a stalled handler ends when nobody waits for it any more.
func awaitPeerClose(br *bufio.Reader) {
	io.Copy(io.Discard, br)
}

// head returns a status line and header section ending in the blank line.
func head(status string, fields ...string) string {
	var b strings.Builder
	b.WriteString("HTTP/1.1 " + status + "\r\n")
	for _, f := range fields {
		b.WriteString(f + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

func write(c net.Conn, s string) bool {
	_, err := io.WriteString(c, s)
	return err == nil
}

// tcpConn returns the TCP connection under c, or nil.
func tcpConn(c net.Conn) *net.TCPConn {
	if nc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = nc.NetConn()
	}
	tc, _ := c.(*net.TCPConn)
	return tc
}

// reset closes c with SO_LINGER 0, so the kernel sends RST instead of FIN.
func reset(c net.Conn) {
	if tc := tcpConn(c); tc != nil {
		tc.SetLinger(0)
		tc.Close()
	}
}

func (s *Server) okResponse(req *http.Request, bodyLen int64) string {
	body := "ok from " + s.opts.Name + "\n"
	fields := []string{
		"Content-Type: text/plain; charset=utf-8",
		"Content-Length: " + strconv.Itoa(len(body)),
		"X-Served-By: " + s.opts.Name,
		"X-Echo-Method: " + req.Method,
		"X-Echo-Path: " + req.URL.EscapedPath(),
		"X-Echo-Target: " + req.RequestURI,
		"X-Echo-Host: " + req.Host,
		"X-Echo-Body-Length: " + strconv.FormatInt(bodyLen, 10),
	}
	if _, ok := req.Header["X-Echo-Headers"]; ok {
		for _, name := range slices.Sorted(maps.Keys(req.Header)) {
			for _, v := range req.Header[name] {
				fields = append(fields, "X-Echo-Header-"+name+": "+v)
			}
		}
	}
	if req.Close {
		fields = append(fields, "Connection: close")
	}
	if req.Method == http.MethodHead {
		body = ""
	}
	return head("200 OK", fields...) + body
}

func (s *Server) notFound(c net.Conn, req *http.Request) bool {
	if _, err := io.Copy(io.Discard, req.Body); err != nil {
		return false
	}
	body := "unknown behaviour; try " + PathPrefix + "<name> with one of: " + strings.Join(BehaviorNames(), ", ") + "\n"
	return write(c, head("404 Not Found", "Content-Type: text/plain; charset=utf-8",
		"Content-Length: "+strconv.Itoa(len(body)))+body)
}

// echo streams the request body back chunk by chunk as it arrives.
func (s *Server) echo(c net.Conn, req *http.Request) bool {
	if !write(c, head("200 OK", "Content-Type: application/octet-stream", "Transfer-Encoding: chunked",
		"X-Served-By: "+s.opts.Name)) {
		return false
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := req.Body.Read(buf)
		if n > 0 && !write(c, fmt.Sprintf("%x\r\n%s\r\n", n, buf[:n])) {
			return false
		}
		if err == io.EOF {
			return write(c, "0\r\n\r\n")
		}
		if err != nil {
			return false
		}
	}
}

// sse sends an event at once and another on each tick, until the client or
// the server goes away.
func (s *Server) sse(c net.Conn, br *bufio.Reader) bool {
	if !write(c, head("200 OK", "Content-Type: text/event-stream", "Cache-Control: no-cache",
		"Transfer-Encoding: chunked")) {
		return false
	}
	gone := make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		awaitPeerClose(br)
		close(gone)
	}()
	var interval <-chan time.Time
	if s.opts.EventInterval > 0 {
		ticker := time.NewTicker(s.opts.EventInterval)
		defer ticker.Stop()
		interval = ticker.C
	}
	for n := 1; ; n++ {
		event := fmt.Sprintf("id: %d\ndata: event %d\n\n", n, n)
		if !write(c, fmt.Sprintf("%x\r\n%s\r\n", len(event), event)) {
			return false
		}
		select {
		case <-s.tick:
		case <-interval:
		case <-gone:
			return false
		}
	}
}

func partialResponse() string {
	return head("200 OK", "Content-Type: text/plain", "Content-Length: "+strconv.Itoa(announcedLength)) + partialBody
}

// headerSection returns a head whose filler fields, each about 1 KiB so no
// single one is large, add up to size bytes.
func headerSection(size int) string {
	var b strings.Builder
	b.WriteString("HTTP/1.1 200 OK\r\n")
	value := strings.Repeat("f", 1000)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "X-Filler-%05d: %s\r\n", i, value)
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

func manySetCookie() string {
	var b strings.Builder
	b.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n")
	value := strings.Repeat("v", 400)
	for i := range SetCookieCount {
		fmt.Fprintf(&b, "Set-Cookie: c%03d=%s; Path=/; HttpOnly\r\n", i, value)
	}
	b.WriteString("\r\n")
	return b.String()
}

func websocketAccept(key string) string {
	sum := sha1.Sum([]byte(key + websocketGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}
