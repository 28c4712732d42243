// Command idle measures what idle keep-alive client connections cost a
// running proxy: it opens N connections to ADDR, sends one request on each
// and keeps them open, then reports the resident memory of process PID
// before and after.
//
//	go run ./bench/idle -addr 127.0.0.1:8080 -pid $(pgrep -f 'portico run') -n 10000
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "the proxy's address (loopback)")
	pid := flag.Int("pid", 0, "the proxy's process ID")
	n := flag.Int("n", 10000, "connections to open")
	path := flag.String("path", "/", "path to request on each connection")
	flag.Parse()
	if *pid == 0 {
		fmt.Fprintln(os.Stderr, "idle: -pid is required")
		os.Exit(2)
	}
	raiseFileLimit()
	before, err := residentKiB(*pid)
	if err != nil {
		fmt.Fprintln(os.Stderr, "idle:", err)
		os.Exit(1)
	}
	conns := make([]net.Conn, 0, *n)
	for len(conns) < *n {
		c, err := openIdle(*addr, *path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "idle: connection %d: %v\n", len(conns)+1, err)
			break
		}
		conns = append(conns, c)
	}
	after, err := residentKiB(*pid)
	if err != nil {
		fmt.Fprintln(os.Stderr, "idle:", err)
		os.Exit(1)
	}
	fmt.Printf("idle connections: %d\nresident before: %d MiB\nresident after:  %d MiB\nper connection:  %.1f KiB\n",
		len(conns), before/1024, after/1024, float64(after-before)/float64(max(len(conns), 1)))
	for _, c := range conns {
		c.Close()
	}
}

// openIdle opens a connection, completes one request on it and leaves it
// open and idle.
func openIdle(addr, path string) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n", path); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return c, nil
}

// residentKiB reads a process's resident set size.
func residentKiB(pid int) (int, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		}
	}
	return 0, fmt.Errorf("no VmRSS for process %d", pid)
}

// raiseFileLimit lets this process hold as many connections as it may.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}
