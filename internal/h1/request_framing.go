package h1

import (
	"net/http"
	"net/netip"
	"strings"
)

// frame reads Host, Content-Length, Transfer-Encoding, Connection, Expect
// and Upgrade, and refuses every combination two parsers could frame
// differently: that disagreement is request smuggling (RFC 9112 §11.2).
func (h *RequestHead) frame() error {
	var contentLength, upgrade string
	var sawCL, sawTE, sawHost, sawUpgrade, keepAlive, connectionUpgrade, expectContinue bool
	var te transferCodings
	for _, f := range h.Fields {
		if !maybeRequestFramingField[len(f.Name)&31] {
			continue
		}
		switch {
		case equalFoldASCII(f.Name, "host"):
			if sawHost {
				// RFC 9112 §3.2: more than one Host field is answered 400.
				return badRequest("more than one Host field")
			}
			if f.Value != "" {
				if problem := checkAuthority(f.Value, false); problem != "" {
					return badRequest("invalid Host %q: %s", clip(f.Value, 64), problem)
				}
			}
			sawHost, h.Host = true, f.Value
		case equalFoldASCII(f.Name, "content-length"):
			// RFC 9110 §8.6 lets a recipient take identical repeated values
			// as one; any difference, a list included, is ambiguous.
			if sawCL && f.Value != contentLength {
				return badRequest("multiple Content-Length fields with different values (request smuggling)")
			}
			n, ok := parseContentLength(f.Value)
			if !ok {
				return badRequest("invalid Content-Length %q", clip(f.Value, 40))
			}
			sawCL, contentLength, h.ContentLength = true, f.Value, n
		case equalFoldASCII(f.Name, "transfer-encoding"):
			sawTE = true
			te.add(f.Value)
		case equalFoldASCII(f.Name, "connection"):
			for opt := range listElements(f.Value) {
				switch {
				case equalFoldASCII(opt, "close"):
					h.Close = true
				case equalFoldASCII(opt, "keep-alive"):
					keepAlive = true
				case equalFoldASCII(opt, "upgrade"):
					connectionUpgrade = true
				}
			}
		case equalFoldASCII(f.Name, "expect"):
			for e := range listElements(f.Value) {
				if equalFoldASCII(e, "100-continue") {
					expectContinue = true
				}
			}
		case equalFoldASCII(f.Name, "upgrade"):
			if !sawUpgrade {
				sawUpgrade, upgrade = true, f.Value
			}
		}
	}
	http10 := h.Minor == 0
	if http10 && !keepAlive {
		h.Close = true
	}
	if !http10 {
		h.ExpectContinue = expectContinue
		if connectionUpgrade {
			h.Upgrade = upgrade
		}
		if !sawHost {
			// RFC 9112 §3.2: an HTTP/1.1 request without Host is answered
			// 400.
			return badRequest("HTTP/1.1 request without a Host field")
		}
	}
	if !sawTE {
		return nil
	}
	switch {
	case sawCL:
		// RFC 9112 §6.1: such a request may be an attempt at smuggling; the
		// server may process it by Transfer-Encoding, but must then close
		// the connection. Refusing it is the safe half of that choice: no
		// byte of an ambiguous body is ever forwarded.
		return badRequest("both Transfer-Encoding and Content-Length (request smuggling)")
	case http10:
		// RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has
		// faulty framing.
		return badRequest("Transfer-Encoding in an HTTP/1.0 request")
	}
	return te.check(h)
}

// maybeRequestFramingField marks, by length modulo 32, the names frame
// reads, so that most fields are passed over at the cost of one load.
var maybeRequestFramingField = func() (t [32]bool) {
	for _, name := range []string{"host", "content-length", "transfer-encoding", "connection", "expect", "upgrade"} {
		t[len(name)] = true
	}
	return t
}()

// transferCodings gathers the transfer codings of every Transfer-Encoding
// field line, in order (RFC 9110 §5.3).
type transferCodings struct {
	n            int    // codings seen
	chunked      int    // how many of them are chunked
	lastChunked  bool   // whether the final one is chunked
	other        string // the first coding other than chunked
	otherInvalid bool   // whether some coding is not a valid token
}

