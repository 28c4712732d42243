package diagnose

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/portico-proxy/portico/internal/failure"
)

// SchemaVersion is the version of the JSON form of a Report
// (docs/diagnose.md). It changes only when a field changes meaning or
// goes away; new fields may appear without it changing.
const SchemaVersion = 1

// Report is the outcome of checking one target: one entry per step, nil
// for a step that did not run (not applicable, or an earlier step failed),
// and the verdict.
type Report struct {
	URL string `json:"url"`
	// Scheme is "http" or "https".
	Scheme    string         `json:"scheme"`
	Upstream  string         `json:"upstream,omitempty"`
	DNS       *DNSStep       `json:"dns"`
	TCP       *TCPStep       `json:"tcp"`
	TLS       *TLSStep       `json:"tls"`
	HTTP      *HTTPStep      `json:"http"`
	KeepAlive *KeepAliveStep `json:"keep_alive"`
	Verdict   Verdict        `json:"verdict"`
}

// Status is how a step went.
type Status string

// The step statuses.
const (
	StatusOK      Status = "ok"
	StatusWarning Status = "warning"
	StatusFailed  Status = "failed"
)

// Step is what every step reports.
type Step struct {
	Status   Status   `json:"status"`
	Duration Millis   `json:"duration_ms"`
	Failure  *Failure `json:"error"`
	// Warnings are findings that do not break the chain but should be
	// fixed: a certificate about to expire, an address that refuses.
	Warnings []string `json:"warnings"`
	// Notes are neutral observations worth knowing.
	Notes []string `json:"notes"`
}

// newStep returns a step that has passed so far, with empty rather than
// null lists in JSON.
func newStep() Step {
	return Step{Status: StatusOK, Warnings: []string{}, Notes: []string{}}
}

func (s *Step) warn(msg string) {
	s.Warnings = append(s.Warnings, msg)
	if s.Status == StatusOK {
		s.Status = StatusWarning
	}
}

func (s *Step) note(msg string) { s.Notes = append(s.Notes, msg) }

// fail records the failure that ends the chain at this step.
func (s *Step) fail(fe *failure.Error) {
	s.Status = StatusFailed
	s.Failure = newFailure(fe)
}

// Failure is a classified failure as Proxy-Status would carry it.
type Failure struct {
	// Class is the RFC 9209 error type; Status the HTTP status portico
	// answers with for it.
	Class   failure.Class `json:"-"`
	Type    string        `json:"type"`
	Status  int           `json:"status"`
	Details string        `json:"details"`
	// Params are the class's Proxy-Status parameters: strings or integers.
	Params map[string]any `json:"params"`
}

func newFailure(fe *failure.Error) *Failure {
	f := &Failure{Class: fe.Class, Type: fe.Class.String(), Status: fe.Status(), Details: fe.Details, Params: map[string]any{}}
	for _, p := range fe.Params {
		if p.Kind == failure.Integer {
			f.Params[p.Key] = p.Int
		} else {
			f.Params[p.Key] = p.Value
		}
	}
	return f
}

