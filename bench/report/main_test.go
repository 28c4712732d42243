package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const header = "round,scenario,proxy,status,requests,seconds,req_per_s,p50_us,p99_us,p999_us,errors,bytes_per_response,proxy_cpu_us_per_req,proxy_core_busy_pct,proxy_core_others_pct,load_core_busy_pct,load_core_others_pct,upstream_cpu_us_per_req,load_cpu_us_per_req,note\n"

// Columns after status: requests, seconds, req_per_s, p50_us, p99_us,
// p999_us, errors, bytes_per_response, proxy_cpu_us_per_req,
// proxy_core_busy_pct, proxy_core_others_pct, load_core_busy_pct,
// load_core_others_pct, upstream_cpu_us_per_req, load_cpu_us_per_req, note.
const rounds = header +
	"1,small,portico,ok,400000,8.00,50000,900,3000,5000,0,120,40.00,100,1,60,2,4.00,8.00,\n" +
	"1,small,nginx,ok,640000,8.00,80000,600,2000,4000,2,120,20.00,95,1,80,3,4.00,8.00,\n" +
	"1,h2,portico,skipped,,,,,,,,,,,,,,,,does not serve h2c\n" +
	"1,h2,nginx,ok,560000,8.00,70000,700,2500,4500,0,5,25.00,99,1,70,2,4.00,8.00,\n" +
	"2,small,nginx,ok,600000,8.00,75000,650,2100,4100,1,120,22.00,96,2,81,2,4.10,8.10,\n" +
	"2,small,portico,noisy,100000,8.00,12500,9000,30000,50000,5,120,90.00,30,70,60,2,4.00,8.00,others took 70% of the proxy core\n" +
	"2,small,portico,ok,440000,8.00,55000,880,2900,4900,0,120,44.00,100,0,61,2,4.10,8.10,\n" +
	"2,h2,nginx,failed,,,,,,,,,,,,,,,,load generator exited with status 124\n" +
	"2,h2,portico,skipped,,,,,,,,,,,,,,,,does not serve h2c\n" +
	"3,small,portico,ok,420000,8.00,52500,950,3100,5100,3,120,50.00,100,2,59,1,3.90,7.90,\n" +
	"3,small,nginx,ok,620000,8.00,77500,610,2050,4050,0,120,21.00,94,1,79,2,4.00,8.00,\n"

func writeResults(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "results.csv")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Medians leave out the noisy run that was repeated; the error count does
// not: 0 + 5 (noisy) + 0 + 3 for portico.
func TestMediansAreAppendedAndErrorsSummed(t *testing.T) {
	path := writeResults(t, rounds)
	var tables strings.Builder
	if err := run(path, &tables); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := rounds +
		"median,small,portico,ok,420000,8,52500,900,3000,5000,8,120,44,100,1,60,2,4,8,\n" +
		"median,small,nginx,ok,620000,8,77500,610,2050,4050,3,120,21,95,1,80,2,4,8,\n" +
		"median,h2,portico,skipped,,,,,,,,,,,,,,,,does not serve h2c\n" +
		"median,h2,nginx,ok,560000,8,70000,700,2500,4500,0,5,25,99,1,70,2,4,8,\n"
	if string(got) != want {
		t.Errorf("results.csv:\n%s\nwant:\n%s", got, want)
	}
}

func TestRunningAgainReplacesTheMedians(t *testing.T) {
	path := writeResults(t, rounds)
	var first, second strings.Builder
	if err := run(path, &first); err != nil {
		t.Fatal(err)
	}
	once, _ := os.ReadFile(path)
	if err := run(path, &second); err != nil {
		t.Fatal(err)
	}
	twice, _ := os.ReadFile(path)
	if string(once) != string(twice) || first.String() != second.String() {
		t.Errorf("a second run changed the output:\n%s\nthen:\n%s", once, twice)
	}
}

func TestTables(t *testing.T) {
	var tables strings.Builder
	if err := run(writeResults(t, rounds), &tables); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"| scenario | portico | nginx | portico per core vs nginx |",
		// nginx spends 21 µs where portico spends 44: portico serves 0.48
		// of nginx's requests with the same core.
		"| small | 44.0 | 21.0 | 0.48× |",
		"| h2 | skipped | 25.0 | – |",
		"### small: GET, 5-byte response, keep-alive",
		"| portico | 52,500 | 0.90 | 3.00 | 5.00 | 8 | 44.0 | 0.48× | 100% | 60% | 1% / 2% |",
		"| nginx | 77,500 | 0.61 | 2.05 | 4.05 | 3 | 21.0 | 1.00× | 95% | 80% | 1% / 2% |",
		"| portico | skipped: does not serve h2c |  |  |  |  |  |  |  |  |  |",
	} {
		if !strings.Contains(tables.String(), line+"\n") {
			t.Errorf("no line %q in:\n%s", line, tables.String())
		}
	}
}

func TestMedianOfAnEvenCountIsTheMidpoint(t *testing.T) {
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median = %v, want 2.5", got)
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[string]string{"0": "0", "999": "999", "1000": "1,000", "1234567.6": "1,234,568"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%s) = %s, want %s", in, got, want)
		}
	}
}
