// Package failure defines the typed failures a proxied request can end in:
// one Class per RFC 9209 proxy error type, and the Error value that carries
// that class, with its parameters, from the place the failure is detected to
// the response writer, the access log and the metrics.
package failure

import (
	"errors"
	"net/http"
)

// Class is a failure's place in the taxonomy (docs/errors.md). Its String is
// the RFC 9209 error type sent in Proxy-Status and logged as the cause.
type Class uint8

// The classes, in the order of the taxonomy's tables.
const (
	None Class = iota

	// Before an upstream is contacted.
	DestinationNotFound
	DestinationUnavailable
	ConnectionLimitReached
	ProxyInternalResponse
	HTTPRequestError
	HTTPRequestDenied
	ProxyLoopDetected
	ProxyInternalError

	// Reaching the upstream.
	DNSError
	DNSTimeout
	ConnectionRefused
	ConnectionTimeout
	DestinationIPUnroutable
	DestinationIPProhibited
	TLSCertificateError
	TLSAlertReceived
	TLSProtocolError

	// Sending the request and reading the response head.
	ConnectionWriteTimeout
	ConnectionTerminated
	ConnectionReadTimeout
	HTTPResponseTimeout
	HTTPProtocolError
	HTTPResponseHeaderSectionSize
	HTTPResponseHeaderSize
	HTTPResponseTransferCoding
	HTTPUpgradeFailed

	// After the response head has gone to the client.
	HTTPResponseIncomplete
	HTTPResponseBodySize

	numClasses
)

type classInfo struct {
	token  string
	status int
}

// classes is the one table from class to RFC 9209 token and HTTP status.
// Mid-body classes carry status 0: the status has already been sent.
var classes = [numClasses]classInfo{
	None:                          {"", 0},
	DestinationNotFound:           {"destination_not_found", http.StatusNotFound},
	DestinationUnavailable:        {"destination_unavailable", http.StatusServiceUnavailable},
	ConnectionLimitReached:        {"connection_limit_reached", http.StatusServiceUnavailable},
	ProxyInternalResponse:         {"proxy_internal_response", http.StatusServiceUnavailable},
	HTTPRequestError:              {"http_request_error", http.StatusBadRequest},
	HTTPRequestDenied:             {"http_request_denied", http.StatusForbidden},
	ProxyLoopDetected:             {"proxy_loop_detected", http.StatusBadGateway},
	ProxyInternalError:            {"proxy_internal_error", http.StatusInternalServerError},
	DNSError:                      {"dns_error", http.StatusBadGateway},
	DNSTimeout:                    {"dns_timeout", http.StatusGatewayTimeout},
	ConnectionRefused:             {"connection_refused", http.StatusBadGateway},
	ConnectionTimeout:             {"connection_timeout", http.StatusGatewayTimeout},
	DestinationIPUnroutable:       {"destination_ip_unroutable", http.StatusBadGateway},
	DestinationIPProhibited:       {"destination_ip_prohibited", http.StatusBadGateway},
	TLSCertificateError:           {"tls_certificate_error", http.StatusBadGateway},
	TLSAlertReceived:              {"tls_alert_received", http.StatusBadGateway},
	TLSProtocolError:              {"tls_protocol_error", http.StatusBadGateway},
	ConnectionWriteTimeout:        {"connection_write_timeout", http.StatusGatewayTimeout},
	ConnectionTerminated:          {"connection_terminated", http.StatusBadGateway},
	ConnectionReadTimeout:         {"connection_read_timeout", http.StatusGatewayTimeout},
	HTTPResponseTimeout:           {"http_response_timeout", http.StatusGatewayTimeout},
	HTTPProtocolError:             {"http_protocol_error", http.StatusBadGateway},
	HTTPResponseHeaderSectionSize: {"http_response_header_section_size", http.StatusBadGateway},
	HTTPResponseHeaderSize:        {"http_response_header_size", http.StatusBadGateway},
	HTTPResponseTransferCoding:    {"http_response_transfer_coding", http.StatusBadGateway},
	HTTPUpgradeFailed:             {"http_upgrade_failed", http.StatusBadGateway},
	HTTPResponseIncomplete:        {"http_response_incomplete", 0},
	HTTPResponseBodySize:          {"http_response_body_size", 0},
}

// String returns the RFC 9209 error type, e.g. "connection_refused".
func (c Class) String() string {
	if c >= numClasses {
		return "proxy_internal_error"
	}
	return classes[c].token
}

// Status returns the HTTP status portico answers with for this class, or 0
// for classes that only occur after the response head was sent.
func (c Class) Status() int {
	if c >= numClasses {
		return http.StatusInternalServerError
	}
	return classes[c].status
}

