// Package respond writes the response for a request that failed before an
// upstream answered: the status for its failure class, a Proxy-Status
// member, and a body in the format the client asked for (RFC 9457 problem
// details, a friendly HTML page, or one line of text).
package respond

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/proxystatus"
)

// Options configures a Writer.
type Options struct {
	// ProxyName is the Proxy-Status member name (default "portico").
	ProxyName string
	// Pages maps a status code (400-599) to the path of an operator's
	// html/template file that replaces the default HTML page for that
	// status. It is executed with a PageData. Optional.
	Pages map[int]string
	// RetryAfter is the Retry-After sent with 503 and 429 answers, rounded
	// up to whole seconds (default 5s).
	RetryAfter time.Duration
}

// PageData is what an HTML error page template is executed with.
type PageData struct {
	Status     int    // the HTTP status, e.g. 502
	StatusText string // its reason phrase, e.g. "Bad Gateway"
	Title      string // a short headline, e.g. "Connection refused"
	Message    string // the plain-words sentence from Explain
	RequestID  string // the ID the visitor can quote; may be empty
	Cause      string // the RFC 9209 error type, e.g. "connection_refused"
	RetryAfter int    // seconds to wait before retrying; 0 when not sent
}

// ProblemTypeBase prefixes the error type to form the RFC 9457 "type" URI of
// a problem, which leads to that type's section in docs/errors.md.
const ProblemTypeBase = "https://github.com/portico-proxy/portico/blob/main/docs/errors.md#"

// maxDetailsLen bounds the technical details in a body, which often quote
// the upstream and so must not let it decide the size of our answer.
const maxDetailsLen = 512

//go:embed page.html
var defaultPageText string

var defaultPage = template.Must(template.New("page.html").Parse(defaultPageText))

// Writer writes error responses. It is safe for concurrent use.
type Writer struct {
	name       string
	retryAfter int
	// retryAfterText is retryAfter formatted for the header.
	retryAfterText string
	// pages holds what depends only on the class and status, built once in
	// New for every class and the statuses it can answer with.
	pages map[statusKey]*page
	// templates are the operators' HTML pages by status.
	templates map[int]*template.Template
}

// page is the per class and status part of an error response.
type page struct {
	data PageData
	html *template.Template
	// plainPrefix is the text body up to the request ID, jsonPrefix the
	// problem details up to the end of the plain detail sentence.
	plainPrefix []byte
	jsonPrefix  []byte
}