func (t *transferCodings) add(value string) {
	for c := range listElements(value) {
		t.n++
		t.lastChunked = equalFoldASCII(c, "chunked")
		if t.lastChunked {
			t.chunked++
			continue
		}
		if t.other == "" {
			t.other = c
		}
		// transfer-coding = token *( OWS ";" OWS transfer-parameter )
		name, _, _ := strings.Cut(c, ";")
		if !isToken(strings.TrimRight(name, " \t")) {
			t.otherInvalid = true
		}
	}
}

// check applies RFC 9112 §6.1 to a request's codings and sets h.Chunked.
func (t *transferCodings) check(h *RequestHead) error {
	switch {
	case t.n == 0:
		return badRequest("empty Transfer-Encoding")
	case !t.lastChunked:
		// The body's length cannot be determined: 400 and close.
		return badRequest("final transfer coding %q is not chunked", clip(t.other, 40))
	case t.chunked > 1:
		return badRequest("chunked transfer coding applied more than once")
	case t.otherInvalid:
		return badRequest("invalid transfer coding %q", clip(t.other, 40))
	case t.other != "":
		// RFC 9112 §6.1: a coding the server does not understand SHOULD be
		// answered 501. Only chunked is decoded; passing gzip on as if it
		// were the content would change what the origin receives.
		return requestError(http.StatusNotImplemented, "unsupported transfer coding %q", clip(strings.ToLower(t.other), 40))
	}
	h.Chunked = true
	return nil
}

// parseTarget checks the request-target's form against the method
// (RFC 9112 §3.2) and sets Path, RawQuery and, for the absolute-form, Host.
func (h *RequestHead) parseTarget() error {
	t := h.Target
	if strings.IndexByte(t, '#') >= 0 {
		// No form of request-target has a fragment; servers that strip it
		// and servers that keep it in the path would route differently.
		return badRequest("request target %q has a fragment", clip(t, 64))
	}
	switch {
	case h.Method == http.MethodConnect:
		// RFC 9112 §3.2.3, RFC 9110 §9.3.6: CONNECT takes the authority-form
		// uri-host ":" port, and only it.
		if problem := checkAuthority(t, true); problem != "" {
			return badRequest("CONNECT target %q is not host:port: %s", clip(t, 64), problem)
		}
		// RFC 9112 §3.3: the target is then the target URI's authority.
		h.Host = t
		return nil
	case t == "*":
		// RFC 9112 §3.2.4: the asterisk-form is only for OPTIONS.
		if h.Method != http.MethodOptions {
			return badRequest("asterisk-form target with method %s", clip(h.Method, 20))
		}
		h.Path = t
		return nil
	case t[0] == '/':
		h.Path, h.RawQuery, _ = strings.Cut(t, "?")
	default:
		if err := h.parseAbsoluteForm(t); err != nil {
			return err
		}
	}
	if problem := checkPercentEncoding(h.Path); problem != "" {
		return badRequest("%s in the request path %q", problem, clip(h.Path, 64))
	}
	return nil
}

// parseAbsoluteForm parses an absolute-form target (RFC 9112 §3.2.2) of an
// http or https URI, the only schemes a reverse proxy serves, and makes its
// authority the request's Host.
func (h *RequestHead) parseAbsoluteForm(t string) error {
	scheme, rest, found := strings.Cut(t, "://")
	if !found || !(equalFoldASCII(scheme, "http") || equalFoldASCII(scheme, "https")) {
		return badRequest("request target %q is neither origin-form nor an absolute http(s) URI", clip(t, 64))
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	if strings.IndexByte(authority, '@') >= 0 {
		// RFC 9110 §4.2.4: userinfo in an http(s) URI is to be treated as
		// an error; it mostly serves to disguise the real host.
		return badRequest("request target %q has userinfo", clip(t, 64))
	}
	if authority == "" {
		// RFC 9110 §4.2.1: an http URI with an empty host is invalid.
		return badRequest("request target %q has an empty host", clip(t, 64))
	}
	if problem := checkAuthority(authority, false); problem != "" {
		return badRequest("invalid authority in request target %q: %s", clip(t, 64), problem)
	}
	h.Host = authority
	h.Path, h.RawQuery, _ = strings.Cut(rest[end:], "?")
	if h.Path == "" {
		h.Path = "/"
	}
	return nil
}

// regNameByte marks the bytes of a reg-name besides pct-encoded:
// unreserved and sub-delims (RFC 3986 §3.2.2).
var regNameByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "-._~!$&'()*+,;=" {
		t[c] = true
	}
	return t
}()

