package diagnose

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// RenderOptions tune the human form of a report.
type RenderOptions struct {
	// Color adds ANSI colours; set it only for a terminal.
	Color bool
}

// ANSI styles.
const (
	styleReset  = "\x1b[0m"
	styleBold   = "\x1b[1m"
	styleDim    = "\x1b[2m"
	styleRed    = "\x1b[31m"
	styleGreen  = "\x1b[32m"
	styleYellow = "\x1b[33m"
)

// Column widths of a step line: name, status, duration.
const (
	nameWidth     = 10
	statusWidth   = 7
	durationWidth = 8
)

// detailIndent lines details up under a step line's text.
var detailIndent = strings.Repeat(" ", nameWidth+1+statusWidth+1+durationWidth+2)

// printer writes lines, styled when colour is on. Write errors are kept
// and returned at the end, so the rendering code reads straight.
type printer struct {
	w     io.Writer
	color bool
	err   error
}

func (p *printer) style(style, s string) string {
	if !p.color || s == "" {
		return s
	}
	return style + s + styleReset
}

// line writes one line, without trailing blanks that padding for an
// empty last column would leave.
func (p *printer) line(format string, args ...any) {
	if p.err == nil {
		_, p.err = io.WriteString(p.w, strings.TrimRight(fmt.Sprintf(format, args...), " ")+"\n")
	}
}

// Render writes r for a person: one line per step with its time, the
// facts under it, then the verdict and the next step. The URL is not
// repeated: it is what the person just typed.
func Render(w io.Writer, r *Report, o RenderOptions) error {
	p := &printer{w: w, color: o.Color}
	renderDNS(p, r.DNS)
	renderTCP(p, r.TCP)
	renderTLS(p, r)
	renderHTTP(p, r.HTTP)
	renderKeepAlive(p, r.KeepAlive)
	p.line("")
	renderVerdict(p, r.Verdict)
	return p.err
}

// stepLine writes a step's first line: name, status, time and text.
func (p *printer) stepLine(name string, s *Step, text string) {
	status := string(s.Status)
	style := styleGreen
	switch s.Status {
	case StatusWarning:
		style = styleYellow
	case StatusFailed:
		style = styleRed
		status = "FAILED"
	}
	if s.Failure != nil {
		text = failureText(s.Failure)
	}
	p.line("%-*s %s %*s  %s", nameWidth, name, p.style(style, fmt.Sprintf("%-*s", statusWidth, status)),
		durationWidth, formatDuration(time.Duration(s.Duration)), text)
}

// skipped writes the line of a step that did not run.
func (p *printer) skipped(name, why string) {
	p.line("%-*s %s", nameWidth, name, p.style(styleDim, why))
}

// detail writes a fact under a step line.
func (p *printer) detail(format string, args ...any) {
	p.line(detailIndent+format, args...)
}

// findings writes a step's warnings and notes.
func (p *printer) findings(s *Step) {
	for _, w := range s.Warnings {
		p.detail("%s %s", p.style(styleYellow, "warning:"), w)
	}
	for _, n := range s.Notes {
		p.detail("%s %s", p.style(styleDim, "note:"), n)
	}
}

func failureText(f *Failure) string {
	text := f.Type
	keys := make([]string, 0, len(f.Params))
	for k := range f.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		text += fmt.Sprintf(" %s=%s", k, f.Param(k))
	}
	if f.Details != "" {
		text += ": " + f.Details
	}
	return text
}

