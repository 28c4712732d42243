package proxystatus

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SyntaxError says where and why a Proxy-Status field value does not parse.
type SyntaxError struct {
	// Offset is the byte offset in the (combined) field value.
	Offset int
	Reason string
}

func (e *SyntaxError) Error() string {
	return "proxy-status: offset " + strconv.Itoa(e.Offset) + ": " + e.Reason
}

// ParseHeader parses every Proxy-Status field line of h as one list. The
// lines are joined with ", " first, as RFC 9110 §5.3 and RFC 9651 §4.2
// require, so a member split across two lines does not parse. A header
// without the field is an empty list.
func ParseHeader(h http.Header) ([]Member, error) {
	return Parse(strings.Join(h.Values("Proxy-Status"), ", "))
}

// Parse parses a Proxy-Status field value: an RFC 9651 List (§4.2.1) whose
// members are a token or string naming the intermediary (RFC 9209 §2), each
// with parameters. Inner lists and other bare items are not Proxy-Status
// members and fail the parse, as does any syntax error: RFC 9651 §4.2 has
// the recipient drop the whole field rather than guess.
func Parse(value string) ([]Member, error) {
	p := parser{s: value}
	p.skipSP()
	var members []Member
	for !p.done() {
		m, err := p.member()
		if err != nil {
			return nil, err
		}
		members = append(members, m)
		p.skipOWS()
		if p.done() {
			break
		}
		if p.s[p.i] != ',' {
			return nil, p.fail("expected ',' after a member")
		}
		p.i++
		p.skipOWS()
		if p.done() {
			return nil, p.fail("trailing ','")
		}
	}
	return members, nil
}

type parser struct {
	s string
	i int
}

func (p *parser) done() bool { return p.i >= len(p.s) }

func (p *parser) fail(reason string) *SyntaxError {
	return &SyntaxError{Offset: p.i, Reason: reason}
}

func (p *parser) skipSP() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *parser) skipOWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *parser) member() (Member, error) {
	if p.s[p.i] == '(' {
		return Member{}, p.fail("inner list is not a Proxy-Status member")
	}
	start := p.i
	v, err := p.bareItem()
	if err != nil {
		return Member{}, err
	}
	if v.Kind != Token && v.Kind != String {
		return Member{}, &SyntaxError{Offset: start, Reason: "member is a " + v.Kind.String() + ", not a token or string"}
	}
	params, err := p.params()
	if err != nil {
		return Member{}, err
	}
	return Member{Name: v.Str, Params: params}, nil
}

// params parses §4.2.3.2 parameters. A repeated key keeps its first
// position and takes the last value.
func (p *parser) params() ([]Param, error) {
	var params []Param
	for !p.done() && p.s[p.i] == ';' {
		p.i++
		p.skipSP()
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		v := Value{Kind: Boolean, Bool: true}
		if !p.done() && p.s[p.i] == '=' {
			p.i++
			if v, err = p.bareItem(); err != nil {
				return nil, err
			}
		}
		params = setParam(params, key, v)
	}
	return params, nil
}

func setParam(params []Param, key string, v Value) []Param {
	for i := range params {
		if params[i].Key == key {
			params[i].Value = v
			return params
		}
	}
	return append(params, Param{Key: key, Value: v})
}

func (p *parser) key() (string, error) {
	start := p.i
	if p.done() || !isLower(p.s[p.i]) && p.s[p.i] != '*' {
		return "", p.fail("expected a parameter key (lowercase letter or '*')")
	}
	p.i++
	for p.i < len(p.s) && isKeyChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i], nil
}

func (p *parser) bareItem() (Value, error) {
	if p.done() {
		return Value{}, p.fail("expected a value")
	}
	switch c := p.s[p.i]; {
	case c == '-' || isDigit(c):
		return p.number()
	case c == '"':
		s, err := p.string()
		return Value{Kind: String, Str: s}, err
	case c == '*' || isAlpha(c):
		return Value{Kind: Token, Str: p.token()}, nil
	case c == ':':
		return p.byteSequence()
	case c == '?':
		return p.boolean()
	case c == '@':
		return p.date()
	case c == '%':
		return p.displayString()
	}
	return Value{}, p.fail("unexpected character " + strconv.QuoteRune(rune(p.s[p.i])))
}

