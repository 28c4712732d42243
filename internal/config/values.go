package config

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// duration decodes a Go duration ("250ms", "1m30s"). A bare number other
// than 0 is refused: "30" could mean seconds or nanoseconds.
func (d *decoder) duration(v value) (time.Duration, bool) {
	s, ok := d.scalar(v)
	if !ok {
		return 0, false
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil && s != "0" {
		d.errorf(v.pos(), "%s %s needs a unit, as in %q", v.label(), s, s+"s")
		return 0, false
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		d.errorf(v.pos(), "%s %q is not a duration such as \"250ms\", \"2s\" or \"1m30s\"", v.label(), s)
		return 0, false
	}
	if dur < 0 {
		d.errorf(v.pos(), "%s %s must not be negative", v.label(), s)
		return 0, false
	}
	return dur, true
}

func (d *decoder) setDuration(v value, dst *time.Duration) {
	if dur, ok := d.duration(v); ok {
		*dst = dur
	}
}

// setPositiveDuration decodes a duration for which 0 has no meaning, such
// as a check interval, and reports whether it set dst.
func (d *decoder) setPositiveDuration(v value, dst *time.Duration) bool {
	dur, ok := d.duration(v)
	switch {
	case !ok:
		return false
	case dur == 0:
		d.errorf(v.pos(), "%s must be more than 0", v.label())
		return false
	}
	*dst = dur
	return true
}

// statusRange decodes an HTTP status code (200) or an inclusive range of
// them ("200-399"), within 100-599.
func (d *decoder) statusRange(v value) (StatusRange, bool) {
	s, ok := d.scalar(v)
	if !ok {
		return StatusRange{}, false
	}
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	first, errLo := strconv.Atoi(strings.TrimSpace(lo))
	last, errHi := strconv.Atoi(strings.TrimSpace(hi))
	switch {
	case errLo != nil || errHi != nil:
		d.errorf(v.pos(), "%s %q is not a status or a range such as \"200-399\"", v.label(), s)
		return StatusRange{}, false
	case first < 100 || last > 599:
		d.errorf(v.pos(), "%s %q is outside 100-599", v.label(), s)
		return StatusRange{}, false
	case first > last:
		d.errorf(v.pos(), "%s %q ends before it starts", v.label(), s)
		return StatusRange{}, false
	}
	return StatusRange{Min: first, Max: last}, true
}

// integer decodes a whole number within [lo, hi].
func (d *decoder) integer(v value, lo, hi int) (int, bool) {
	s, ok := d.scalar(v)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		d.errorf(v.pos(), "%s %q is not a whole number", v.label(), s)
		return 0, false
	}
	if n < lo || n > hi {
		d.errorf(v.pos(), "%s %d is outside %d-%d", v.label(), n, lo, hi)
		return 0, false
	}
	return n, true
}

func (d *decoder) boolean(v value) (bool, bool) {
	s, ok := d.scalar(v)
	if !ok {
		return false, false
	}
	switch strings.ToLower(s) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	d.errorf(v.pos(), "%s %q must be true or false", v.label(), s)
	return false, false
}

// oneOf decodes a value that must be one of choices.
func (d *decoder) oneOf(v value, choices ...string) (string, bool) {
	s, ok := d.scalar(v)
	if !ok {
		return "", false
	}
	for _, c := range choices {
		if s == c {
			return s, true
		}
	}
	d.errorf(v.pos(), "%s %q is not one of %s%s", v.label(), s, strings.Join(choices, ", "), didYouMean(s, choices))
	return "", false
}

// sizeUnits are the suffixes a size may carry, in bytes.
var sizeUnits = []struct {
	suffix string
	bytes  int64
}{
	{"KiB", 1 << 10},
	{"MiB", 1 << 20},
	{"GiB", 1 << 30},
}

// size decodes a byte count of at most limit: a whole number, optionally
// with a KiB, MiB or GiB suffix.
func (d *decoder) size(v value, allowZero bool, limit int64) (int64, bool) {
	s, ok := d.scalar(v)
	if !ok {
		return 0, false
	}
	digits, unit := s, int64(1)
	for _, u := range sizeUnits {
		if rest, found := strings.CutSuffix(s, u.suffix); found {
			digits, unit = strings.TrimSpace(rest), u.bytes
			break
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) || (err == nil && n > limit/unit):
		d.errorf(v.pos(), "%s %q is too large", v.label(), s)
		return 0, false
	case err != nil:
		d.errorf(v.pos(), "%s %q is not a size; give bytes, or a number with KiB, MiB or GiB", v.label(), s)
		return 0, false
	case n < 0:
		d.errorf(v.pos(), "%s %q must not be negative", v.label(), s)
		return 0, false
	case n == 0 && !allowZero:
		d.errorf(v.pos(), "%s must be more than 0", v.label())
		return 0, false
	}
	return n * unit, true
}

