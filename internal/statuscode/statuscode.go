// Package statuscode is the reference for the HTTP status codes portico
// answers with: what each means, who usually sends it, its common causes,
// the error types that make portico send it, and the names it goes by in
// code.
//
// The meanings are RFC 9110 (and RFC 6585 for 429 and 431) told in our
// own words; the error types come from the failure taxonomy, so the
// reference cannot drift from what portico actually does.
package statuscode

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/portico-proxy/portico/internal/failure"
	"github.com/portico-proxy/portico/internal/respond"
)

// Code is one status code's entry.
type Code struct {
	Code int `json:"code"`
	// Reason is the registered reason phrase, e.g. "Bad Gateway".
	Reason string `json:"reason"`
	// Spec is the section that defines the code.
	Spec string `json:"spec"`
	// Meaning says what the code means, in one or two sentences.
	Meaning string `json:"meaning"`
	// SentBy says who usually sends it, a proxy or the origin, and how to
	// tell which one did.
	SentBy string `json:"sent_by"`
	// Causes are the usual reasons behind it, most common first.
	Causes []string `json:"causes"`
	// ErrorTypes are the error types portico answers with this code, in
	// taxonomy order.
	ErrorTypes []ErrorType `json:"error_types"`
	// Names are the constants that name the code in languages and
	// frameworks.
	Names []Name `json:"names"`
}

// ErrorType is one of portico's error types (RFC 9209) and the sentence
// its error pages give for it.
type ErrorType struct {
	Class       failure.Class `json:"-"`
	Type        string        `json:"type"`
	Explanation string        `json:"explanation"`
}

// Name is what a language or framework calls a status code.
type Name struct {
	Where string `json:"where"`
	Name  string `json:"name"`
}

// entry is the hand-written part of a Code; the rest is derived.
type entry struct {
	spec, meaning, sentBy string
	causes                []string
	// extra are classes answered with this code through
	// failure.Error.StatusCode rather than their own status.
	extra []failure.Class
}

// proxyOrOrigin is how to tell a 5xx from portico from one it passed on.
const proxyOrOrigin = " When portico sends it, its Proxy-Status member names the error type; when it passes on an origin's own, it adds received-status instead."

var entries = map[int]entry{
	http.StatusBadRequest: {
		spec:    "RFC 9110 §15.5.1",
		meaning: "The server will not process the request because it sees a client error in it: bad syntax, invalid framing, or a message that could be read two ways.",
		sentBy:  "Whichever server first parses the request and rejects it: portico for requests it refuses to forward, otherwise the origin.",
		causes: []string{
			"bytes that are not allowed in the request line or a header",
			"both Content-Length and Transfer-Encoding, or two different Content-Lengths (request smuggling attempts)",
			"a missing or invalid Host header",
			"a body the application cannot parse (sent by the origin)",
		},
	},
	http.StatusForbidden: {
		spec:    "RFC 9110 §15.5.4",
		meaning: "The server understood the request and refuses to fulfil it; sending credentials again will not change that.",
		sentBy:  "Either: portico when an access rule denies the client, a firewall or WAF in front, or the origin's own permission checks.",
		causes: []string{
			"an IP allow or deny rule",
			"a web application firewall blocking the request",
			"the user lacks permission for the resource",
			"file permissions on a static file server",
		},
	},
	http.StatusNotFound: {
		spec:    "RFC 9110 §15.5.5",
		meaning: "The server has nothing at the target URL, or will not say whether it has.",
		sentBy:  "Usually the origin. portico sends it when no route matches the host and path, and then never contacts an upstream.",
		causes: []string{
			"a wrong path or host name",
			"no route for the host or path in the proxy's config",
			"a strip_prefix that removes more or less than the application expects",
			"the resource was deleted or moved",
		},
	},
	http.StatusTooManyRequests: {
		spec:    "RFC 6585 §4",
		meaning: "The client sent too many requests in a given time. Retry-After says when to try again.",
		sentBy:  "A rate limiter: portico, an API gateway, or the application itself.",
		causes: []string{
			"a client over its rate limit",
			"a retry loop without backoff",
			"many users behind one shared address (NAT, corporate proxy) counted as one client",
		},
		extra: []failure.Class{failure.HTTPRequestDenied},
	},
	http.StatusRequestEntityTooLarge: {
		spec:    "RFC 9110 §15.5.14",
		meaning: "The server refuses the request because its content is larger than it is willing or able to process.",
		sentBy:  "The first server on the path with a smaller body limit: portico's limits.request_body_bytes, or the application's own.",
		causes: []string{
			"an upload larger than the service accepts",
			"a client sending a file where a reference was expected",
			"a body limit set lower on one hop than on the others",
		},
		extra: []failure.Class{failure.HTTPRequestError},
	},
	http.StatusRequestHeaderFieldsTooLarge: {
		spec:    "RFC 6585 §5",
		meaning: "The server will not process the request because its header fields, one of them or all together, are too large.",
		sentBy:  "The first server on the path with a smaller header limit, often the proxy.",
		causes: []string{
			"cookies piled up for the domain",
			"a large token in Authorization (a JWT with many claims)",
			"a very long Referer or URL copied into a header",
		},
		extra: []failure.Class{failure.HTTPRequestError},
	},
	http.StatusInternalServerError: {
		spec:    "RFC 9110 §15.6.1",
		meaning: "The server met an unexpected condition that kept it from fulfilling the request.",
		sentBy:  "Almost always the origin application. portico sends it only for a fault of its own, which it logs with the request ID.",
		causes: []string{
			"an unhandled exception in the application",
			"a misconfiguration the application only notices per request",
			"a dependency (database, cache) failing in a way the application does not handle",
		},
	},
	http.StatusBadGateway: {
		spec:    "RFC 9110 §15.6.3",
		meaning: "A server acting as a gateway or proxy passed the request on and got back an invalid response, or none at all.",
		sentBy:  "A proxy, load balancer or CDN: the client reached it, it could not get a valid answer from the server behind it." + proxyOrOrigin,
		causes: []string{
			"the backend is down or not listening on the port (connection refused)",
			"the backend's name does not resolve",
			"the backend's TLS certificate is expired, untrusted or for another name",
			"the backend crashed or closed the connection before answering",
			"the backend closes idle keep-alive connections sooner than the proxy stops reusing them (sporadic 502s)",
			"the backend's answer is not valid HTTP: bad framing, oversized headers",
		},
	},
	http.StatusServiceUnavailable: {
		spec:    "RFC 9110 §15.6.4",
		meaning: "The server cannot handle the request right now, because of overload or maintenance; Retry-After may say for how long.",
		sentBy:  "Either: a proxy that chose not to forward (no healthy backend, a limit reached), or an origin shedding load." + proxyOrOrigin,
		causes: []string{
			"every backend of the pool failing its health checks",
			"a connection limit or queue full, or a circuit breaker open",
			"maintenance mode",
			"the application overloaded and shedding load",
		},
	},
	http.StatusGatewayTimeout: {
		spec:    "RFC 9110 §15.6.5",
		meaning: "A server acting as a gateway or proxy did not get an answer in time from the server behind it.",
		sentBy:  "A proxy, load balancer or CDN whose timeout ran out." + proxyOrOrigin,
		causes: []string{
			"a slow application: long queries, locks, a stuck worker",
			"a firewall silently dropping packets to the backend (connect timeout)",
			"a DNS server that does not answer",
			"timeouts set tighter than the application's slowest legitimate request",
		},
	},
}

