package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/gateway"
	"github.com/spf13/cobra"
)

func newRunCommand(stderr io.Writer) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "run -c FILE",
		Short: "Run the gateway from a config file",
		Long: `Run the gateway from a config file.

SIGTERM and SIGINT drain: listeners close, in-flight requests finish up to
shutdown_grace, then portico exits 0. SIGHUP reloads the file; a file with
errors is refused and the running configuration keeps serving.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			load := func() (*config.Config, error) { return config.Load(path) }
			return serve(cmd.Context(), gateway.Options{Load: load, Log: operatorLog(stderr)}, stderr, nil)
		},
	}
	addConfigFlag(cmd, &path)
	return cmd
}

func addConfigFlag(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVarP(path, "config", "c", "", "config file (YAML)")
	_ = cmd.MarkFlagRequired("config")
	_ = cmd.MarkFlagFilename("config", "yaml", "yml")
}

// operatorLog is where portico reports on itself: reloads, refused
// configurations, listener trouble. The access log is separate.
func operatorLog(stderr io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(stderr, nil))
}

// serve runs a gateway until SIGTERM or SIGINT, reloading on SIGHUP.
// started, when set, is called once the gateway is listening.
func serve(ctx context.Context, o gateway.Options, stderr io.Writer, started func(*gateway.Gateway)) error {
	g, err := gateway.New(o)
	if err != nil {
		printLoadError(stderr, err)
		return silentFail
	}
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(signals)

	serveErr := make(chan error, 1)
	go func() { serveErr <- g.Serve() }()
	if started != nil {
		started(g)
	}
	o.Log.Info("portico serving", "listen", fmt.Sprint(g.Addrs()), "tls_listen", fmt.Sprint(g.TLSAddrs()), "admin", fmt.Sprint(g.AdminAddr()))

	reloads := make(chan struct{}, 1)
	go reloadLoop(g, reloads, o.Log, stderr)
	defer close(reloads)

	for {
		select {
		case err := <-serveErr:
			return fail(err)
		case <-ctx.Done():
			return drain(g, o.Log)
		case s := <-signals:
			if s != syscall.SIGHUP {
				o.Log.Info("draining", "signal", s.String())
				return drain(g, o.Log)
			}
			// Signals that arrive while a reload runs collapse into one
			// more reload, which reads the newest file.
			select {
			case reloads <- struct{}{}:
			default:
			}
		}
	}
}

func reloadLoop(g *gateway.Gateway, reloads <-chan struct{}, log *slog.Logger, stderr io.Writer) {
	for range reloads {
		if err := g.Reload(); err != nil {
			log.Error("reload refused; the running configuration keeps serving")
			printLoadError(stderr, err)
			continue
		}
		log.Info("configuration reloaded", "listen", fmt.Sprint(g.Addrs()), "tls_listen", fmt.Sprint(g.TLSAddrs()), "admin", fmt.Sprint(g.AdminAddr()))
	}
}

func drain(g *gateway.Gateway, log *slog.Logger) error {
	grace := g.Config().ShutdownGrace
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		log.Warn("drain cut short", "error", err, "grace", grace.String())
	}
	return nil
}

// printLoadError prints config problems one per line with their source
// snippet, anything else as one sentence.
func printLoadError(stderr io.Writer, err error) {
	var list config.ErrorList
	if errors.As(err, &list) {
		list.Print(stderr)
		return
	}
	fmt.Fprintln(stderr, "portico: "+err.Error())
}