// hostPort decodes a listen address: an optional IP or host name, a colon
// and a port number from 0 to 65535. Whether the port is free is a run-time
// question, not a config one.
func (d *decoder) hostPort(v value) (string, bool) {
	s, ok := d.scalar(v)
	if !ok {
		return "", false
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		d.errorf(v.pos(), "%s %q is not host:port, as in \"127.0.0.1:8080\" or \":8080\"", v.label(), s)
		return "", false
	}
	n, err := strconv.ParseUint(port, 10, 64)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange):
		d.errorf(v.pos(), "%s %q has port %q, which is not a number", v.label(), s, port)
		return "", false
	case err != nil || n > math.MaxUint16:
		d.errorf(v.pos(), "%s %q has port %s, outside 0-65535", v.label(), s, port)
		return "", false
	}
	if host != "" && !validIP(host) && !validHostName(host) {
		d.errorf(v.pos(), "%s %q has an invalid host %q", v.label(), s, host)
		return "", false
	}
	return net.JoinHostPort(host, strconv.FormatUint(n, 10)), true
}

// targetURL decodes an upstream target and stores it with an explicit
// port, so that later stages never guess the default.
func (d *decoder) targetURL(v value) (*url.URL, bool) {
	s, ok := d.scalar(v)
	if !ok {
		return nil, false
	}
	bad := func(problem string) (*url.URL, bool) {
		d.errorf(v.pos(), "%s %q %s", v.label(), s, problem)
		return nil, false
	}
	if !strings.Contains(s, "://") {
		return bad("is not a URL")
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Parse refuses only non-numeric ports; big numbers are
		// caught below.
		if port, ok := authorityPort(s); ok && strings.Trim(port, "0123456789") != "" {
			return bad("has a port that is not a number")
		}
		return bad("is not a URL")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	defaultPort := map[string]string{"http": "80", "https": "443"}[u.Scheme]
	switch {
	case defaultPort == "":
		return bad("must use http:// or https://")
	case u.User != nil:
		return bad("must not contain user information")
	case u.Hostname() == "":
		return bad("has no host")
	case u.Path != "" && u.Path != "/":
		return bad("must not have a path")
	case u.RawQuery != "" || u.ForceQuery:
		return bad("must not have a query")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return bad("must not have a fragment")
	}
	host := u.Hostname()
	if !validIP(host) && !validHostName(host) {
		return bad("has an invalid host")
	}
	port := u.Port()
	if port == "" {
		port = defaultPort
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return bad("has a port outside 1-65535")
	}
	return &url.URL{Scheme: u.Scheme, Host: net.JoinHostPort(host, port)}, true
}

// authorityPort returns the port of a URL's host:port part, for telling a
// bad port apart from other URL mistakes.
func authorityPort(rawURL string) (string, bool) {
	_, rest, _ := strings.Cut(rawURL, "://")
	if end := strings.IndexAny(rest, "/?#"); end >= 0 {
		rest = rest[:end]
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = rest[at+1:]
	}
	_, port, err := net.SplitHostPort(rest)
	return port, err == nil
}

// routeHost checks a route's host and lower-cases it: "" (any host), an
// exact name or IP, or "*.example.com".
func routeHost(s string) (string, string) {
	h := strings.ToLower(s)
	if h == "" {
		return "", ""
	}
	if rest, ok := strings.CutPrefix(h, "["); ok {
		inside, after, _ := strings.Cut(rest, "]")
		if after != "" {
			return "", "must not include a port"
		}
		if addr, err := netip.ParseAddr(inside); err == nil && addr.Is6() && addr.Zone() == "" {
			return addr.String(), ""
		}
		return "", "is not a valid host name"
	}
	if validIP(h) {
		addr, _ := netip.ParseAddr(h)
		return addr.String(), ""
	}
	if strings.Contains(h, ":") {
		return "", "must not include a port"
	}
	name := h
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		name = rest
	}
	if strings.Contains(name, "*") {
		return "", `may use "*" only as a whole first label, as in "*.example.com"`
	}
	if !validHostName(name) {
		return "", "is not a valid host name"
	}
	return h, ""
}

