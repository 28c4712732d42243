// Package faults runs loopback upstreams that misbehave in each way the
// failure taxonomy names, so the proxy's failure answers can be exercised
// against real sockets in tests, in diagnostics and in the embedded demo.
//
// Every server binds 127.0.0.1 (or ::1) on a port the kernel picks, and every
// one stops promptly on Close, including handlers that are deliberately
// stalled.
package faults

import (
	"slices"
	"strconv"
)

// Behavior is how a Server answers each request it reads.
type Behavior uint8

// The behaviours. Unless a comment says otherwise, the server reads the whole
// request (head and body) before it misbehaves, so the fault shows up while
// the client reads the response, not while it writes the request.
const (
	// OK answers 200 with a short text body and keeps the connection alive.
	// It echoes the request in response headers: X-Echo-Method, X-Echo-Path
	// (the escaped path), X-Echo-Target (the request target as received),
	// X-Echo-Host and X-Echo-Body-Length. If the request carries an
	// X-Echo-Headers field, each request header field also comes back as
	// X-Echo-Header-<Name>, one line per value.
	OK Behavior = iota
	// Echo streams the request body back as a chunked response body, each
	// piece flushed as soon as it is read.
	Echo
	// CloseBeforeHead closes the connection without sending a byte.
	CloseBeforeHead
	// ResetBeforeHead aborts the connection with a TCP RST, sending nothing.
	ResetBeforeHead
	// Silent never answers; the connection stays open until the client or
	// the server closes it.
	Silent
	// SlowHead answers like OK after Options.Delay.
	SlowHead
	// Garbage answers bytes that are not HTTP at all, then closes.
	Garbage
	// HTTP09 answers a bare body without a status line, as HTTP/0.9 did.
	HTTP09
	// BadStatusLine answers a status line whose code is not three digits.
	BadStatusLine
	// BadHeaderSyntax answers a header section holding a line without a colon.
	BadHeaderSyntax
	// ObsFold answers a header field continued on the next line by obsolete
	// line folding, which RFC 9112 §5.2 tells a proxy to reject or unfold.
	ObsFold
	// ConflictingContentLength answers two Content-Length fields that differ:
	// the framing is ambiguous (RFC 9112 §6.3).
	ConflictingContentLength
	// ContentLengthWithTransferEncoding answers both Transfer-Encoding:
	// chunked and Content-Length, the classic response smuggling shape.
	ContentLengthWithTransferEncoding
	// UnknownTransferCoding answers Transfer-Encoding: UnknownCoding.
	UnknownTransferCoding
	// HeaderSectionTooLarge answers many header fields of about 1 KiB each,
	// Options.HeaderSectionSize bytes in all.
	HeaderSectionTooLarge
	// HeaderTooLarge answers one HugeHeaderName field whose value is
	// Options.HeaderSize bytes.
	HeaderTooLarge
	// TruncatedBody announces Content-Length: 100, sends 10 bytes and closes.
	TruncatedBody
	// ResetMidBody announces Content-Length: 100, sends 10 bytes and resets.
	ResetMidBody
	// BadChunk answers a chunked body whose second chunk-size line is not hex.
	BadChunk
	// StallMidBody announces Content-Length: 100, sends 10 bytes and then
	// nothing more until the client or the server closes.
	StallMidBody
	// StopsReadingBody reads the request head, shrinks its receive buffer and
	// never reads the body, so a large upload blocks its writer. It never
	// answers, and closes the connection after five minutes.
	StopsReadingBody
	// UpgradeRefused answers a WebSocket upgrade request with a plain 200.
	UpgradeRefused
	// UpgradeBotched answers 101 with a Sec-WebSocket-Accept that does not
	// match the request's key (RFC 6455 §4.2.2).
	UpgradeBotched
	// UpgradeOK completes a WebSocket handshake with a correct 101, then
	// echoes whatever bytes arrive, without framing, until either side closes.
	UpgradeOK
	// Origin502 answers a well-formed 502 carrying the origin's own
	// Proxy-Status: origin; error=connection_refused.
	Origin502
	// EarlyHints sends a 103 with a Link field, then answers like OK.
	EarlyHints
	// CloseDelimited answers a body with no length and ends it by closing the
	// connection (RFC 9112 §6.3, rule 8).
	CloseDelimited
	// Trailers answers a chunked body followed by the trailer field
	// TrailerName: TrailerValue.
	Trailers
	// NoContent204 answers 204 No Content.
	NoContent204
	// CustomStatus answers CustomStatusCode with the reason CustomReason.
	CustomStatus
	// ManySetCookie answers SetCookieCount valid Set-Cookie fields, about
	// 40 KiB in all, which a proxy must pass through unchanged.
	ManySetCookie
	// SSE answers a text/event-stream: one event at once, then one more each
	// time Server.Tick is called or Options.EventInterval passes, until the
	// connection closes.
	SSE
	// ByPath picks the behaviour per request from a path of the form
	// PathPrefix+name, where name is accepted by ParseBehavior, and answers
	// like OK for every other path. An unknown name gets a 404 listing the
	// known ones.
	ByPath

	numBehaviors
)

