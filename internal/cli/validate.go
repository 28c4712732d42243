package cli

import (
	"fmt"
	"io"

	"github.com/portico-proxy/portico/internal/config"
	"github.com/spf13/cobra"
)

func newValidateCommand(stdout, stderr io.Writer) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "validate -c FILE",
		Short: "Check a config file and print every problem",
		Long: `Check a config file and print every problem as FILE:LINE:COL: message,
with the offending line. Exits 1 if there is any problem, 0 otherwise.
Whether a listen address is free is checked by run, not here.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cfg, err := config.Load(path)
			if err != nil {
				printLoadError(stderr, err)
				return silentFail
			}
			fmt.Fprintf(stdout, "%s: valid (%d upstreams, %d routes)\n", path, len(cfg.Upstreams), len(cfg.Routes))
			return nil
		},
	}
	addConfigFlag(cmd, &path)
	return cmd
}