// checkAuthority checks uri-host [ ":" port ] (RFC 9110 §4.2.1, §7.2;
// RFC 3986 §3.2.2) with a non-empty host, and reports the first problem.
// The port may be empty, as RFC 3986 allows, unless portRequired; it is at
// most 65535, since no TCP port is larger and a larger one can only confuse
// a port parser downstream.
func checkAuthority(s string, portRequired bool) string {
	host, port, hasPort := s, "", false
	if s != "" && s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "IP literal without ']'"
		}
		if problem := checkIPLiteral(s[1:end]); problem != "" {
			return problem
		}
		rest := s[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return "bytes after the IP literal"
			}
			port, hasPort = rest[1:], true
		}
	} else {
		if i := strings.IndexByte(s, ':'); i >= 0 {
			host, port, hasPort = s[:i], s[i+1:], true
		}
		if host == "" {
			return "empty host"
		}
		for i := 0; i < len(host); i++ {
			if !regNameByte[host[i]] && host[i] != '%' {
				return "invalid byte in the host"
			}
		}
		if problem := checkPercentEncoding(host); problem != "" {
			return problem
		}
	}
	if portRequired && port == "" {
		return "no port"
	}
	if hasPort && !validPort(port) {
		return "invalid port"
	}
	return ""
}

// checkIPLiteral checks the inside of IP-literal = "[" ( IPv6address /
// IPvFuture ) "]" (RFC 3986 §3.2.2). Zone identifiers (RFC 6874) name an
// interface of the client's host and mean nothing to a server.
func checkIPLiteral(s string) string {
	if s != "" && (s[0] == 'v' || s[0] == 'V') {
		// IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
		version, addr, found := strings.Cut(s[1:], ".")
		if !found || version == "" || addr == "" {
			return "malformed IPvFuture literal"
		}
		for i := 0; i < len(version); i++ {
			if _, ok := unhex(version[i]); !ok {
				return "malformed IPvFuture literal"
			}
		}
		for i := 0; i < len(addr); i++ {
			if !regNameByte[addr[i]] && addr[i] != ':' {
				return "malformed IPvFuture literal"
			}
		}
		return ""
	}
	if strings.IndexByte(s, '%') >= 0 {
		return "zone in an IPv6 literal"
	}
	if addr, err := netip.ParseAddr(s); err != nil || !addr.Is6() {
		return "invalid IPv6 literal"
	}
	return ""
}

// validPort checks port = *DIGIT, at most 65535.
func validPort(s string) bool {
	if len(s) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n <= 65535
}

// checkPercentEncoding reports a '%' not followed by two hex digits
// (RFC 3986 §2.1): a recipient that decodes it would have to guess, and two
// recipients may guess differently.
func checkPercentEncoding(s string) string {
	for i := strings.IndexByte(s, '%'); i >= 0; {
		if i+2 >= len(s) {
			return "truncated percent-encoding"
		}
		if _, ok := unhex(s[i+1]); !ok {
			return "invalid percent-encoding"
		}
		if _, ok := unhex(s[i+2]); !ok {
			return "invalid percent-encoding"
		}
		next := strings.IndexByte(s[i+3:], '%')
		if next < 0 {
			break
		}
		i += 3 + next
	}
	return ""
}