// PathPrefix is the path under which a ByPath server takes behaviour names.
const PathPrefix = "/demo/fail/"

// Details of individual behaviours, exported for assertions.
const (
	// UnknownCoding is the transfer coding UnknownTransferCoding answers.
	UnknownCoding = "x-portico-unknown"
	// HugeHeaderName is the field HeaderTooLarge makes too large.
	HugeHeaderName = "X-Huge"
	// TrailerName and TrailerValue are the trailer field Trailers sends.
	TrailerName  = "X-Checksum"
	TrailerValue = "end-of-body"
	// CustomStatusCode and CustomReason make the status line of CustomStatus.
	CustomStatusCode = 299
	CustomReason     = "Custom Reason"
	// SetCookieCount is how many Set-Cookie fields ManySetCookie sends.
	SetCookieCount = 100
	// EarlyHintsLink is the Link field of the 103 that EarlyHints sends.
	EarlyHintsLink = "</style.css>; rel=preload; as=style"
	// OriginProxyStatus is the Proxy-Status field Origin502 sends.
	OriginProxyStatus = "origin; error=connection_refused"
)

// behaviorNames are the canonical names, indexed by Behavior.
var behaviorNames = [numBehaviors]string{
	OK:                                "ok",
	Echo:                              "echo",
	CloseBeforeHead:                   "close-before-head",
	ResetBeforeHead:                   "reset-before-head",
	Silent:                            "silent",
	SlowHead:                          "slow-head",
	Garbage:                           "garbage",
	HTTP09:                            "http09",
	BadStatusLine:                     "bad-status-line",
	BadHeaderSyntax:                   "bad-header-syntax",
	ObsFold:                           "obs-fold",
	ConflictingContentLength:          "conflicting-content-length",
	ContentLengthWithTransferEncoding: "content-length-with-transfer-encoding",
	UnknownTransferCoding:             "unknown-transfer-coding",
	HeaderSectionTooLarge:             "header-section-too-large",
	HeaderTooLarge:                    "header-too-large",
	TruncatedBody:                     "truncated-body",
	ResetMidBody:                      "reset-mid-body",
	BadChunk:                          "bad-chunk",
	StallMidBody:                      "stall-mid-body",
	StopsReadingBody:                  "stops-reading-body",
	UpgradeRefused:                    "upgrade-refused",
	UpgradeBotched:                    "upgrade-botched",
	UpgradeOK:                         "upgrade-ok",
	Origin502:                         "origin-502",
	EarlyHints:                        "early-hints",
	CloseDelimited:                    "close-delimited",
	Trailers:                          "trailers",
	NoContent204:                      "no-content",
	CustomStatus:                      "custom-status",
	ManySetCookie:                     "many-set-cookie",
	SSE:                               "sse",
	ByPath:                            "by-path",
}

// behaviorAliases are the short names the demo's URLs use, mapped to the
// behaviour they stand for.
var behaviorAliases = map[string]Behavior{
	"close":     CloseBeforeHead,
	"reset":     ResetBeforeHead,
	"timeout":   Silent,
	"slow":      SlowHead,
	"truncated": TruncatedBody,
	"stall":     StallMidBody,
}

// String returns the behaviour's canonical name, as ParseBehavior accepts it.
func (b Behavior) String() string {
	if b < numBehaviors {
		return behaviorNames[b]
	}
	return "behavior(" + strconv.Itoa(int(b)) + ")"
}

// BehaviorNames returns the names a ByPath server accepts after PathPrefix:
// every behaviour's canonical name except ByPath's own, then the aliases,
// sorted.
func BehaviorNames() []string {
	names := make([]string, 0, int(numBehaviors)+len(behaviorAliases))
	for b := range numBehaviors {
		if b != ByPath {
			names = append(names, behaviorNames[b])
		}
	}
	for alias := range behaviorAliases {
		names = append(names, alias)
	}
	slices.Sort(names)
	return names
}

// ParseBehavior returns the behaviour with the given canonical name or alias.
func ParseBehavior(name string) (Behavior, bool) {
	if b, ok := behaviorAliases[name]; ok {
		return b, true
	}
	for b := range numBehaviors {
		if behaviorNames[b] == name {
			return b, true
		}
	}
	return 0, false
}