// New returns a Writer, reading and parsing the operator's page templates
// once. Errors name the template file.
func New(o Options) (*Writer, error) {
	w := &Writer{
		name:       o.ProxyName,
		retryAfter: 5,
		pages:      map[statusKey]*page{},
		templates:  map[int]*template.Template{},
	}
	if w.name == "" {
		w.name = "portico"
	}
	if o.RetryAfter > 0 {
		w.retryAfter = int(math.Ceil(o.RetryAfter.Seconds()))
	}
	w.retryAfterText = strconv.Itoa(w.retryAfter)
	var errs []error
	// In status order, so the errors read the same on every load.
	for _, status := range slices.Sorted(maps.Keys(o.Pages)) {
		t, err := parsePage(status, o.Pages[status])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		w.templates[status] = t
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, c := range failure.Classes() {
		key := statusKey{c, responseStatus(c.Status())}
		w.pages[key] = w.newPage(key)
	}
	for key := range statusExplanations {
		w.pages[key] = w.newPage(key)
	}
	return w, nil
}

func parsePage(status int, path string) (*template.Template, error) {
	if status < 400 || status > 599 {
		return nil, fmt.Errorf("error page %s: status %d is not an error status (400-599)", path, status)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("error page for status %d: %w", status, err)
	}
	t, err := template.New(filepath.Base(path)).Parse(string(text))
	if err != nil {
		return nil, fmt.Errorf("error page %s: %w", path, err)
	}
	// Run it once now, so a template that names a field PageData lacks
	// fails at load instead of on a live error.
	sample := PageData{Status: status, StatusText: http.StatusText(status), Title: "Title", Message: "Message.", RequestID: "0", Cause: "proxy_internal_error", RetryAfter: 5}
	if err := t.Execute(io.Discard, sample); err != nil {
		return nil, fmt.Errorf("error page %s: %w", path, err)
	}
	return t, nil
}

func (w *Writer) newPage(key statusKey) *page {
	e := explain(key.class, key.status)
	p := &page{
		data: PageData{
			Status:     key.status,
			StatusText: http.StatusText(key.status),
			Title:      e.title,
			Message:    e.message,
			Cause:      key.class.String(),
		},
		html: defaultPage,
	}
	if key.status == http.StatusServiceUnavailable || key.status == http.StatusTooManyRequests {
		p.data.RetryAfter = w.retryAfter
	}
	if t, ok := w.templates[key.status]; ok {
		p.html = t
	}
	p.plainPrefix = fmt.Appendf(nil, "%d %s: %s", key.status, p.data.StatusText, e.message)
	p.jsonPrefix = append(p.jsonPrefix, `{"type":`...)
	p.jsonPrefix = appendJSONString(p.jsonPrefix, ProblemTypeBase+p.data.Cause)
	p.jsonPrefix = append(p.jsonPrefix, `,"title":`...)
	p.jsonPrefix = appendJSONString(p.jsonPrefix, e.title)
	p.jsonPrefix = fmt.Appendf(p.jsonPrefix, `,"status":%d,"detail":`, key.status)
	p.jsonPrefix = appendJSONString(p.jsonPrefix, e.message)
	// Reopen the detail string: full detail continues it.
	p.jsonPrefix = p.jsonPrefix[:len(p.jsonPrefix)-1]
	return p
}

// responseStatus is the status to answer with: the classes that only occur
// mid-body have none, and if one is found before the head was sent, the
// upstream's response was bad, which is a 502 (RFC 9110 §15.6.3).
func responseStatus(s int) int {
	if s == 0 {
		return http.StatusBadGateway
	}
	return s
}

func (w *Writer) page(class failure.Class, status int) *page {
	if p, ok := w.pages[statusKey{class, status}]; ok {
		return p
	}
	// A status override no one planned for: build it for this answer.
	return w.newPage(statusKey{class, status})
}

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Write answers r with the error response for fe: the status, a Proxy-Status
// member at the given detail, Retry-After for 503 and 429, Cache-Control:
// no-store (a cached error outlives its cause), X-Request-ID, and a body
// chosen by Accept. For HEAD it sends the same header fields and no body. A
// nil fe answers as a proxy_internal_error. The response is portico's own,
// so its Proxy-Status member replaces any the header already holds.
//
// The body reveals the next hop and technical details only at Full detail,
// and the HTML page never does: it is for visitors, not operators. Write
// returns the body bytes sent, for the access log.
func (w *Writer) Write(rw http.ResponseWriter, r *http.Request, fe *failure.Error, requestID string, detail proxystatus.Detail) (bodyBytes int) {
	if fe == nil {
		fe = &failure.Error{Class: failure.ProxyInternalError}
	}
	status := responseStatus(fe.Status())
	p := w.page(fe.Class, status)

	var member string
	if detail != proxystatus.Off {
		var scratch [256]byte
		member = string(proxystatus.AppendMember(scratch[:0], w.name, fe, detail))
	}

	buf := buffers.Get().(*bytes.Buffer)
	defer putBuffer(buf)
	var contentType string
	switch negotiate(r.Header["Accept"]) {
	case problemJSON:
		contentType = "application/problem+json"
		buf.Write(appendJSON(buf.AvailableBuffer(), p, fe, r, requestID, member, detail))
	case plainJSON:
		contentType = "application/json"
		buf.Write(appendJSON(buf.AvailableBuffer(), p, fe, r, requestID, member, detail))
	case html:
		contentType = "text/html; charset=utf-8"
		w.writeHTML(buf, p, requestID, fe.RetryAfterSeconds)
	default:
		contentType = "text/plain; charset=utf-8"
		buf.Write(appendPlain(buf.AvailableBuffer(), p, requestID, member))
	}

	h := rw.Header()
	body := buf.Bytes()
	// One backing array holds every value: error storms are when this runs
	// most. Each value is capped at its length, so appending to one cannot
	// overwrite the next.
	values := make([]string, 0, 9)
	values = setHeader(h, "Content-Type", contentType, values)
	values = setHeader(h, "Content-Length", strconv.Itoa(len(body)), values)
	values = setHeader(h, "Cache-Control", "no-store", values)
	values = setHeader(h, "X-Content-Type-Options", "nosniff", values)
	// The body depends on Accept (RFC 9110 §12.5.5).
	values = setHeader(h, "Vary", "Accept", values)
	if member != "" {
		values = setHeader(h, "Proxy-Status", member, values)
	}
	if fe.RetryAfter() {
		// The failure's own wait (a rate limit's refill, a maintenance
		// window) beats the default.
		text := w.retryAfterText
		if fe.RetryAfterSeconds > 0 {
			text = strconv.Itoa(fe.RetryAfterSeconds)
		}
		values = setHeader(h, "Retry-After", text, values)
	}
	if requestID != "" {
		setHeader(h, "X-Request-Id", requestID, values)
	}
	rw.WriteHeader(status)
	if r.Method == http.MethodHead {
		return 0
	}
	// A failed write means the client has gone: there is no one left to
	// tell, and the count says how much went out.
	n, _ := rw.Write(body)
	return n
}

// setHeader sets the canonical key to v, taking the value's slice from
// values, and returns values for the next one.
func setHeader(h http.Header, key, v string, values []string) []string {
	values = append(values, v)
	n := len(values)
	h[key] = values[n-1 : n : n]
	return values
}

func putBuffer(b *bytes.Buffer) {
	// A rare huge page must not stay pinned in the pool.
	if b.Cap() > 64<<10 {
		return
	}
	b.Reset()
	buffers.Put(b)
}

// appendPlain writes the one-line text body, e.g.
//
//	502 Bad Gateway: The backend server refused the connection. Request ID: 7f3a. Proxy-Status: portico; error=connection_refused
func appendPlain(dst []byte, p *page, requestID string, member string) []byte {
	dst = append(dst, p.plainPrefix...)
	if requestID != "" {
		dst = append(dst, " Request ID: "...)
		dst = appendPrintable(dst, requestID)
		dst = append(dst, '.')
	}
	if member != "" {
		// The member is printable ASCII by construction, so the body stays
		// one line.
		dst = append(dst, " Proxy-Status: "...)
		dst = append(dst, member...)
	}
	return append(dst, '\n')
}

// appendJSON writes RFC 9457 problem details with the request_id and
// proxy_status extension members (§3.2).
func appendJSON(dst []byte, p *page, fe *failure.Error, r *http.Request, requestID string, member string, detail proxystatus.Detail) []byte {
	dst = append(dst, p.jsonPrefix...)
	if detail == proxystatus.Full {
		if fe.Target != "" {
			dst = append(dst, " Next hop: "...)
			dst = appendJSONStringBody(dst, fe.Target)
			dst = append(dst, '.')
		}
		if fe.Details != "" {
			dst = append(dst, " Details: "...)
			dst = appendJSONStringBody(dst, bounded(fe.Details))
		}
	}
	dst = append(dst, '"')
	if path := r.URL.EscapedPath(); path != "" {
		dst = append(dst, `,"instance":`...)
		dst = appendJSONString(dst, path)
	}
	if requestID != "" {
		dst = append(dst, `,"request_id":`...)
		dst = appendJSONString(dst, requestID)
	}
	if member != "" {
		dst = append(dst, `,"proxy_status":`...)
		dst = appendJSONString(dst, member)
	}
	return append(dst, "}\n"...)
}

func (w *Writer) writeHTML(buf *bytes.Buffer, p *page, requestID string, retryAfter int) {
	data := p.data
	data.RequestID = requestID
	if retryAfter > 0 && data.RetryAfter > 0 {
		data.RetryAfter = retryAfter
	}
	start := buf.Len()
	if err := p.html.Execute(buf, data); err != nil && p.html != defaultPage {
		// An operator template that fails on this data must not cost the
		// visitor an answer: fall back to the built-in page.
		buf.Truncate(start)
		// The default page executes for every class; the tests check it.
		defaultPage.Execute(buf, data)
	}
}

func bounded(s string) string {
	if len(s) > maxDetailsLen {
		return s[:maxDetailsLen] + "..."
	}
	return s
}

// appendPrintable copies s, replacing anything but printable ASCII with '?'
// so that a request ID cannot break the one-line text body.
func appendPrintable(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		dst = append(dst, c)
	}
	return dst
}
