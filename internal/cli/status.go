package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portico-proxy/portico/internal/statuscode"
)

func newStatusCommand(stdout io.Writer) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [CODE]",
		Short: "Explain an HTTP status code portico answers with",
		Long: `Explain an HTTP status code: what it means, whether a proxy or the origin
usually sends it, its common causes, the error types that make portico send
it, and the constants that name it in code. Without a code, list the codes
portico answers with.

A code portico never sends itself is passed on from backends unchanged;
for those, only the name is printed.`,
		Example: `  portico status 502
  portico status 504 --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return listStatuses(stdout, asJSON)
			}
			code, err := strconv.Atoi(args[0])
			if err != nil || code < 100 || code > 599 {
				return fmt.Errorf("%q is not an HTTP status code (100 to 599)", args[0])
			}
			c, ok := statuscode.Lookup(code)
			switch {
			case ok && asJSON:
				return writeJSON(stdout, c)
			case ok:
				return writeStatus(stdout, c)
			case http.StatusText(code) != "":
				_, err := fmt.Fprintf(stdout, "%d %s: portico never sends it itself; it passes it on unchanged when a backend does.\n", code, http.StatusText(code))
				return err
			}
			return fail(fmt.Errorf("%d is not a registered HTTP status code", code))
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func listStatuses(w io.Writer, asJSON bool) error {
	codes := statuscode.Codes()
	if asJSON {
		return writeJSON(w, codes)
	}
	var b strings.Builder
	for _, c := range codes {
		types := make([]string, len(c.ErrorTypes))
		for i, e := range c.ErrorTypes {
			types[i] = e.Type
		}
		fmt.Fprintf(&b, "%d %-32s %s\n", c.Code, c.Reason, strings.Join(types, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeStatus prints one code's entry in sections.
func writeStatus(w io.Writer, c statuscode.Code) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s (%s)\n\n", c.Code, c.Reason, c.Spec)
	fmt.Fprintf(&b, "What it means\n%s\n", wrap(c.Meaning, "  ", "  "))
	fmt.Fprintf(&b, "Who sends it\n%s\n", wrap(c.SentBy, "  ", "  "))
	b.WriteString("Common causes\n")
	for _, cause := range c.Causes {
		b.WriteString(wrap(cause, "  - ", "    "))
	}
	fmt.Fprintf(&b, "\nWhen portico sends %d, Proxy-Status names one of\n", c.Code)
	width := 0
	for _, e := range c.ErrorTypes {
		width = max(width, len(e.Type))
	}
	for _, e := range c.ErrorTypes {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, e.Type, e.Explanation)
	}
	if c.Code >= 500 {
		b.WriteString("\n" + wrap("portico diagnose URL, run on the backend, finds which one it is and what to do.", "  ", "  "))
	}
	b.WriteString("\nIn code\n")
	width = 0
	for _, n := range c.Names {
		width = max(width, len(n.Where))
	}
	for _, n := range c.Names {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, n.Where, n.Name)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// textWidth is where writeStatus wraps its paragraphs.
const textWidth = 76

// wrap breaks text into lines of at most textWidth columns, the first
// starting with first and the others with indent.
func wrap(text, first, indent string) string {
	var b strings.Builder
	line, empty := first, true
	for _, word := range strings.Fields(text) {
		if !empty && len(line)+1+len(word) > textWidth {
			b.WriteString(line + "\n")
			line, empty = indent, true
		}
		if !empty {
			line += " "
		}
		line, empty = line+word, false
	}
	b.WriteString(line + "\n")
	return b.String()
}
