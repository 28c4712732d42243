package respond

import (
	"net/http"

	"github.com/portico-proxy/portico/internal/failure"
)

// explanation is how a failure is told to a person: a short headline and one
// plain sentence with no internal names or addresses in it.
type explanation struct {
	title   string
	message string
}

// explanations is the one table from class to plain words. The error pages,
// the problem+json detail, portico diagnose and docs/errors.md all read it.
var explanations = map[failure.Class]explanation{
	failure.DestinationNotFound:           {"Nothing here", "No service is configured at this address, so the request was not passed on."},
	failure.DestinationUnavailable:        {"Service unavailable", "Every backend server for this service is out of service at the moment, so the request was not sent."},
	failure.ConnectionLimitReached:        {"Service busy", "The service is handling as many requests as it can right now, so this one was not sent."},
	failure.ProxyInternalResponse:         {"Down for maintenance", "The service is down for scheduled maintenance."},
	failure.HTTPRequestError:              {"Bad request", "The request was malformed or ambiguous, so it was not passed on."},
	failure.HTTPRequestDenied:             {"Request denied", "An access rule of this service does not allow this request."},
	failure.ProxyLoopDetected:             {"Request loop", "The request came back to the proxy that had already forwarded it, so it was stopped instead of going round in circles."},
	failure.ProxyInternalError:            {"Internal proxy error", "The proxy in front of this service ran into an internal error while handling the request."},
	failure.DNSError:                      {"Backend name not found", "The name of the backend server could not be looked up."},
	failure.DNSTimeout:                    {"Backend name lookup timed out", "Looking up the name of the backend server took too long."},
	failure.ConnectionRefused:             {"Connection refused", "The backend server refused the connection."},
	failure.ConnectionTimeout:             {"Connection timed out", "The backend server did not accept a connection in time."},
	failure.DestinationIPUnroutable:       {"Backend unreachable", "There is no network route to the backend server."},
	failure.DestinationIPProhibited:       {"Backend address not allowed", "The backend server is at an address the proxy is not allowed to contact."},
	failure.TLSCertificateError:           {"Backend certificate rejected", "The backend server presented a security certificate that could not be trusted."},
	failure.TLSAlertReceived:              {"Secure connection aborted", "The backend server aborted the setup of a secure connection."},
	failure.TLSProtocolError:              {"Secure connection failed", "A secure connection to the backend server could not be set up."},
	failure.ConnectionWriteTimeout:        {"Backend stopped reading", "The backend server stopped reading the request before it was fully sent."},
	failure.ConnectionTerminated:          {"Connection closed early", "The backend server closed the connection without sending a response."},
	failure.ConnectionReadTimeout:         {"Backend timed out", "The backend server did not start its response in time."},
	failure.HTTPResponseTimeout:           {"Request timed out", "The request took longer than this service allows."},
	failure.HTTPProtocolError:             {"Invalid response", "The backend server sent a response that is not valid HTTP."},
	failure.HTTPResponseHeaderSectionSize: {"Response headers too large", "The backend server sent response headers larger than the proxy accepts."},
	failure.HTTPResponseHeaderSize:        {"Response header too large", "The backend server sent a response header larger than the proxy accepts."},
	failure.HTTPResponseTransferCoding:    {"Unsupported response coding", "The backend server sent its response in a transfer coding the proxy does not support."},
	failure.HTTPUpgradeFailed:             {"Protocol switch failed", "The backend server did not complete the switch to the requested protocol, such as WebSocket."},
	failure.HTTPResponseIncomplete:        {"Response incomplete", "The backend server stopped before sending the whole response."},
	failure.HTTPResponseBodySize:          {"Response too large", "The backend server sent a response larger than the proxy accepts."},
}

// statusExplanations cover the classes that answer with more than one
// status (failure.Error.StatusCode), where the status changes the story.
var statusExplanations = map[statusKey]explanation{
	{failure.HTTPRequestError, http.StatusRequestHeaderFieldsTooLarge}: {"Request headers too large", "The request's headers are larger than this service accepts, so it was not passed on."},
	{failure.HTTPRequestError, http.StatusRequestEntityTooLarge}:       {"Request too large", "The request's body is larger than this service accepts, so it was not passed on whole."},
	{failure.HTTPRequestDenied, http.StatusTooManyRequests}:            {"Too many requests", "Too many requests came from you in a short time, so this one was not passed on."},
}

type statusKey struct {
	class  failure.Class
	status int
}

// Explain returns the plain-words sentence for class c, as error pages and
// problem details give it: what happened, without internal names.
func Explain(c failure.Class) string { return explain(c, 0).message }

// ExplainStatus is Explain for a failure answered with the given status,
// which changes the sentence where one class has several statuses (429 for a
// rate limit, 413 for an oversize request body, 431 for oversize request
// headers).
func ExplainStatus(c failure.Class, status int) string { return explain(c, status).message }

func explain(c failure.Class, status int) explanation {
	if e, ok := statusExplanations[statusKey{c, status}]; ok {
		return e
	}
	if e, ok := explanations[c]; ok {
		return e
	}
	return explanations[failure.ProxyInternalError]
}
