package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/portico-proxy/portico/internal/demo"
	"github.com/portico-proxy/portico/internal/gateway"
)

// runDemo starts the embedded demo upstreams and serves the embedded
// configuration in front of them until interrupted.
func runDemo(ctx context.Context, stdout, stderr io.Writer) error {
	d, err := demo.Start()
	if err != nil {
		return fail(fmt.Errorf("starting the demo upstreams: %w", err))
	}
	defer d.Close()
	o := gateway.Options{Load: d.Load, Log: operatorLog(stderr), Resolver: d.Resolver()}
	return serve(ctx, o, stderr, func(g *gateway.Gateway) {
		admin := "(off)"
		if a := g.AdminAddr(); a != nil {
			admin = "http://" + a.String()
		}
		fmt.Fprint(stdout, demo.Guide("http://"+g.Addrs()[0].String(), admin))
	})
}
