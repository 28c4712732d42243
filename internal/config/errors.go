package config

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// Error is one problem in a config file, at a line and column (both counted
// from 1; the column counts characters, not bytes).
type Error struct {
	File         string
	Line, Column int
	// Msg is one sentence, without the position.
	Msg string
	// Err is the underlying cause, such as the error from opening a
	// ca_file, or nil.
	Err error

	// sourceLine is the text of line Line, for Snippet.
	sourceLine string
}

// Error returns "FILE:LINE:COL: message".
func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Snippet returns the offending source line, numbered, with a caret under
// the column:
//
//	14 |   - "http//x"
//	   |     ^
func (e *Error) Snippet() string {
	number := fmt.Sprintf("%d", e.Line)
	var caret strings.Builder
	// Copy tabs from the source so the caret lines up however tabs render.
	col := 1
	for _, r := range e.sourceLine {
		if col >= e.Column {
			break
		}
		if r == '\t' {
			caret.WriteByte('\t')
		} else {
			caret.WriteByte(' ')
		}
		col++
	}
	for ; col < e.Column; col++ {
		caret.WriteByte(' ')
	}
	pad := strings.Repeat(" ", len(number))
	return fmt.Sprintf("%s | %s\n%s | %s^\n", number, e.sourceLine, pad, caret.String())
}

// ErrorList is every problem found in a config file, sorted by line and
// column. Parse and Load return one whenever the file is not valid.
type ErrorList []*Error

// Error returns one "FILE:LINE:COL: message" line per problem.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap gives errors.Is and errors.As access to every problem's cause.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// Print writes each problem followed by its source snippet, the way
// "portico validate" shows them.
func (l ErrorList) Print(w io.Writer) error {
	for _, e := range l {
		if _, err := fmt.Fprintf(w, "%s\n%s", e.Error(), e.Snippet()); err != nil {
			return err
		}
	}
	return nil
}

// sortErrors orders the list by position and drops exact repeats, which an
// alias used twice can produce.
func sortErrors(l ErrorList) ErrorList {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
			strings.Compare(a.Msg, b.Msg),
		)
	})
	return slices.CompactFunc(l, func(a, b *Error) bool {
		return a.Line == b.Line && a.Column == b.Column && a.Msg == b.Msg
	})
}

// source holds a file's lines so that errors can quote them and positions
// can be kept inside the text.
type source struct {
	name  string
	lines []string
}

func newSource(name string, data []byte) source {
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		lines[i] = strings.TrimSuffix(line, "\r")
	}
	return source{name: name, lines: lines}
}

// newError builds an Error at p, keeping the position inside the text so
// that a snippet can always be drawn.
func (s source) newError(p Pos, cause error, msg string) *Error {
	line := min(max(p.Line, 1), len(s.lines))
	text := s.lines[line-1]
	column := min(max(p.Column, 1), utf8.RuneCountInString(text)+1)
	return &Error{
		File:       s.name,
		Line:       line,
		Column:     column,
		Msg:        msg,
		Err:        cause,
		sourceLine: text,
	}
}
