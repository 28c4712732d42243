package proxystatus

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Kind is the type of an RFC 9651 bare item (§3.3).
type Kind uint8

// The bare item types. Proxy-Status itself only uses tokens, strings and
// integers, but a proxy on the path may send any of them as an extension
// parameter, and the parser must accept those to read the rest of the list.
const (
	Integer Kind = iota
	Decimal
	String
	Token
	ByteSequence
	Boolean
	Date
	DisplayString
)

var kindNames = [...]string{"integer", "decimal", "string", "token", "byte sequence", "boolean", "date", "display string"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one bare item. It is comparable, so parsed lists can be checked
// with ==.
type Value struct {
	Kind Kind
	// Int holds an Integer, a Date (seconds since the Unix epoch), or a
	// Decimal in thousandths: RFC 9651 decimals have at most three
	// fractional digits (§3.3.2), so 1.5 is Int 1500 and comparisons stay
	// exact.
	Int int64
	// Str holds a String, Token or DisplayString, or the raw bytes of a
	// ByteSequence.
	Str  string
	Bool bool
}

// Param is one parameter of a member, e.g. error=connection_refused.
type Param struct {
	Key   string
	Value Value
}

// Member is one intermediary's entry in a Proxy-Status list (RFC 9209 §2):
// its name (a token or string) and its parameters in order.
type Member struct {
	Name   string
	Params []Param
}

// Param returns the value of the parameter named key.
func (m Member) Param(key string) (Value, bool) {
	for _, p := range m.Params {
		if p.Key == key {
			return p.Value, true
		}
	}
	return Value{}, false
}

// ErrInvalid reports a value that has no RFC 9651 serialisation.
var ErrInvalid = errors.New("value cannot be serialised as a structured field")

// RFC 9651 §3.3.1 and §3.3.2: integers have at most 15 digits, decimals at
// most 12 integer digits.
const (
	maxInteger      = 999_999_999_999_999
	maxDecimalMilli = 999_999_999_999_999
)

// Format serialises members as a Proxy-Status field value, in the canonical
// form RFC 9651 §4.1 defines. It fails on a value with no serialisation,
// such as an integer beyond 15 digits or a string with a control character.
func Format(members []Member) (string, error) {
	b, err := AppendList(nil, members)
	return string(b), err
}

// AppendList appends the serialisation of members to dst; see Format.
func AppendList(dst []byte, members []Member) ([]byte, error) {
	for i, m := range members {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		var err error
		if dst, err = appendMember(dst, m); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func appendMember(dst []byte, m Member) ([]byte, error) {
	switch {
	case isToken(m.Name):
		dst = append(dst, m.Name...)
	case isPrintableASCII(m.Name):
		dst = appendString(dst, m.Name)
	default:
		return dst, fmt.Errorf("member name %q: %w", m.Name, ErrInvalid)
	}
	for _, p := range m.Params {
		if !isKey(p.Key) {
			return dst, fmt.Errorf("parameter key %q: %w", p.Key, ErrInvalid)
		}
		dst = append(dst, "; "...)
		dst = append(dst, p.Key...)
		// §4.1.1.2: a true boolean parameter is written as the bare key.
		if p.Value.Kind == Boolean && p.Value.Bool {
			continue
		}
		dst = append(dst, '=')
		var err error
		if dst, err = appendValue(dst, p.Value); err != nil {
			return dst, fmt.Errorf("parameter %s: %w", p.Key, err)
		}
	}
	return dst, nil
}

func appendValue(dst []byte, v Value) ([]byte, error) {
	switch v.Kind {
	case Integer:
		if v.Int < -maxInteger || v.Int > maxInteger {
			return dst, fmt.Errorf("integer %d: %w", v.Int, ErrInvalid)
		}
		return strconv.AppendInt(dst, v.Int, 10), nil
	case Date:
		if v.Int < -maxInteger || v.Int > maxInteger {
			return dst, fmt.Errorf("date %d: %w", v.Int, ErrInvalid)
		}
		return strconv.AppendInt(append(dst, '@'), v.Int, 10), nil
	case Decimal:
		if v.Int < -maxDecimalMilli || v.Int > maxDecimalMilli {
			return dst, fmt.Errorf("decimal %d/1000: %w", v.Int, ErrInvalid)
		}
		return appendDecimal(dst, v.Int), nil
	case String:
		if !isPrintableASCII(v.Str) {
			return dst, fmt.Errorf("string %q: %w", v.Str, ErrInvalid)
		}
		return appendString(dst, v.Str), nil
	case Token:
		if !isToken(v.Str) {
			return dst, fmt.Errorf("token %q: %w", v.Str, ErrInvalid)
		}
		return append(dst, v.Str...), nil
	case ByteSequence:
		dst = append(dst, ':')
		dst = base64.StdEncoding.AppendEncode(dst, []byte(v.Str))
		return append(dst, ':'), nil
	case Boolean:
		if v.Bool {
			return append(dst, "?1"...), nil
		}
		return append(dst, "?0"...), nil
	case DisplayString:
		if !utf8.ValidString(v.Str) {
			return dst, fmt.Errorf("display string %q: %w", v.Str, ErrInvalid)
		}
		return appendDisplayString(dst, v.Str), nil
	}
	return dst, fmt.Errorf("%s: %w", v.Kind, ErrInvalid)
}

// appendDecimal writes thousandths as a decimal with the fewest fractional
// digits that keep its value, but at least one (§4.1.5).
func appendDecimal(dst []byte, milli int64) []byte {
	if milli < 0 {
		dst = append(dst, '-')
		milli = -milli
	}
	dst = strconv.AppendInt(dst, milli/1000, 10)
	frac := milli % 1000
	dst = append(dst, '.', byte('0'+frac/100))
	if frac%100 != 0 {
		dst = append(dst, byte('0'+frac/10%10))
		if frac%10 != 0 {
			dst = append(dst, byte('0'+frac%10))
		}
	}
	return dst
}

// appendString writes s as an sf-string (§4.1.6), escaping only '\' and '"'.
// An sf-string can hold nothing but printable ASCII (§3.3.3), and a
// recipient must reject the whole field on any other byte (§4.2.5), which
// would lose every member of the list, not just ours. So each rune outside
// the printable range becomes '?': the text stays readable, the field stays
// valid, and CR or LF from an upstream's error text can never reach the
// header block.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
			i++
		case c >= 0x20 && c < 0x7f:
			dst = append(dst, c)
			i++
		case c < utf8.RuneSelf:
			dst = append(dst, '?')
			i++
		default:
			_, size := utf8.DecodeRuneInString(s[i:])
			dst = append(dst, '?')
			i += size
		}
	}
	return append(dst, '"')
}

// appendDisplayString writes s as a display string (§4.1.11): printable
// ASCII other than '%' and '"' as is, every other byte as %xx.
func appendDisplayString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '%', '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' || c == '"' || c < 0x20 || c > 0x7e {
			dst = append(dst, '%', hex[c>>4], hex[c&0xf])
			continue
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// isToken reports whether s is an sf-token: (ALPHA / "*") *(tchar / ":" /
// "/") (§3.3.4).
func isToken(s string) bool {
	if s == "" || !isAlpha(s[0]) && s[0] != '*' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// isKey reports whether s is a key: (lcalpha / "*") *(lcalpha / DIGIT /
// "_" / "-" / "." / "*") (§3.1.2).
func isKey[T string | []byte](s T) bool {
	if len(s) == 0 || !isLower(s[0]) && s[0] != '*' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isKeyChar(s[i]) {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isKeyChar(c byte) bool {
	return isLower(c) || isDigit(c) || c == '_' || c == '-' || c == '.' || c == '*'
}

// isTokenChar reports whether c may follow a token's first character: an
// RFC 9110 §5.6.2 tchar, ':' or '/'.
func isTokenChar(c byte) bool {
	if isAlpha(c) || isDigit(c) {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~', ':', '/':
		return true
	}
	return false
}
