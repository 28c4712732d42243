package config

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// envError is a failed ${...} reference, at a character offset into the
// scalar that holds it.
type envError struct {
	offset int
	msg    string
}

// expandEnv replaces ${NAME}, ${NAME:-default} and ${NAME:?message} in s,
// and turns $$ into a literal $. As in the POSIX shell, :- and :? treat an
// empty variable like an unset one. Any other $ is left as it is, so that
// values such as passwords need no escaping unless they contain "${".
func expandEnv(s string, lookupEnv func(string) (string, bool)) (string, *envError) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var out strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			out.WriteByte(c)
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			out.WriteByte('$')
			i += 2
			continue
		case '{':
		default:
			out.WriteByte(c)
			i++
			continue
		}
		at := utf8.RuneCountInString(s[:i])
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", &envError{at, `"${" has no closing "}"`}
		}
		ref := s[i+2 : i+2+end]
		i += 2 + end + 1

		name, op, arg := ref, "", ""
		if j := strings.IndexByte(ref, ':'); j >= 0 {
			name, op, arg = ref[:j], ref[j:min(j+2, len(ref))], ref[min(j+2, len(ref)):]
		}
		if !validEnvName(name) {
			return "", &envError{at, fmt.Sprintf("%q is not a valid environment variable name", name)}
		}
		value, set := lookupEnv(name)
		switch op {
		case "":
			if !set {
				return "", &envError{at, fmt.Sprintf("environment variable %s is not set", name)}
			}
		case ":-":
			if value == "" {
				value = arg
			}
		case ":?":
			if value == "" {
				if arg == "" {
					arg = fmt.Sprintf("environment variable %s is not set", name)
				}
				return "", &envError{at, arg}
			}
		default:
			return "", &envError{at, fmt.Sprintf("${%s} is not a supported form; use ${NAME}, ${NAME:-default} or ${NAME:?message}", ref)}
		}
		out.WriteString(value)
	}
	return out.String(), nil
}

// validEnvName reports whether name is a POSIX shell variable name.
func validEnvName(name string) bool {
	if name == "" || ('0' <= name[0] && name[0] <= '9') {
		return false
	}
	for _, c := range []byte(name) {
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
