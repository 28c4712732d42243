package diagnose

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/h1"
	"github.com/portico-proxy/portico/internal/proxystatus"
	"github.com/portico-proxy/portico/internal/transport"
)

// maxBodyRead bounds the body bytes read to check the body's framing: a
// health URL's body is small, and a large download proves nothing more.
const maxBodyRead = 16 << 20

// longAgo is a deadline in the past, which makes pending I/O fail at once.
var longAgo = time.Unix(1, 0)

// http sends one GET with the proxy's codec and reads the response as the
// proxy would: the head with the proxy's limits and checks, then the body
// to its end, which proves its framing. A 5xx the server sends itself is
// a failed step without a class: portico passes it on unchanged.
func (c *check) http(ctx context.Context) bool {
	step := &HTTPStep{
		Step:        newStep(),
		Request:     "GET " + c.t.RequestTarget + " HTTP/1.1",
		Headers:     []Header{},
		Interim:     []int{},
		ProxyStatus: []ProxyStatusMember{},
	}
	c.r.HTTP = step
	start := time.Now()
	defer func() { step.Duration = Millis(time.Since(start)) }()
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(longAgo) })
	defer stop()

	timeout := c.d.opts.HTTPTimeout
	c.conn.SetWriteDeadline(time.Now().Add(timeout))
	bw := bufio.NewWriter(c.conn)
	header := http.Header{"User-Agent": {"portico-diagnose"}, "Accept": {"*/*"}}
	err := h1.WriteRequestHead(bw, http.MethodGet, c.t.RequestTarget, c.t.HostHeader, header, 0)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		step.fail(transport.ClassifyWrite(err))
		return false
	}

	sent := time.Now()
	c.conn.SetReadDeadline(sent.Add(timeout))
	first := &firstByteReader{r: c.conn}
	c.br = bufio.NewReader(first)
	head := &c.head
	for {
		if err := h1.ReadResponseHead(c.br, c.d.proxy.Limits, head); err != nil {
			step.fail(transport.ClassifyHeadRead(err))
			return false
		}
		if head.Status >= 200 || head.Status == http.StatusSwitchingProtocols {
			break
		}
		step.Interim = append(step.Interim, head.Status)
	}
	step.TimeToFirstByte = Millis(first.at.Sub(sent))
	step.Version = fmt.Sprintf("HTTP/%d.%d", head.Major, head.Minor)
	step.StatusCode, step.Reason = head.Status, head.Reason
	for _, f := range head.Fields {
		step.Headers = append(step.Headers, Header{Name: f.Name, Value: f.Value})
	}
	decodeProxyStatus(step, head.Fields)
	if rh := c.d.proxy.ResponseHeader; rh > 0 && time.Duration(step.TimeToFirstByte) > rh/2 {
		step.warn(fmt.Sprintf("the first byte came after %s, over half of portico's response_header timeout (%s)",
			formatDuration(time.Duration(step.TimeToFirstByte)), formatSetting(rh)))
	}

	framing := head.Framing(http.MethodGet)
	step.Framing = framing.String()
	if !c.readBody(step, framing) {
		return false
	}
	switch {
	case head.Status >= 500:
		step.Status = StatusFailed
		return false
	case head.Status >= 400:
		// The exchange works; whether this path should answer so is the
		// application's business.
		step.note(fmt.Sprintf("the server answers %d %s for this URL; portico passes that on unchanged", head.Status, head.Reason))
	}
	return true
}

// readBody reads the body as the proxy would, with the HTTP timeout as the
// longest gap between reads.
func (c *check) readBody(step *HTTPStep, framing h1.Framing) bool {
	if framing == h1.Tunnel {
		step.note("the server switched protocols; nothing of the new protocol is checked")
		return true
	}
	body := h1.NewBodyReader(c.br, &c.head, framing)
	buf := make([]byte, 32<<10)
	for step.BodyBytes < maxBodyRead {
		c.conn.SetReadDeadline(time.Now().Add(c.d.opts.HTTPTimeout))
		n, err := body.Read(buf)
		step.BodyBytes += int64(n)
		if err == io.EOF {
			step.BodyComplete = true
			return true
		}
		if err != nil {
			step.fail(bodyFailure(err))
			return false
		}
	}
	step.note(fmt.Sprintf("stopped reading the body after %d MiB; its end was not checked", maxBodyRead>>20))
	return true
}

// bodyFailure classifies an error reading the body as the proxy's
// transport.Body does: the codec has typed framing faults; of the
// connection's own errors a timeout is a read timeout and anything else
// an incomplete response.
func bodyFailure(err error) *failure.Error {
	if fe, ok := failure.As(err); ok {
		return fe
	}
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return failure.New(failure.ConnectionReadTimeout, failure.PhaseReadBody, err)
	}
	return failure.New(failure.HTTPResponseIncomplete, failure.PhaseReadBody, err)
}

// firstByteReader notes when the first byte arrives.
type firstByteReader struct {
	r  io.Reader
	at time.Time
}

func (f *firstByteReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if n > 0 && f.at.IsZero() {
		f.at = time.Now()
	}
	return n, err
}

// decodeProxyStatus decodes the Proxy-Status field lines, joined as one
// list (RFC 9110 §5.3).
func decodeProxyStatus(step *HTTPStep, fields []h1.Field) {
	var values []string
	for _, f := range fields {
		if strings.EqualFold(f.Name, "Proxy-Status") {
			values = append(values, f.Value)
		}
	}
	if len(values) == 0 {
		return
	}
	members, err := proxystatus.Parse(strings.Join(values, ", "))
	if err != nil {
		step.warn("the Proxy-Status field does not parse (" + err.Error() + "), so it tells nothing")
		return
	}
	for _, m := range members {
		pm := ProxyStatusMember{Name: m.Name, Params: map[string]string{}}
		for _, p := range m.Params {
			pm.Params[p.Key] = valueText(p.Value)
		}
		pm.Error = pm.Params["error"]
		step.ProxyStatus = append(step.ProxyStatus, pm)
	}
}

// valueText writes a structured-field value for reading: strings and
// tokens bare, the rest in their RFC 9651 form.
func valueText(v proxystatus.Value) string {
	switch v.Kind {
	case proxystatus.Integer:
		return strconv.FormatInt(v.Int, 10)
	case proxystatus.Decimal:
		return strconv.FormatFloat(float64(v.Int)/1000, 'f', -1, 64)
	case proxystatus.Boolean:
		if v.Bool {
			return "?1"
		}
		return "?0"
	case proxystatus.ByteSequence:
		return ":" + base64.StdEncoding.EncodeToString([]byte(v.Str)) + ":"
	case proxystatus.Date:
		return "@" + strconv.FormatInt(v.Int, 10)
	}
	return v.Str
}
