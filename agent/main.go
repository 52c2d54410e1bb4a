package agent

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/version"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/internal/exepages"
	"github.com/promtail-osquery/promtail-osquery/internal/procs"
)

func init() {
	// A plain go build or go install sets no -ldflags; the module version is the
	// next best thing for -version, promtail_build_info and the User-Agent.
	if version.Version == "" {
		version.Version = "dev"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version.Version = bi.Main.Version
		}
	}
}

// Main is the promtail-osquery command: Promtail 3.6's command line, flags and
// exit codes (2 for a usage error, 1 for a bad config or a failed start, 0 after
// a clean stop). It returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("promtail-osquery", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts, flags, err := config.ParseArgs(fs, args)
	if err != nil {
		// The flag package has already printed the error and the usage.
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "Run with -help to get a list of available parameters")
		}
		return 2
	}
	if opts.Version {
		fmt.Fprintln(stdout, version.Print("promtail-osquery"))
		return 0
	}

	cfg, _, warnings, err := flags.Load()
	if err != nil {
		fmt.Fprintf(stderr, "Unable to parse config: %v\n", config.WithExpandEnvHint(err, opts.ExpandEnv))
		return 1
	}
	stdinMode := opts.Stdin || cfg.TargetConfig.Stdin
	cfg.TargetConfig.Stdin = stdinMode
	if opts.CheckSyntax {
		if opts.ConfigFile == "" {
			fmt.Fprintln(stdout, "Invalid config file")
			return 1
		}
		fmt.Fprintln(stdout, "Valid config file! No syntax issues found")
		return 0
	}

	logger := newLogger(cfg, stderr)
	for _, w := range warnings {
		logger.Warn(w)
	}
	if opts.PrintConfigStderr {
		fmt.Fprintf(stderr, "%s\n", cfg)
	}
	if opts.LogConfigReverseOrder {
		logConfigReversed(logger, cfg)
	}
	if err := cfg.Validate(); err != nil {
		logger.Error("error creating promtail", "error", err)
		return 1
	}

	agentOpts := Options{
		Logger: logger,
		DryRun: opts.DryRun,
		Stdout: stdout,
		Reload: func() (*config.Config, error) {
			cfg, _, warnings, err := flags.Load()
			if err != nil {
				return nil, config.WithExpandEnvHint(err, opts.ExpandEnv)
			}
			for _, w := range warnings {
				logger.Warn(w)
			}
			return cfg, cfg.Validate()
		},
	}
	if opts.Inspect {
		agentOpts.Inspect = stderr
	}
	if stdinMode {
		agentOpts.Stdin = stdin
	}
	a, err := New(cfg, agentOpts)
	if err != nil {
		logger.Error("error creating promtail", "error", err)
		return 1
	}
	logger.Info("Starting promtail-osquery", "version", version.Info())
	// Start-up is over: most of the binary's pages it touched are not needed
	// again (see internal/exepages); dropping them takes about a quarter off
	// the agent's peak resident set. Logged at info so that an operator can
	// see when nothing was released, e.g. on a kernel whose /proc maps and
	// stat disagree on the executable's device.
	switch released, err := exepages.Release(); {
	case errors.Is(err, exepages.ErrUnsupported):
		// Not Linux: the pages stay, as in any Go program.
	case err != nil:
		logger.Info("start-up pages of the executable not released", "error", err)
	default:
		logger.Info("released the start-up pages of the executable", "mapped_bytes", released)
	}

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	if opts.AdaptiveProcs {
		defer governProcs(ctx, logger)()
	} else {
		logger.Info("-runtime.adaptive-procs=false: the Go scheduler's thread count is left to Go", "gomaxprocs", runtime.GOMAXPROCS(0))
	}
	go reloadOnHangup(ctx, a, cfg.Server.EnableRuntimeReload, logger)
	if err := a.Run(ctx); err != nil {
		logger.Error("promtail-osquery stopped with an error", "error", err)
		return 1
	}
	return 0
}

// reloadOnHangup reloads the configuration on SIGHUP while ctx lives.
func reloadOnHangup(ctx context.Context, a *Agent, enabled bool, logger *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if !enabled {
				logger.Warn("SIGHUP received but server.enable_runtime_reload is off; not reloading")
				continue
			}
			a.Reload()
		}
	}
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	level := promslog.NewLevel()
	format := promslog.NewFormat()
	// Both values were validated while the config was decoded.
	_ = level.Set(string(cfg.Server.LogLevel))
	_ = format.Set(string(cfg.Server.LogFormat))
	return promslog.New(&promslog.Config{Level: level, Format: format, Writer: w})
}

// logConfigReversed is -log-config-reverse-order: the effective config at info
// level, last line first, so that it reads top-down in log viewers that show
// the newest line first.
func logConfigReversed(logger *slog.Logger, cfg *config.Config) {
	lines := strings.Split(strings.TrimRight(cfg.String(), "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		logger.Info(lines[i])
	}
}

// governProcs runs the GOMAXPROCS governor (see internal/procs) until ctx
// ends, unless the operator chose GOMAXPROCS in the environment or Go's own
// choice is already one thread. The returned function stops it and waits.
func governProcs(ctx context.Context, logger *slog.Logger) (stop func()) {
	limit := runtime.GOMAXPROCS(0)
	switch {
	case os.Getenv("GOMAXPROCS") != "":
		logger.Info("GOMAXPROCS is set in the environment; the Go scheduler's thread count is left to it", "gomaxprocs", limit)
		return func() {}
	case limit == 1:
		// With one CPU there is nothing to choose, and setting the count
		// would stop Go from following CPU changes.
		return func() {}
	}
	g := procs.NewGovernor(limit)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		procs.Run(ctx, g, logger, procs.Options{})
	}()
	return func() {
		cancel()
		<-done
	}
}