func renderDNS(p *printer, s *DNSStep) {
	if s == nil {
		p.skipped("dns", "skipped")
		return
	}
	var text string
	switch s.Source {
	case "literal":
		text = s.Host + " is an IP address: nothing to resolve"
	case "hosts":
		text = s.Host + " → " + strings.Join(s.Addresses, ", ") + " from the hosts file"
	default:
		text = s.Host + " → " + strings.Join(s.Addresses, ", ") + " from " + s.Server
	}
	p.stepLine("dns", &s.Step, text)
	for _, q := range s.Questions {
		var answer string
		switch {
		case q.Error != "":
			answer = q.Error
		case len(q.Records) == 0 && q.Rcode == "NOERROR":
			answer = "no records"
		}
		var parts []string
		if len(q.CNAMEs) > 0 {
			parts = append(parts, "CNAME "+strings.Join(q.CNAMEs, " → "))
		}
		for _, rec := range q.Records {
			parts = append(parts, fmt.Sprintf("%s (TTL %ds)", rec.Address, rec.TTL))
		}
		if answer != "" {
			parts = append(parts, answer)
		}
		rcode := q.Rcode
		if rcode == "" {
			rcode = "-"
		}
		p.detail("%-4s  %-8s  %s", q.Type, rcode, strings.Join(parts, ", "))
	}
	p.findings(&s.Step)
}

func renderTCP(p *printer, s *TCPStep) {
	if s == nil {
		p.skipped("tcp", "skipped")
		return
	}
	text := "connected to " + s.Connected
	p.stepLine("tcp", &s.Step, text)
	if len(s.Attempts) > 1 {
		for _, a := range s.Attempts {
			result := "connected"
			if a.Failure != nil {
				result = a.Failure.Type
			}
			p.detail("%-*s  %*s  %s", addrWidth(s.Attempts), a.Address, durationWidth,
				formatDuration(time.Duration(a.Duration)), result)
		}
	}
	p.findings(&s.Step)
}

func addrWidth(attempts []DialAttempt) int {
	w := 0
	for _, a := range attempts {
		w = max(w, len(a.Address))
	}
	return w
}