// Param returns the string form of parameter key, "" when absent.
func (f *Failure) Param(key string) string {
	switch v := f.Params[key].(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return ""
}

// Millis is a duration that appears in JSON as milliseconds, with
// microsecond precision.
type Millis time.Duration

// MarshalJSON writes the duration in milliseconds.
func (m Millis) MarshalJSON() ([]byte, error) {
	return json.Marshal(float64(time.Duration(m).Microseconds()) / 1000)
}

// DNSStep is the name lookup.
type DNSStep struct {
	Step
	Host string `json:"host"`
	// Source is "literal" (an IP in the URL), "hosts" (the hosts file) or
	// "dns".
	Source string `json:"source"`
	// Server is the DNS server that answered, IP:port.
	Server string `json:"server,omitempty"`
	// Addresses are what the proxy would connect to, in its order.
	Addresses []string `json:"addresses"`
	// Questions are the A and AAAA questions put to Server, asked one by
	// one so that each family's answer shows.
	Questions []Question `json:"questions"`
}

// Question is one DNS question and its answer.
type Question struct {
	Type    string   `json:"type"`
	Rcode   string   `json:"rcode,omitempty"`
	CNAMEs  []string `json:"cnames"`
	Records []Record `json:"records"`
	// Error is a failure to get any answer (a timeout, a malformed reply).
	Error string `json:"error,omitempty"`
}

// Record is one address record.
type Record struct {
	Address string `json:"address"`
	TTL     uint32 `json:"ttl_s"`
}

// TCPStep is the connection to every address.
type TCPStep struct {
	Step
	Attempts []DialAttempt `json:"attempts"`
	// Connected is the address the following steps use: the first that
	// accepted, in the order the proxy tries them.
	Connected string `json:"connected,omitempty"`
}

// DialAttempt is one connection attempt.
type DialAttempt struct {
	Address  string   `json:"address"`
	Duration Millis   `json:"duration_ms"`
	Failure  *Failure `json:"error"`
}

// TLSStep is the handshake.
type TLSStep struct {
	Step
	ServerName string `json:"server_name"`
	// Version, Cipher and ALPN are set when the handshake completed.
	Version string `json:"version,omitempty"`
	Cipher  string `json:"cipher,omitempty"`
	ALPN    string `json:"alpn,omitempty"`
	// Chain is the certificates as the server sent them, leaf first.
	Chain []Certificate `json:"chain"`
	// Check names the check that failed, one of the Check constants, and
	// FailedCertificate the index in Chain of the certificate it failed
	// on, when it failed on one.
	Check             string `json:"check,omitempty"`
	FailedCertificate *int   `json:"failed_certificate"`
}

// The TLS checks that can fail.
const (
	CheckExpired          = "expired"
	CheckNotYetValid      = "not_yet_valid"
	CheckNameMismatch     = "name_mismatch"
	CheckSelfSigned       = "self_signed"
	CheckUntrustedRoot    = "untrusted_root"
	CheckUnknownIssuer    = "unknown_issuer"
	CheckIncompleteChain  = "incomplete_chain"
	CheckOtherCertificate = "certificate"
	CheckAlert            = "alert"
	CheckPlainHTTP        = "plain_http"
	CheckHandshake        = "handshake"
)

// Certificate is one certificate of a chain.
type Certificate struct {
	Subject     string    `json:"subject"`
	Issuer      string    `json:"issuer"`
	DNSNames    []string  `json:"dns_names"`
	IPAddresses []string  `json:"ip_addresses"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
	IsCA        bool      `json:"is_ca"`
}

// HTTPStep is one GET and its response.
type HTTPStep struct {
	Step
	// Request is the request line sent.
	Request string `json:"request"`
	// TimeToFirstByte runs from the request sent to the first response
	// byte.
	TimeToFirstByte Millis `json:"ttfb_ms"`
	// Version, StatusCode and Reason are the final status line's.
	Version    string   `json:"version,omitempty"`
	StatusCode int      `json:"status_code,omitempty"`
	Reason     string   `json:"reason,omitempty"`
	Headers    []Header `json:"headers"`
	// Interim are the 1xx statuses received before the final one.
	Interim []int `json:"interim"`
	// Framing is how the body is delimited: no-body, length, chunked or
	// until-close.
	Framing string `json:"framing,omitempty"`
	// BodyBytes were read; BodyComplete is true when the body was read to
	// its end.
	BodyBytes    int64 `json:"body_bytes"`
	BodyComplete bool  `json:"body_complete"`
	// ProxyStatus is the decoded Proxy-Status field, from the member
	// nearest the origin to the one nearest this client.
	ProxyStatus []ProxyStatusMember `json:"proxy_status"`
}

// Header is one field line as received.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ProxyStatusMember is one intermediary's entry in Proxy-Status.
type ProxyStatusMember struct {
	Name string `json:"name"`
	// Error is the error type, "" when the member names none.
	Error string `json:"error,omitempty"`
	// Params holds every parameter, error included, as text.
	Params map[string]string `json:"params"`
}

// KeepAliveStep watches the connection after the response.
type KeepAliveStep struct {
	Step
	// Reusable is false when the server ends the connection after the
	// response (Connection: close, a close-delimited body, HTTP/1.0).
	Reusable bool `json:"reusable"`
	// Probe is how long the idle connection was watched; ClosedAfter, when
	// set, is when the server closed it.
	Probe       Millis  `json:"probe_ms"`
	ClosedAfter *Millis `json:"closed_after_ms"`
	// ProxyIdleTimeout is how long portico keeps an idle connection for
	// reuse; 0 is forever.
	ProxyIdleTimeout Millis `json:"proxy_idle_timeout_ms"`
}

// Verdict is the one-line answer.
type Verdict struct {
	// Healthy is true when every step passed (warnings allowed).
	Healthy bool `json:"healthy"`
	// Type is the RFC 9209 error type of the failure, "" when healthy or
	// when the server itself answered with an error status.
	Type string `json:"error"`
	// Status is what clients get from portico: the failure's status, or
	// the server's own when it answered 5xx itself. 0 when healthy.
	Status int `json:"status"`
	// Step is the step where the chain broke: dns, tcp, tls, http or
	// keep_alive.
	Step string `json:"step,omitempty"`
	// Summary says precisely what is wrong, or that nothing is.
	Summary string `json:"summary"`
	// Explanation is the plain sentence clients read on the error page.
	Explanation string `json:"explanation,omitempty"`
	// Next is the step to take.
	Next string `json:"next,omitempty"`
	// Warnings counts the warnings of all steps.
	Warnings int `json:"warnings"`
}

// steps returns the steps that ran, with their names, in order.
func (r *Report) steps() []namedStep {
	var out []namedStep
	if r.DNS != nil {
		out = append(out, namedStep{"dns", &r.DNS.Step})
	}
	if r.TCP != nil {
		out = append(out, namedStep{"tcp", &r.TCP.Step})
	}
	if r.TLS != nil {
		out = append(out, namedStep{"tls", &r.TLS.Step})
	}
	if r.HTTP != nil {
		out = append(out, namedStep{"http", &r.HTTP.Step})
	}
	if r.KeepAlive != nil {
		out = append(out, namedStep{"keep_alive", &r.KeepAlive.Step})
	}
	return out
}

type namedStep struct {
	name string
	*Step
}
