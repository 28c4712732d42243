// Command report turns the per-round rows bench/run writes into medians:
// it rewrites results.csv with one median row per proxy and scenario
// appended, and prints the Markdown tables for table.md on standard output.
//
// It is run again safely on its own output: earlier median rows are
// dropped and computed afresh.
package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

func main() {
	path := flag.String("csv", "", "results.csv written by bench/run; rewritten with median rows")
	flag.Parse()
	if *path == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: report -csv results.csv > tables.md")
		os.Exit(2)
	}
	if err := run(*path, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(path string, tables io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	header, rows, err := readRows(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	medians := summarize(rows)
	if err := writeCSV(path, header, rows, medians); err != nil {
		return err
	}
	return writeTables(tables, medians)
}

// Columns bench/run writes. Every other column is carried through as it is.
const (
	colRound      = "round"
	colScenario   = "scenario"
	colProxy      = "proxy"
	colStatus     = "status"
	colNote       = "note"
	colErrors     = "errors"
	colRPS        = "req_per_s"
	colP50        = "p50_us"
	colP99        = "p99_us"
	colP999       = "p999_us"
	colCPU        = "proxy_cpu_us_per_req"
	colBusy       = "proxy_core_busy_pct"
	colOthers     = "proxy_core_others_pct"
	colLoad       = "load_core_busy_pct"
	colLoadOthers = "load_core_others_pct"
	statusOK      = "ok"
	statusNoisy   = "noisy"
	medianRound   = "median"
)

// row is one line of results.csv, by column name.
type row map[string]string

func readRows(r io.Reader) (header []string, rows []row, err error) {
	records, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, nil, err
	}
	if len(records) == 0 {
		return nil, nil, errors.New("empty file")
	}
	header = records[0]
	for _, need := range []string{colRound, colScenario, colProxy, colStatus, colNote, colErrors, colRPS, colCPU} {
		if !slices.Contains(header, need) {
			return nil, nil, fmt.Errorf("no %q column", need)
		}
	}
	for _, rec := range records[1:] {
		r := make(row, len(header))
		for i, name := range header {
			r[name] = rec[i]
		}
		if r[colRound] != medianRound {
			rows = append(rows, r)
		}
	}
	return header, rows, nil
}

// cell is one proxy in one scenario over all rounds.
type cell struct {
	scenario, proxy string
	median          row // status ok: medians of the measured rounds
	rounds          int // rounds measured
}

// summary keeps the order of first appearance, which is the order of the
// command line: round 1 is not rotated.
type summary struct {
	scenarios, proxies []string
	cells              map[[2]string]*cell
}

func (s *summary) get(scenario, proxy string) *cell { return s.cells[[2]string{scenario, proxy}] }

// summarize takes the median of every numeric column over the rounds that
// measured something. Errors are the exception: they are summed over every
// run, the noisy ones that were repeated included, so that no error
// disappears behind a median. A cell with no measured round keeps the
// status and note of its first round.
func summarize(rows []row) *summary {
	s := &summary{cells: map[[2]string]*cell{}}
	measured := map[[2]string][]row{}
	errorCounts := map[[2]string][]float64{}
	for _, r := range rows {
		key := [2]string{r[colScenario], r[colProxy]}
		if !slices.Contains(s.scenarios, key[0]) {
			s.scenarios = append(s.scenarios, key[0])
		}
		if !slices.Contains(s.proxies, key[1]) {
			s.proxies = append(s.proxies, key[1])
		}
		c := s.cells[key]
		if c == nil {
			c = &cell{scenario: key[0], proxy: key[1], median: row{
				colRound: medianRound, colScenario: key[0], colProxy: key[1],
				colStatus: r[colStatus], colNote: r[colNote],
			}}
			s.cells[key] = c
		}
		if r[colStatus] == statusOK {
			measured[key] = append(measured[key], r)
		}
		if v, err := strconv.ParseFloat(r[colErrors], 64); err == nil && (r[colStatus] == statusOK || r[colStatus] == statusNoisy) {
			errorCounts[key] = append(errorCounts[key], v)
		}
	}
	for key, rs := range measured {
		c := s.cells[key]
		c.rounds = len(rs)
		c.median[colStatus], c.median[colNote] = statusOK, ""
		c.median[colErrors] = formatNumber(sum(errorCounts[key]))
		for name := range rs[0] {
			if _, set := c.median[name]; set {
				continue
			}
			values := make([]float64, 0, len(rs))
			for _, r := range rs {
				if v, err := strconv.ParseFloat(r[name], 64); err == nil {
					values = append(values, v)
				}
			}
			if len(values) == 0 {
				continue
			}
			c.median[name] = formatNumber(median(values))
		}
	}
	return s
}

func median(values []float64) float64 {
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func sum(values []float64) float64 {
	var total float64
	for _, v := range values {
		total += v
	}
	return total
}

// formatNumber writes whole numbers without a fraction and others with
// two decimals, as bench/run does.
func formatNumber(v float64) string {
	if v == float64(int64(v)) {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// writeCSV replaces path with the round rows followed by the median rows,
// through a temporary file so that a failure leaves the original intact.
func writeCSV(path string, header []string, rows []row, s *summary) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".results-*.csv")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := csv.NewWriter(tmp)
	w.Write(header)
	record := func(r row) []string {
		out := make([]string, len(header))
		for i, name := range header {
			out[i] = r[name]
		}
		return out
	}
	for _, r := range rows {
		w.Write(record(r))
	}
	for _, scenario := range s.scenarios {
		for _, proxy := range s.proxies {
			if c := s.get(scenario, proxy); c != nil {
				w.Write(record(c.median))
			}
		}
	}
	w.Flush()
	if err := errors.Join(w.Error(), tmp.Close()); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// scenarioTitles describe the scenarios bench/run knows.
var scenarioTitles = map[string]string{
	"small":   "GET, 5-byte response, keep-alive",
	"16k":     "GET, 16 KiB response, keep-alive",
	"1m":      "GET, 1 MiB response, keep-alive",
	"post4k":  "POST of a 4 KiB body, 5-byte response, keep-alive",
	"newconn": "GET, 5-byte response, a new connection for every request (Connection: close)",
	"h2":      "GET, 5-byte response, HTTP/2 (h2c) from the client, HTTP/1.1 to the upstream",
}

// proxyNames are the names the tables print.
var proxyNames = map[string]string{"portico": "portico", "nginx": "nginx", "haproxy": "HAProxy", "caddy": "Caddy", "nginx-tuned": "nginx (tuned)"}

func displayName(proxy string) string {
	if name, ok := proxyNames[proxy]; ok {
		return name
	}
	return proxy
}

// Ratios are taken against these proxies when they were measured.
var references = []string{"nginx", "haproxy"}

func writeTables(w io.Writer, s *summary) error {
	var b strings.Builder
	refs := slices.DeleteFunc(slices.Clone(references), func(p string) bool { return !slices.Contains(s.proxies, p) })
	// The overview compares portico only, and only when it was measured.
	porticoRefs := refs
	if !slices.Contains(s.proxies, "portico") {
		porticoRefs = nil
	}

	b.WriteString("## Proxy CPU per request\n\n")
	b.WriteString("Microseconds of the proxy's CPU time per request, median over the rounds; lower is better.\n\n")
	head := []string{"scenario"}
	for _, p := range s.proxies {
		head = append(head, displayName(p))
	}
	for _, ref := range porticoRefs {
		head = append(head, "portico per core vs "+displayName(ref))
	}
	var rows [][]string
	for _, scenario := range s.scenarios {
		line := []string{scenario}
		for _, p := range s.proxies {
			line = append(line, cpuOrStatus(s.get(scenario, p)))
		}
		for _, ref := range porticoRefs {
			line = append(line, perCore(s.get(scenario, ref), s.get(scenario, "portico")))
		}
		rows = append(rows, line)
	}
	writeTable(&b, head, rows)

	head = []string{"proxy", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "errors", "CPU µs/req"}
	for _, ref := range refs {
		head = append(head, "per core vs "+displayName(ref))
	}
	head = append(head, "proxy core busy", "load core busy", "others on proxy / load core")
	for _, scenario := range s.scenarios {
		title := scenario
		if t, ok := scenarioTitles[scenario]; ok {
			title += ": " + t
		}
		fmt.Fprintf(&b, "\n### %s\n\n", title)
		rows = rows[:0]
		for _, p := range s.proxies {
			c := s.get(scenario, p)
			if c == nil {
				continue
			}
			m := c.median
			if m[colStatus] != statusOK {
				rows = append(rows, []string{displayName(p), m[colStatus] + ": " + m[colNote]})
				continue
			}
			line := []string{displayName(p), thousands(m[colRPS]), millis(m[colP50]), millis(m[colP99]),
				millis(m[colP999]), m[colErrors], oneDecimal(m[colCPU])}
			for _, ref := range refs {
				line = append(line, perCore(s.get(scenario, ref), c))
			}
			line = append(line, m[colBusy]+"%", m[colLoad]+"%", m[colOthers]+"% / "+m[colLoadOthers]+"%")
			rows = append(rows, line)
		}
		writeTable(&b, head, rows)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeTable writes a Markdown table with the first column left-aligned
// and the others, numbers, right-aligned. A short row is padded with empty
// cells.
func writeTable(b *strings.Builder, head []string, rows [][]string) {
	b.WriteString("| " + strings.Join(head, " | ") + " |\n")
	b.WriteString("|---|" + strings.Repeat("--:|", len(head)-1) + "\n")
	for _, row := range rows {
		cells := append(slices.Clone(row), make([]string, len(head)-len(row))...)
		b.WriteString(strings.TrimRight("| "+strings.Join(cells, " | ")+" |", " ") + "\n")
	}
}

func cpuOrStatus(c *cell) string {
	switch {
	case c == nil:
		return "–"
	case c.median[colStatus] != statusOK:
		return c.median[colStatus]
	}
	return oneDecimal(c.median[colCPU])
}

// perCore is how many of subject's requests one core serves for each one
// ref serves on it: ref's CPU per request over subject's. Above 1, subject
// does more with a core than ref.
func perCore(ref, subject *cell) string {
	if ref == nil || subject == nil || ref.median[colStatus] != statusOK || subject.median[colStatus] != statusOK {
		return "–"
	}
	r, err1 := strconv.ParseFloat(ref.median[colCPU], 64)
	s, err2 := strconv.ParseFloat(subject.median[colCPU], 64)
	if err1 != nil || err2 != nil || s == 0 {
		return "–"
	}
	return strconv.FormatFloat(r/s, 'f', 2, 64) + "×"
}

func oneDecimal(v string) string {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return v
	}
	return strconv.FormatFloat(f, 'f', 1, 64)
}

// millis prints a microsecond figure in milliseconds.
func millis(us string) string {
	f, err := strconv.ParseFloat(us, 64)
	if err != nil {
		return us
	}
	return strconv.FormatFloat(f/1000, 'f', 2, 64)
}

// thousands prints a rate as a whole number with thousands separated.
func thousands(v string) string {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return v
	}
	digits := strconv.FormatInt(int64(f+0.5), 10)
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return b.String()
}