func renderTLS(p *printer, r *Report) {
	s := r.TLS
	switch {
	case s == nil && r.Scheme == "http":
		p.skipped("tls", "not used (http://)")
		return
	case s == nil:
		p.skipped("tls", "skipped")
		return
	}
	text := fmt.Sprintf("%s, %s, ALPN %s, certificate verified for %s", s.Version, s.Cipher, orNone(s.ALPN), s.ServerName)
	p.stepLine("tls", &s.Step, text)
	if s.Check != "" {
		p.detail("failed check: %s", s.Check)
	}
	if len(s.Chain) > 0 {
		p.detail("chain as sent:")
	}
	for i, c := range s.Chain {
		marker := ""
		if s.FailedCertificate != nil && *s.FailedCertificate == i {
			marker = " " + p.style(styleRed, "← fails")
		}
		p.detail("%d  %s%s", i, c.Subject, marker)
		names := append(append([]string{}, c.DNSNames...), c.IPAddresses...)
		if len(names) > 0 {
			p.detail("   names   %s", strings.Join(names, ", "))
		}
		p.detail("   issuer  %s", c.Issuer)
		p.detail("   valid   %s to %s", c.NotBefore.Format(time.DateTime), c.NotAfter.Format(time.DateTime)+" UTC")
	}
	p.findings(&s.Step)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func renderHTTP(p *printer, s *HTTPStep) {
	if s == nil {
		p.skipped("http", "skipped")
		return
	}
	text := s.Request
	if s.StatusCode != 0 {
		text = fmt.Sprintf("%s %d %s, first byte after %s", s.Version, s.StatusCode, s.Reason, formatDuration(time.Duration(s.TimeToFirstByte)))
	}
	p.stepLine("http", &s.Step, text)
	if s.StatusCode == 0 {
		p.findings(&s.Step)
		return
	}
	p.detail("%s", s.Request)
	for _, code := range s.Interim {
		p.detail("interim %d", code)
	}
	for _, h := range s.Headers {
		p.detail("%s: %s", h.Name, clipValue(h.Value))
	}
	body := fmt.Sprintf("body: %d bytes, framing %s", s.BodyBytes, s.Framing)
	if s.BodyComplete {
		body += ", complete"
	}
	p.detail("%s", body)
	for _, m := range s.ProxyStatus {
		// The error first, then the other parameters by name.
		keys := make([]string, 0, len(m.Params))
		for k := range m.Params {
			if k != "error" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var params []string
		if m.Error != "" {
			params = append(params, "error="+m.Error)
		}
		for _, k := range keys {
			params = append(params, k+"="+m.Params[k])
		}
		p.detail("Proxy-Status from %s: %s", m.Name, strings.Join(params, "; "))
	}
	p.findings(&s.Step)
}

// clipValue keeps long header values to one readable line.
func clipValue(v string) string {
	const maxValue = 100
	if len(v) > maxValue {
		return v[:maxValue] + fmt.Sprintf("... (%d bytes)", len(v))
	}
	return v
}

func renderKeepAlive(p *printer, s *KeepAliveStep) {
	if s == nil {
		p.skipped("keep-alive", "skipped")
		return
	}
	var text string
	switch {
	case !s.Reusable:
		text = "the connection is not reused"
	case s.ClosedAfter != nil:
		text = "the server closed the idle connection after " + formatDuration(time.Duration(*s.ClosedAfter))
	default:
		text = "the idle connection stayed open for the whole " + formatDuration(time.Duration(s.Probe)) + " probe"
	}
	p.stepLine("keep-alive", &s.Step, text)
	p.findings(&s.Step)
}

func renderVerdict(p *printer, v Verdict) {
	const label = "%-8s "
	if v.Healthy {
		status := p.style(styleGreen, "healthy")
		if v.Warnings > 0 {
			status = p.style(styleYellow, "healthy")
		}
		p.line(label+"%s — %s", "verdict", status, v.Summary)
	} else {
		p.line(label+"%s — %s", "verdict", p.style(styleRed+styleBold, verdictKind(v)), v.Summary)
		if v.Type != "" {
			p.line(label+"clients get %d: %q", "", v.Status, v.Explanation)
		}
	}
	if v.Next != "" {
		p.line(label+"%s", "next", v.Next)
	}
}

// formatDuration shows a duration with a precision that suits its size.
func formatDuration(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// jsonReport is the JSON form: the report under a schema version.
type jsonReport struct {
	Schema int `json:"schema"`
	*Report
}

// JSON writes r as one indented JSON document, in the schema of
// docs/diagnose.md.
func JSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(jsonReport{Schema: SchemaVersion, Report: r})
}

// RenderConfig writes one verdict line per target, in config order:
// upstream, URL, error type (or healthy) and the summary.
func RenderConfig(w io.Writer, cr *ConfigReport, o RenderOptions) error {
	p := &printer{w: w, color: o.Color}
	upWidth, urlWidth, kindWidth := 0, 0, len("healthy")
	for _, r := range cr.Targets {
		upWidth = max(upWidth, len(r.Upstream))
		urlWidth = max(urlWidth, len(r.URL))
		kindWidth = max(kindWidth, len(verdictKind(r.Verdict)))
	}
	for _, r := range cr.Targets {
		v := r.Verdict
		style := styleGreen
		switch {
		case !v.Healthy:
			style = styleRed
		case v.Warnings > 0:
			style = styleYellow
		}
		p.line("%-*s  %-*s  %s  %s", upWidth, r.Upstream, urlWidth, r.URL,
			p.style(style, fmt.Sprintf("%-*s", kindWidth, verdictKind(v))), v.Summary)
	}
	return p.err
}

// verdictKind is the verdict in one word: healthy, the error type, or the
// status the server answered itself.
func verdictKind(v Verdict) string {
	switch {
	case v.Healthy:
		return "healthy"
	case v.Type != "":
		return v.Type
	}
	return fmt.Sprintf("received-status=%d", v.Status)
}

// JSONConfig writes cr as one indented JSON document.
func JSONConfig(w io.Writer, cr *ConfigReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Schema int `json:"schema"`
		*ConfigReport
	}{SchemaVersion, cr})
}
