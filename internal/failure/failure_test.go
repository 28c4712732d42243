package failure

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

// TestClassTable pins every class to its RFC 9209 token and to the status
// the failure taxonomy gives it; a change here is a change of contract.
func TestClassTable(t *testing.T) {
	want := map[Class]struct {
		token  string
		status int
	}{
		DestinationNotFound:           {"destination_not_found", 404},
		DestinationUnavailable:        {"destination_unavailable", 503},
		ConnectionLimitReached:        {"connection_limit_reached", 503},
		ProxyInternalResponse:         {"proxy_internal_response", 503},
		HTTPRequestError:              {"http_request_error", 400},
		HTTPRequestDenied:             {"http_request_denied", 403},
		ProxyLoopDetected:             {"proxy_loop_detected", 502},
		ProxyInternalError:            {"proxy_internal_error", 500},
		DNSError:                      {"dns_error", 502},
		DNSTimeout:                    {"dns_timeout", 504},
		ConnectionRefused:             {"connection_refused", 502},
		ConnectionTimeout:             {"connection_timeout", 504},
		DestinationIPUnroutable:       {"destination_ip_unroutable", 502},
		DestinationIPProhibited:       {"destination_ip_prohibited", 502},
		TLSCertificateError:           {"tls_certificate_error", 502},
		TLSAlertReceived:              {"tls_alert_received", 502},
		TLSProtocolError:              {"tls_protocol_error", 502},
		ConnectionWriteTimeout:        {"connection_write_timeout", 504},
		ConnectionTerminated:          {"connection_terminated", 502},
		ConnectionReadTimeout:         {"connection_read_timeout", 504},
		HTTPResponseTimeout:           {"http_response_timeout", 504},
		HTTPProtocolError:             {"http_protocol_error", 502},
		HTTPResponseHeaderSectionSize: {"http_response_header_section_size", 502},
		HTTPResponseHeaderSize:        {"http_response_header_size", 502},
		HTTPResponseTransferCoding:    {"http_response_transfer_coding", 502},
		HTTPUpgradeFailed:             {"http_upgrade_failed", 502},
		HTTPResponseIncomplete:        {"http_response_incomplete", 0},
		HTTPResponseBodySize:          {"http_response_body_size", 0},
	}
	if got := len(Classes()); got != len(want) {
		t.Fatalf("%d classes, the table has %d", got, len(want))
	}
	for _, c := range Classes() {
		w, ok := want[c]
		if !ok {
			t.Errorf("class %d (%s) is not in the contract", c, c)
			continue
		}
		if c.String() != w.token || c.Status() != w.status {
			t.Errorf("class %d: %s %d, want %s %d", c, c, c.Status(), w.token, w.status)
		}
		if back, ok := ParseClass(w.token); !ok || back != c {
			t.Errorf("ParseClass(%q) = %v, %v", w.token, back, ok)
		}
	}
}

func TestStatusOverridesAndRetryAfter(t *testing.T) {
	cases := []struct {
		name       string
		e          *Error
		status     int
		retryAfter bool
	}{
		{"plain 502", &Error{Class: ConnectionRefused}, 502, false},
		{"503 asks to come back", &Error{Class: DestinationUnavailable}, 503, true},
		{"oversize request head is 431", &Error{Class: HTTPRequestError, StatusCode: 431}, 431, false},
		{"rate limit is 429 and asks to come back", &Error{Class: HTTPRequestDenied, StatusCode: 429}, 429, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.e.Status() != tc.status || tc.e.RetryAfter() != tc.retryAfter {
				t.Errorf("status %d retry %v, want %d %v", tc.e.Status(), tc.e.RetryAfter(), tc.status, tc.retryAfter)
			}
		})
	}
}

func TestClassIsFoundThroughWrapping(t *testing.T) {
	cause := io.ErrUnexpectedEOF
	err := fmt.Errorf("relaying: %w", New(HTTPResponseIncomplete, PhaseReadBody, cause))
	if ClassOf(err) != HTTPResponseIncomplete || !errors.Is(err, cause) {
		t.Errorf("class %s, cause kept %v", ClassOf(err), errors.Is(err, cause))
	}
	if ClassOf(nil) != None || ClassOf(errors.New("unclassified")) != ProxyInternalError {
		t.Errorf("nil or unclassified errors misread")
	}
}