// Classes returns every class except None, in taxonomy order.
func Classes() []Class {
	out := make([]Class, 0, numClasses-1)
	for c := None + 1; c < numClasses; c++ {
		out = append(out, c)
	}
	return out
}

// ParseClass returns the class whose RFC 9209 token is s.
func ParseClass(s string) (Class, bool) {
	for c := None + 1; c < numClasses; c++ {
		if classes[c].token == s {
			return c, true
		}
	}
	return None, false
}

// Phase says where in a request's life a failure was detected.
type Phase uint8

// The phases, in the order a request passes them, except PhaseReadRequest:
// it comes first but is numbered last, so that an Error built without a
// Phase keeps meaning PhaseRoute.
const (
	PhaseRoute Phase = iota
	PhasePolicy
	PhaseResolve
	PhaseConnect
	PhaseTLS
	PhaseWriteRequest
	PhaseReadHead
	PhaseReadBody
	PhaseInternal
	// PhaseReadRequest is reading the client's request head or body, before
	// and while it is forwarded.
	PhaseReadRequest
)

var phaseNames = [...]string{"route", "policy", "resolve", "connect", "tls", "write_request", "read_head", "read_body", "internal", "read_request"}

func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return "unknown"
}

// ParamKind says how a parameter is serialised as a structured field
// (RFC 9651 §3.3): as a quoted string, a token, or an integer.
type ParamKind uint8

// The parameter kinds.
const (
	String ParamKind = iota
	Token
	Integer
)

// Param is one Proxy-Status parameter beyond error, next-hop and details,
// e.g. rcode="NXDOMAIN", alert-id=42, header-name="set-cookie".
type Param struct {
	Key   string
	Value string
	Int   int64
	Kind  ParamKind
}

// StringParam returns a string-valued parameter.
func StringParam(key, value string) Param { return Param{Key: key, Value: value, Kind: String} }

// IntParam returns an integer-valued parameter.
func IntParam(key string, v int64) Param { return Param{Key: key, Int: v, Kind: Integer} }

// Error is a classified failure. It is created where the failure is detected
// and read, never reclassified, by everything after.
type Error struct {
	Class Class
	Phase Phase
	// Upstream is the pool's name and Target the next hop (host:port), when
	// known.
	Upstream string
	Target   string
	// RequestWritten is true once any byte of the request may have reached
	// the upstream: such a request is retried only if it is idempotent.
	RequestWritten bool
	// Details is a human sentence for operators; Params are the
	// class-specific Proxy-Status parameters.
	Details string
	Params  []Param
	// StatusCode, when set, overrides the class's status where one class
	// answers with several (431 for oversize request headers, 429 for rate
	// limits).
	StatusCode int
	// RetryAfterSeconds, when more than 0, is the Retry-After the answer
	// should carry instead of the writer's default (RFC 9110 §10.2.3): the
	// seconds until a rate-limit token is free, until an ejected target
	// returns, or the route's maintenance_retry_after.
	RetryAfterSeconds int
	// Err is the underlying cause.
	Err error
}

func (e *Error) Error() string {
	msg := e.Class.String()
	if e.Target != "" {
		msg += " to " + e.Target
	}
	switch {
	case e.Details != "":
		msg += ": " + e.Details
	case e.Err != nil:
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Status is the HTTP status this failure answers with.
func (e *Error) Status() int {
	if e.StatusCode != 0 {
		return e.StatusCode
	}
	return e.Class.Status()
}

// Param returns the parameter named key.
func (e *Error) Param(key string) (Param, bool) {
	for _, p := range e.Params {
		if p.Key == key {
			return p, true
		}
	}
	return Param{}, false
}

// New returns an Error of class c detected in phase p, caused by err; its
// details default to err's text.
func New(c Class, p Phase, err error) *Error {
	e := &Error{Class: c, Phase: p, Err: err}
	if err != nil {
		e.Details = err.Error()
	}
	return e
}

// Newf returns an Error of class c with the given details and no cause.
func Newf(c Class, p Phase, details string) *Error {
	return &Error{Class: c, Phase: p, Details: details}
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var fe *Error
	if errors.As(err, &fe) {
		return fe, true
	}
	return nil, false
}

// ClassOf returns the class of err: None for nil, ProxyInternalError for an
// error that carries no class, since every failure portico can name is
// classified where it is detected.
func ClassOf(err error) Class {
	if err == nil {
		return None
	}
	if fe, ok := As(err); ok {
		return fe.Class
	}
	return ProxyInternalError
}

// RetryAfter reports whether the answer carries Retry-After: the 503s and
// 429s, where the proxy itself chose not to forward and the client may come
// back later.
func (e *Error) RetryAfter() bool {
	s := e.Status()
	return s == http.StatusServiceUnavailable || s == http.StatusTooManyRequests
}