func validIP(s string) bool {
	addr, err := netip.ParseAddr(s)
	return err == nil && addr.Zone() == ""
}

// validHostName reports whether s is a DNS name: dot-separated labels of
// 1-63 letters, digits, hyphens or underscores, 253 bytes at most
// (RFC 1035, Section 2.3.4; underscores appear in real service names).
func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c == '-' || c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
				return false
			}
		}
	}
	return true
}

// isTchar reports whether c may appear in an RFC 9110 token (Section 5.6.2).
func isTchar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// validToken reports whether s is an RFC 9110 token, the syntax of header
// field names and cookie names.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !isTchar(c) {
			return false
		}
	}
	return true
}

// validSFToken reports whether s is a structured-field token (RFC 9651,
// Section 3.3.4), which a Proxy-Status member name must be.
func validSFToken(s string) bool {
	if s == "" {
		return false
	}
	first := s[0]
	if !('a' <= first && first <= 'z' || 'A' <= first && first <= 'Z' || first == '*') {
		return false
	}
	for _, c := range []byte(s[1:]) {
		if !isTchar(c) && c != ':' && c != '/' {
			return false
		}
	}
	return true
}

// localPath resolves a file named in the config against the config
// file's directory.
func (d *decoder) localPath(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(d.dir, name)
}

// namedFile is a file the config names: as written, and resolved.
type namedFile struct {
	written, path string
	data          []byte
}

// readableFile reads the file named by v, resolving it against the config
// file's directory.
func (d *decoder) readableFile(v value) (namedFile, bool) {
	name, ok := d.scalar(v)
	if !ok {
		return namedFile{}, false
	}
	if name == "" {
		d.errorf(v.pos(), "%s must name a file", v.label())
		return namedFile{}, false
	}
	path := d.localPath(name)
	data, err := os.ReadFile(path)
	if err != nil {
		d.causef(v.pos(), err, "%s %q cannot be read: %s", v.label(), name, fileProblem(err))
		return namedFile{}, false
	}
	return namedFile{written: name, path: path, data: data}, true
}

// fileProblem is the reason a file could not be read, without the path
// the message already quotes.
func fileProblem(err error) string {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err.Error()
	}
	return err.Error()
}

// caFile decodes tls.ca_file: a readable file with at least one PEM
// certificate.
func (d *decoder) caFile(v value) (string, bool) {
	file, ok := d.readableFile(v)
	if !ok {
		return "", false
	}
	if !x509.NewCertPool().AppendCertsFromPEM(file.data) {
		d.errorf(v.pos(), "%s %q holds no PEM certificates", v.label(), file.written)
		return "", false
	}
	return file.path, true
}

// networks decodes a list of networks, returning each with its position.
func (d *decoder) networks(v value) ([]netip.Prefix, []Pos) {
	items, _ := d.list(v, v.path)
	var nets []netip.Prefix
	var at []Pos
	for _, item := range items {
		if p, ok := d.network(item); ok {
			nets = append(nets, p)
			at = append(at, item.pos())
		}
	}
	return nets, at
}

// resolverAddr normalises a DNS server address: an IP with an optional
// port, default 53.
func resolverAddr(s string) (string, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" && ap.Port() != 0 {
		return ap.String(), true
	}
	if addr, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil && addr.Zone() == "" {
		return netip.AddrPortFrom(addr, 53).String(), true
	}
	return "", false
}

// network decodes one network: a CIDR prefix, or a bare IP taken as a
// one-address prefix.
func (d *decoder) network(v value) (netip.Prefix, bool) {
	s, ok := d.scalar(v)
	if !ok {
		return netip.Prefix{}, false
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			d.errorf(v.pos(), "%s %q is not a CIDR prefix or IP address", v.label(), s)
			return netip.Prefix{}, false
		}
		if p.Masked() != p {
			d.errorf(v.pos(), "%s %q has bits set past its prefix length; did you mean %q?", v.label(), s, p.Masked().String())
			return netip.Prefix{}, false
		}
		return p, true
	}
	addr, err := netip.ParseAddr(s)
	if err != nil || addr.Zone() != "" {
		d.errorf(v.pos(), "%s %q is not a CIDR prefix or IP address", v.label(), s)
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(addr, addr.BitLen()), true
}
