package cli

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/portico-proxy/portico/internal/config"
	"github.com/portico-proxy/portico/internal/diagnose"
)

// diagnoseFlags are the flags of portico diagnose.
type diagnoseFlags struct {
	ca, serverName, config string
	json                   bool
	resolvers              []string
	dnsTimeout             time.Duration
	connectTimeout         time.Duration
	tlsTimeout             time.Duration
	httpTimeout            time.Duration
	idleProbe              time.Duration
	expiryDays             int
	parallel               int
}

func newDiagnoseCommand(stdout, stderr io.Writer) *cobra.Command {
	var f diagnoseFlags
	cmd := &cobra.Command{
		Use:   "diagnose URL | -c FILE",
		Short: "Check a backend step by step and name what is wrong",
		Long: `Check a backend the way you would by hand when it answers 502: DNS, TCP to
every address, TLS, one GET and the idle keep-alive connection, in order.
It stops where the chain breaks and names the cause with the error type
portico's Proxy-Status would carry, and the next step to take.

With -c FILE it checks every target of every upstream of a config, with
each upstream's TLS settings, timeouts and idle_timeout, and prints one
verdict line per target.

Exits 0 when everything is healthy (warnings allowed), 1 when a problem is
found, 2 on bad usage.`,
		Example: `  portico diagnose https://app-2.internal:3443/health --ca internal-ca.pem
  portico diagnose http://app.internal:8080/ --resolver 10.0.0.2 --json
  portico diagnose -c portico.yaml`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case f.config != "" && len(args) > 0:
				return errors.New("give either a URL or -c FILE, not both")
			case f.config != "" && (f.ca != "" || f.serverName != ""):
				return errors.New("--ca and --server-name apply to a URL; with -c each upstream's tls settings apply")
			case f.config == "" && len(args) != 1:
				return fmt.Errorf("diagnose takes one URL (or -c FILE), got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options()
			if err != nil {
				return err
			}
			render := diagnose.RenderOptions{Color: colorFor(stdout)}
			if f.config != "" {
				return diagnoseConfig(cmd, f, o, render, stdout, stderr)
			}
			target, err := diagnose.ParseTarget(args[0])
			if err != nil {
				return err
			}
			d, err := diagnose.New(o)
			if err != nil {
				return err
			}
			r := d.Check(cmd.Context(), target)
			if f.json {
				err = diagnose.JSON(stdout, r)
			} else {
				err = diagnose.Render(stdout, r, render)
			}
			if err != nil {
				return fail(err)
			}
			if !r.Verdict.Healthy {
				return silentFail
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.ca, "ca", "", "PEM file of CA certificates to trust instead of the system roots")
	fl.StringVar(&f.serverName, "server-name", "", "name to send as SNI and verify (default: the URL's host)")
	fl.BoolVar(&f.json, "json", false, "print the report as JSON (schema in docs/diagnose.md)")
	fl.StringVarP(&f.config, "config", "c", "", "check every target of this config file instead of one URL")
	fl.StringArrayVar(&f.resolvers, "resolver", nil, "DNS server to ask, IP or IP:port, repeatable (default: /etc/resolv.conf)")
	fl.DurationVar(&f.dnsTimeout, "dns-timeout", diagnose.DefaultStepTimeout, "limit for the DNS lookup")
	fl.DurationVar(&f.connectTimeout, "connect-timeout", diagnose.DefaultStepTimeout, "limit for each TCP connect")
	fl.DurationVar(&f.tlsTimeout, "tls-timeout", diagnose.DefaultStepTimeout, "limit for the TLS handshake")
	fl.DurationVar(&f.httpTimeout, "http-timeout", diagnose.DefaultStepTimeout, "limit for the response head and each gap in the body")
	fl.DurationVar(&f.idleProbe, "idle-probe", diagnose.DefaultIdleProbe, "how long to watch the idle keep-alive connection; 0 skips it")
	fl.IntVar(&f.expiryDays, "expiry-warning-days", int(diagnose.DefaultExpiryWarning/(24*time.Hour)), "warn of certificates expiring within this many days")
	fl.IntVar(&f.parallel, "parallel", diagnose.DefaultParallel, "with -c, how many targets to check at once")
	_ = cmd.MarkFlagFilename("config", "yaml", "yml")
	_ = cmd.MarkFlagFilename("ca", "pem", "crt")
	return cmd
}

// options turns the flags into diagnose options; a bad value is a usage
// error.
func (f diagnoseFlags) options() (diagnose.Options, error) {
	o := diagnose.Options{
		CAFile:         f.ca,
		ServerName:     f.serverName,
		DNSTimeout:     f.dnsTimeout,
		ConnectTimeout: f.connectTimeout,
		TLSTimeout:     f.tlsTimeout,
		HTTPTimeout:    f.httpTimeout,
		IdleProbe:      f.idleProbe,
		ExpiryWarning:  time.Duration(f.expiryDays) * 24 * time.Hour,
	}
	timeouts := []struct {
		flag string
		d    time.Duration
	}{
		{"--dns-timeout", f.dnsTimeout}, {"--connect-timeout", f.connectTimeout},
		{"--tls-timeout", f.tlsTimeout}, {"--http-timeout", f.httpTimeout},
	}
	for _, t := range timeouts {
		if t.d <= 0 {
			return o, fmt.Errorf("%s must be positive, got %s", t.flag, t.d)
		}
	}
	switch {
	case f.idleProbe < 0:
		return o, fmt.Errorf("--idle-probe must not be negative, got %s", f.idleProbe)
	case f.idleProbe == 0:
		o.IdleProbe = -1 // skip the probe
	}
	if f.expiryDays < 0 || f.parallel < 1 {
		return o, errors.New("--expiry-warning-days must not be negative and --parallel must be at least 1")
	}
	for _, s := range f.resolvers {
		ap, err := parseResolver(s)
		if err != nil {
			return o, err
		}
		o.Resolvers = append(o.Resolvers, ap.String())
	}
	return o, nil
}

// parseResolver reads a DNS server as IP (port 53) or IP:port.
func parseResolver(s string) (netip.AddrPort, error) {
	if addr, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(addr, 53), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return ap, fmt.Errorf("--resolver %q is not an IP or IP:port", s)
	}
	return ap, nil
}

func diagnoseConfig(cmd *cobra.Command, f diagnoseFlags, o diagnose.Options, render diagnose.RenderOptions, stdout, stderr io.Writer) error {
	cfg, err := config.Load(f.config)
	if err != nil {
		printLoadError(stderr, err)
		return silentFail
	}
	cr, err := diagnose.CheckConfig(cmd.Context(), cfg, o, f.parallel)
	if err != nil {
		return fail(err)
	}
	if f.json {
		err = diagnose.JSONConfig(stdout, cr)
	} else {
		err = diagnose.RenderConfig(stdout, cr, render)
	}
	if err != nil {
		return fail(err)
	}
	if !cr.Healthy {
		return silentFail
	}
	return nil
}

// colorFor reports whether output to w may be coloured: w is a terminal
// and the user has not opted out with NO_COLOR (no-color.org) or
// TERM=dumb.
func colorFor(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
