// Command portico is a reverse proxy and load balancer that answers every
// failure exactly. Run it without arguments for the embedded demo.
package main

import (
	"os"

	"github.com/portico-proxy/portico/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