// number parses an integer or decimal (§4.2.4); decimals come back in
// thousandths.
func (p *parser) number() (Value, error) {
	start := p.i
	neg := false
	if !p.done() && p.s[p.i] == '-' {
		neg = true
		p.i++
	}
	if p.done() || !isDigit(p.s[p.i]) {
		return Value{}, p.fail("expected a digit")
	}
	var whole, frac int64
	intDigits, fracDigits, dot := 0, 0, false
digits:
	for ; p.i < len(p.s); p.i++ {
		c := p.s[p.i]
		switch {
		case isDigit(c) && !dot:
			whole = whole*10 + int64(c-'0')
			intDigits++
		case isDigit(c):
			frac = frac*10 + int64(c-'0')
			fracDigits++
		case c == '.' && !dot:
			if intDigits > 12 {
				return Value{}, p.fail("decimal has more than 12 integer digits")
			}
			dot = true
		default:
			break digits
		}
		if !dot && intDigits > 15 {
			return Value{}, p.fail("integer has more than 15 digits")
		}
		if fracDigits > 3 {
			return Value{}, p.fail("decimal has more than 3 fractional digits")
		}
	}
	sign := int64(1)
	if neg {
		sign = -1
	}
	if !dot {
		return Value{Kind: Integer, Int: sign * whole}, nil
	}
	if fracDigits == 0 {
		return Value{}, &SyntaxError{Offset: start, Reason: "decimal ends with '.'"}
	}
	for ; fracDigits < 3; fracDigits++ {
		frac *= 10
	}
	return Value{Kind: Decimal, Int: sign * (whole*1000 + frac)}, nil
}

// string parses an sf-string (§4.2.5): printable ASCII, with only '\' and
// '"' escaped.
func (p *parser) string() (string, error) {
	p.i++ // the opening quote
	start := p.i
	// Most strings have no escapes: return a substring without copying.
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return p.s[start : p.i-1], nil
		case c == '\\':
			return p.escapedString(start)
		case c < 0x20 || c > 0x7e:
			return "", p.fail("control or non-ASCII byte in string")
		}
		p.i++
	}
	return "", p.fail("unterminated string")
}

func (p *parser) escapedString(start int) (string, error) {
	var b strings.Builder
	b.WriteString(p.s[start:p.i])
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '"':
			return b.String(), nil
		case c == '\\':
			if p.done() || p.s[p.i] != '"' && p.s[p.i] != '\\' {
				return "", p.fail(`string escape other than \" or \\`)
			}
			b.WriteByte(p.s[p.i])
			p.i++
		case c < 0x20 || c > 0x7e:
			p.i--
			return "", p.fail("control or non-ASCII byte in string")
		default:
			b.WriteByte(c)
		}
	}
	return "", p.fail("unterminated string")
}

func (p *parser) token() string {
	start := p.i
	p.i++
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// byteSequence parses §4.2.7 base64 between colons. Missing '=' padding and
// non-zero pad bits are accepted, as the section advises.
func (p *parser) byteSequence() (Value, error) {
	p.i++
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != ':' {
		c := p.s[p.i]
		if !isAlpha(c) && !isDigit(c) && c != '+' && c != '/' && c != '=' {
			return Value{}, p.fail("invalid byte sequence character")
		}
		p.i++
	}
	if p.done() {
		return Value{}, p.fail("unterminated byte sequence")
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(p.s[start:p.i], "="))
	if err != nil {
		return Value{}, &SyntaxError{Offset: start, Reason: "invalid base64 in byte sequence"}
	}
	p.i++
	return Value{Kind: ByteSequence, Str: string(b)}, nil
}

func (p *parser) boolean() (Value, error) {
	p.i++
	if p.done() || p.s[p.i] != '0' && p.s[p.i] != '1' {
		return Value{}, p.fail("boolean must be ?0 or ?1")
	}
	p.i++
	return Value{Kind: Boolean, Bool: p.s[p.i-1] == '1'}, nil
}

func (p *parser) date() (Value, error) {
	p.i++
	v, err := p.number()
	if err != nil {
		return Value{}, err
	}
	if v.Kind != Integer {
		return Value{}, p.fail("date must be an integer")
	}
	return Value{Kind: Date, Int: v.Int}, nil
}

// displayString parses §4.2.10: %"…" with non-ASCII bytes as lowercase %xx,
// decoding to valid UTF-8.
func (p *parser) displayString() (Value, error) {
	p.i++
	if p.done() || p.s[p.i] != '"' {
		return Value{}, p.fail(`expected '"' after '%'`)
	}
	p.i++
	var b []byte
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c < 0x20 || c > 0x7e:
			return Value{}, p.fail("control or non-ASCII byte in display string")
		case c == '%':
			if p.i+2 >= len(p.s) || !isLowerHex(p.s[p.i+1]) || !isLowerHex(p.s[p.i+2]) {
				return Value{}, p.fail("display string escape must be % and two lowercase hex digits")
			}
			b = append(b, unhex(p.s[p.i+1])<<4|unhex(p.s[p.i+2]))
			p.i += 3
		case c == '"':
			p.i++
			if !utf8.Valid(b) {
				return Value{}, p.fail("display string is not valid UTF-8")
			}
			return Value{Kind: DisplayString, Str: string(b)}, nil
		default:
			b = append(b, c)
			p.i++
		}
	}
	return Value{}, p.fail("unterminated display string")
}

func isLowerHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' }

func unhex(c byte) byte {
	if isDigit(c) {
		return c - '0'
	}
	return c - 'a' + 10
}