// Java's java.net.HttpURLConnection names some codes its own way and
// lacks those RFC 6585 added.
var javaNames = map[int]string{
	http.StatusBadRequest:          "HTTP_BAD_REQUEST",
	http.StatusForbidden:           "HTTP_FORBIDDEN",
	http.StatusNotFound:            "HTTP_NOT_FOUND",
	http.StatusInternalServerError: "HTTP_INTERNAL_ERROR",
	http.StatusBadGateway:          "HTTP_BAD_GATEWAY",
	http.StatusServiceUnavailable:  "HTTP_UNAVAILABLE",
	http.StatusGatewayTimeout:      "HTTP_GATEWAY_TIMEOUT",
}

// Lookup returns the entry for code, if portico ever answers with it.
func Lookup(code int) (Code, bool) {
	e, ok := entries[code]
	if !ok {
		return Code{}, false
	}
	c := Code{
		Code:    code,
		Reason:  http.StatusText(code),
		Spec:    e.spec,
		Meaning: e.meaning,
		SentBy:  e.sentBy,
		Causes:  e.causes,
		Names:   names(code),
	}
	for _, class := range failure.Classes() {
		if class.Status() == code || slices.Contains(e.extra, class) {
			c.ErrorTypes = append(c.ErrorTypes, ErrorType{
				Class:       class,
				Type:        class.String(),
				Explanation: respond.ExplainStatus(class, code),
			})
		}
	}
	return c, true
}

// Codes returns every code portico answers with, in numeric order.
func Codes() []Code {
	codes := make([]int, 0, len(entries))
	for code := range entries {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	out := make([]Code, len(codes))
	for i, code := range codes {
		out[i], _ = Lookup(code)
	}
	return out
}

// names derives each language's constant from the reason phrase, which
// every one of them spells out in its own case convention.
func names(code int) []Name {
	words := strings.Fields(strings.ReplaceAll(http.StatusText(code), "-", " "))
	camel := strings.Join(words, "")
	upper := strings.ToUpper(strings.Join(words, "_"))
	out := []Name{
		{"Go", "http.Status" + camel},
		{"Python", "http.HTTPStatus." + upper},
	}
	if j, ok := javaNames[code]; ok {
		out = append(out, Name{"Java", "java.net.HttpURLConnection." + j})
	}
	return append(out,
		Name{".NET", "System.Net.HttpStatusCode." + camel},
		Name{"Rust", "http::StatusCode::" + upper},
		Name{"Spring", "org.springframework.http.HttpStatus." + upper},
		Name{"ASP.NET Core", "StatusCodes.Status" + strconv.Itoa(code) + camel},
		Name{"Rails", ":" + strings.ToLower(upper)},
		Name{"Symfony", "Response::HTTP_" + upper},
		Name{"Angular", "HttpStatusCode." + camel},
		Name{"Apache HttpComponents", "org.apache.hc.core5.http.HttpStatus.SC_" + upper},
	)
}
