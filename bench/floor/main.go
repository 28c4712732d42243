// Command floor is the least a Go proxy can cost per request on this
// machine: it relays bytes between each client connection and an upstream
// connection of its own, one read and one write each way per request, and
// parses, logs and counts nothing. Run it pinned like the proxies in
// bench/run and load it the same way; its CPU per request is the floor
// under portico's (docs/performance.md, "Where the rest goes").
//
// It assumes each request and each response arrive in one read, as small
// keep-alive GETs on loopback do; it is a measuring stick, not a proxy.
//
//	GOMAXPROCS=1 taskset -c 0 go run ./bench/floor -listen 127.0.0.1:8090 -upstream 127.0.0.1:8091
//
// -spin adds that many rounds of pure computation per request, to see how
// the kernel's share grows when a proxy answers more slowly.
package main

import (
	"flag"
	"log"
	"net"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8090", "address to accept clients on (loopback)")
	upstream := flag.String("upstream", "127.0.0.1:8091", "the upstream's address (loopback)")
	spin := flag.Int("spin", 0, "rounds of computation added per request")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go relay(c, *upstream, *spin)
	}
}

func relay(client net.Conn, upstream string, spin int) {
	defer client.Close()
	up, err := net.Dial("tcp", upstream)
	if err != nil {
		log.Print(err)
		return
	}
	defer up.Close()
	req := make([]byte, 16<<10)
	resp := make([]byte, 32<<10)
	for {
		n, err := client.Read(req)
		if err != nil {
			return
		}
		if _, err := up.Write(req[:n]); err != nil {
			return
		}
		m, err := up.Read(resp)
		if err != nil {
			return
		}
		compute(spin)
		if _, err := client.Write(resp[:m]); err != nil {
			return
		}
	}
}

// sink keeps compute's result alive, so the loop is not optimized away.
var sink uint64

func compute(rounds int) {
	x := sink
	for range rounds {
		x = x*6364136223846793005 + 1442695040888963407
	}
	sink = x
}
