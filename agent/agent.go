// Package agent runs promtail-osquery: it turns a loaded configuration into
// running clients, targets, pipelines and the HTTP server, reloads them, and
// stops them in an order that loses nothing that was read.
//
// It is public so that a custom binary is a three-line main: import this
// package and the packages of extra stages (each registers itself with
// stages.Register from its init), then call Main.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/model"
	"golang.org/x/time/rate"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/internal/client"
	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/internal/positions"
	"github.com/promtail-osquery/promtail-osquery/internal/server"
	"github.com/promtail-osquery/promtail-osquery/internal/targets"
	"github.com/promtail-osquery/promtail-osquery/internal/targets/file"
	"github.com/promtail-osquery/promtail-osquery/internal/targets/journal"
	"github.com/promtail-osquery/promtail-osquery/internal/targets/lokipush"
	"github.com/promtail-osquery/promtail-osquery/internal/targets/osquerytls"
	"github.com/promtail-osquery/promtail-osquery/internal/targets/stdin"
	"github.com/promtail-osquery/promtail-osquery/internal/targets/syslog"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

// Options are the choices the command line makes beyond the config file.
type Options struct {
	Logger *slog.Logger
	// DryRun prints entries to Stdout instead of pushing them, and never
	// writes the positions file.
	DryRun bool
	Stdout io.Writer
	// Inspect writes, for every entry and stage, what the stage changed.
	Inspect io.Writer
	// Stdin, when set, is read instead of running the configured targets
	// (-stdin); Run returns once it is read and shipped.
	Stdin io.Reader
	// Registerer and Gatherer default to Prometheus's default registry, as in
	// Promtail; tests pass their own.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Reload re-reads the configuration for SIGHUP and POST /reload.
	Reload func() (*config.Config, error)
}

// metrics are created once per process and shared by every generation of
// components, since a reload must not register them a second time.
type metrics struct {
	client        *client.Metrics
	file          *file.Metrics
	push          *lokipush.Metrics
	syslog        *syslog.Metrics
	osqueryTLS    *osquerytls.Metrics
	journal       *journal.Metrics
	server        *server.Metrics
	drops         *stages.DropMetrics
	reloadSuccess prometheus.Counter
	reloadFail    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	drops, err := stages.NewDropMetrics(reg)
	if err != nil {
		return nil, err
	}
	m := &metrics{
		client:     client.NewMetrics(reg),
		file:       file.NewMetrics(reg),
		push:       lokipush.NewMetrics(reg),
		syslog:     syslog.NewMetrics(reg),
		osqueryTLS: osquerytls.NewMetrics(reg),
		journal:    journal.NewMetrics(reg),
		server:     server.NewMetrics(reg),
		drops:      drops,
		reloadSuccess: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "promtail", Name: "config_reload_success_total",
			Help: "Number of reload success times.",
		}),
		reloadFail: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "promtail", Name: "config_reload_fail_total",
			Help: "Number of reload fail times.",
		}),
	}
	for _, c := range []prometheus.Collector{m.reloadSuccess, m.reloadFail, versioncollector.NewCollector("promtail")} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering agent metrics: %w", err)
		}
	}
	return m, nil
}

// Agent is a running promtail-osquery.
type Agent struct {
	opts    Options
	logger  *slog.Logger
	metrics *metrics
	server  *server.Server

	// mu serialises reloads with each other and with Stop.
	mu      sync.Mutex
	cfg     *config.Config
	current *generation
	stopped bool
}

// generation is everything a configuration builds; a reload stops one and
// starts the next.
type generation struct {
	positions *positions.Positions
	sink      sink
	jobs      []*targets.JobPipeline
	files     *file.Manager
	// listeners are the targets of the other kinds (push receivers,
	// network listeners); each stops and waits for itself.
	listeners []listener
}

type stopper interface{ Stop() }

// listener is a running target of a kind other than file, with its job.
type listener struct {
	job  string
	kind config.TargetKind
	stopper
}

// sink is where pipelines send entries: the Loki clients, or the dry-run
// printer.
type sink interface {
	api.EntryHandler
	Stop()
}

// printerSink is the dry-run printer, which writes each entry as it comes and
// so has nothing to flush on stop.
type printerSink struct{ *client.Printer }

func (printerSink) Stop() {}

// New builds every component of cfg and starts them, except for the reading of
// standard input, which Run does.
func New(cfg *config.Config, opts Options) (*Agent, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.DefaultRegisterer
	}
	if opts.Gatherer == nil {
		opts.Gatherer = prometheus.DefaultGatherer
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	a := &Agent{opts: opts, logger: opts.Logger, metrics: m, cfg: cfg}
	gen, err := a.start(cfg, nil)
	if err != nil {
		return nil, err
	}
	a.current = gen
	if opts.Stdin == nil {
		srv, err := server.New(serverConfig(cfg.Server), server.Options{
			Logger:     a.logger.With("component", "server"),
			Metrics:    m.server,
			Gatherer:   opts.Gatherer,
			Targets:    targetSource{gen.files, gen.listeners},
			ConfigText: a.configText,
			Reload:     a.Reload,
		})
		if err != nil {
			gen.stop()
			return nil, fmt.Errorf("starting the HTTP server: %w", err)
		}
		a.server = srv
	}
	return a, nil
}

// start builds one generation from cfg, with the positions of the previous
// one when kept is not nil. On error nothing it started is left running; kept
// is left to the caller.
func (a *Agent) start(cfg *config.Config, kept *positions.Positions) (gen *generation, err error) {
	gen = &generation{}
	defer func() {
		if err != nil {
			if gen.positions == kept {
				gen.positions = nil
			}
			gen.stop()
		}
	}()
	if a.opts.DryRun {
		gen.sink = printerSink{client.NewPrinter(a.opts.Stdout)}
	} else {
		mgr, err := client.NewManager(a.metrics.client, a.logger.With("component", "client"), cfg.Clients, client.Options{
			MaxStreams:          cfg.LimitsConfig.MaxStreams,
			MaxLineSize:         int(cfg.LimitsConfig.MaxLineSize),
			MaxLineSizeTruncate: cfg.LimitsConfig.MaxLineSizeTruncate,
			Spool:               spoolOptions(cfg.WAL),
			// Entries only flow once the targets started, after
			// gen.positions is set below.
			Spooled: func() {
				if gen.positions != nil {
					gen.positions.SyncSoon()
				}
			},
		})
		if err != nil {
			return gen, err
		}
		gen.sink = mgr
	}
	limit := a.readlineLimit(cfg.LimitsConfig)

	if a.opts.Stdin != nil {
		job, err := a.stdinJob(cfg, gen.sink, limit)
		if err != nil {
			return gen, err
		}
		gen.jobs = append(gen.jobs, job)
		return gen, nil
	}

	posCfg := cfg.Positions
	posCfg.ReadOnly = a.opts.DryRun
	if gen.positions = kept; kept == nil {
		if gen.positions, err = positions.New(a.logger.With("component", "positions"), posCfg); err != nil {
			return gen, err
		}
	}

	var fileJobs []config.ScrapeConfig
	handlers := map[string]api.EntryHandler{}
	for _, sc := range cfg.ScrapeConfigs {
		kind := sc.Kind()
		switch kind {
		case config.KindFile, config.KindPushAPI, config.KindSyslog, config.KindOsqueryTLS, config.KindJournal:
		case config.KindNone:
			return gen, fmt.Errorf("no valid target scrape config defined for %q", sc.JobName)
		default:
			return gen, fmt.Errorf("job %q: %s targets are not supported yet", sc.JobName, kind)
		}
		job, err := a.jobPipeline(sc, gen.sink, limit)
		if err != nil {
			return gen, fmt.Errorf("job %q: %w", sc.JobName, err)
		}
		gen.jobs = append(gen.jobs, job)
		if kind == config.KindFile {
			handlers[sc.JobName] = job
			fileJobs = append(fileJobs, sc)
			continue
		}
		target, err := a.startListener(sc, job, gen.positions)
		if err != nil {
			return gen, err
		}
		gen.listeners = append(gen.listeners, listener{job: sc.JobName, kind: kind, stopper: target})
	}
	gen.files, err = file.NewManager(file.ManagerOptions{
		Logger:        a.logger.With("component", "file_target"),
		Metrics:       a.metrics.file,
		Positions:     gen.positions,
		ScrapeConfigs: fileJobs,
		WatchConfig:   cfg.Global.FileWatch,
		TargetConfig:  cfg.TargetConfig,
		Handler:       func(job string) api.EntryHandler { return handlers[job] },
	})
	if err != nil {
		return gen, fmt.Errorf("failed to make file target manager: %w", err)
	}
	return gen, nil
}

// startListener starts the target of a job that receives its entries
// instead of reading files.
func (a *Agent) startListener(sc config.ScrapeConfig, job api.EntryHandler, pos *positions.Positions) (stopper, error) {
	switch sc.Kind() {
	case config.KindJournal:
		return journal.New(a.logger.With("component", "journal", "job", sc.JobName), a.metrics.journal, sc.JobName, sc.Journal, sc.RelabelConfigs, job, pos)
	case config.KindPushAPI:
		return lokipush.New(a.logger.With("component", "loki_push_api", "job", sc.JobName), a.metrics.push, sc.JobName, sc.PushAPI, sc.RelabelConfigs, job)
	case config.KindSyslog:
		return syslog.New(a.logger.With("component", "syslog", "job", sc.JobName), a.metrics.syslog, sc.JobName, sc.Syslog, sc.RelabelConfigs, job)
	case config.KindOsqueryTLS:
		return osquerytls.New(a.logger.With("component", "osquery_tls", "job", sc.JobName), a.metrics.osqueryTLS, sc.JobName, sc.OsqueryTLS, sc.RelabelConfigs, job)
	default:
		return nil, fmt.Errorf("job %q: %s targets are not supported yet", sc.JobName, sc.Kind())
	}
}

func (a *Agent) jobPipeline(sc config.ScrapeConfig, next api.EntryHandler, limit *targets.ReadlineLimit) (*targets.JobPipeline, error) {
	p, err := stages.NewPipeline(sc.PipelineStages, stages.Options{
		Logger:     a.logger.With("component", "pipeline", "job", sc.JobName),
		Registerer: a.opts.Registerer,
		JobName:    sc.JobName,
		Inspector:  a.opts.Inspect,
		// Entries leave the pipeline for a client or the dry-run printer,
		// neither of which reads extracted values or changes labels.
		ExtractedUnread: true,
		LabelsShared:    true,
	})
	if err != nil {
		return nil, err
	}
	return targets.NewJobPipeline(p, next, limit), nil
}

// stdinJob is Promtail's -stdin: the first scrape config's pipeline and
// static labels, or a job named stdin labelled with the host name when the
// config has no scrape config.
func (a *Agent) stdinJob(cfg *config.Config, next api.EntryHandler, limit *targets.ReadlineLimit) (*targets.JobPipeline, error) {
	if len(cfg.ScrapeConfigs) == 0 {
		return a.jobPipeline(config.ScrapeConfig{JobName: "stdin"}, next, limit)
	}
	if len(cfg.ScrapeConfigs) > 1 {
		a.logger.Warn("stdin mode uses only the first scrape config", "used", cfg.ScrapeConfigs[0].JobName, "ignored", len(cfg.ScrapeConfigs)-1)
	}
	return a.jobPipeline(cfg.ScrapeConfigs[0], next, limit)
}

func stdinLabels(cfg *config.Config) model.LabelSet {
	if len(cfg.ScrapeConfigs) == 0 {
		host, _ := os.Hostname()
		return model.LabelSet{"job": "stdin", "hostname": model.LabelValue(host)}
	}
	return cfg.ScrapeConfigs[0].StaticLabels()
}

func (a *Agent) readlineLimit(l config.LimitsConfig) *targets.ReadlineLimit {
	if !l.ReadlineRateEnabled {
		return nil
	}
	return &targets.ReadlineLimit{
		Limiter: rate.NewLimiter(rate.Limit(l.ReadlineRate), l.ReadlineBurst),
		Drop:    l.ReadlineRateDrop,
		Dropped: a.metrics.drops.Lines.WithLabelValues(stages.DropReasonGlobalRate),
	}
}

// Run serves until ctx is done, or, in -stdin mode, until standard input is
// read and shipped; then it stops everything.
func (a *Agent) Run(ctx context.Context) error {
	if a.opts.Stdin != nil {
		a.mu.Lock()
		job, labels := a.current.jobs[0], stdinLabels(a.cfg)
		a.mu.Unlock()
		err := stdin.Read(a.opts.Stdin, labels, job)
		a.Stop()
		return err
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- a.server.Run() }()
	select {
	case <-ctx.Done():
		a.Stop()
		return <-serveErr
	case err := <-serveErr:
		a.Stop()
		return err
	}
}

// Stop stops reading, flushes what pipelines and clients hold (bounded by the
// clients' flush timeout), writes positions and stops the server.
func (a *Agent) Stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return
	}
	a.stopped = true
	if a.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Server.GracefulShutdownTimeout)
		defer cancel()
		if err := a.server.Shutdown(ctx); err != nil {
			a.logger.Warn("HTTP server did not shut down cleanly", "err", err)
		}
	}
	a.current.stop()
}

// readerStopGrace is how long stopping waits for file readers before it
// assumes they are blocked on the clients.
const readerStopGrace = 2 * time.Second

// stop tears a generation down in the order that keeps what was read: targets
// first (their last positions are recorded), then pipelines (held entries are
// flushed), then the sink (batches are sent), then positions (written last).
func (g *generation) stop() {
	if g.files != nil || len(g.listeners) > 0 {
		stopped := make(chan struct{})
		go func() {
			if g.files != nil {
				g.files.Stop()
			}
			for _, l := range g.listeners {
				l.Stop()
			}
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(readerStopGrace):
			// A reader or a receiver is blocked handing an entry to clients
			// that cannot take one (Loki down, every queue full). Stopping the
			// clients releases it: what they hold is sent within their flush
			// timeout, left in the spool, or counted as dropped, instead of
			// the agent never exiting.
			g.sink.Stop()
			<-stopped
		}
	}
	for _, j := range g.jobs {
		j.Stop()
	}
	if g.sink != nil {
		g.sink.Stop()
	}
	if g.positions != nil {
		g.positions.Stop()
	}
}

// Reload re-reads the configuration and replaces every component with ones
// built from it. On failure the running components are kept.
func (a *Agent) Reload() error {
	err := a.reload()
	if err != nil {
		a.metrics.reloadFail.Inc()
		a.logger.Error("reloading the configuration failed; keeping the running one", "err", err)
		return err
	}
	a.metrics.reloadSuccess.Inc()
	a.logger.Info("configuration reloaded")
	return nil
}

func (a *Agent) reload() error {
	if a.opts.Reload == nil {
		return errors.New("reloading is not possible: the agent was not started from a config file")
	}
	cfg, err := a.opts.Reload()
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return errors.New("the agent is stopping")
	}
	// The old generation stops first: the new one reads the same files and must
	// start where the old one stopped. The positions stay in memory when their
	// settings do not change, so a failed write cannot send the new generation
	// back to older offsets.
	var kept *positions.Positions
	if a.current.positions != nil && cfg.Positions == a.cfg.Positions {
		kept, a.current.positions = a.current.positions, nil
	}
	a.current.stop()
	gen, err := a.start(cfg, kept)
	if err != nil {
		a.logger.Error("the reloaded configuration does not start; going back to the previous one", "err", err)
		if prev, rerr := a.start(a.cfg, kept); rerr == nil {
			a.current = prev
		} else {
			if kept != nil {
				kept.Stop()
			}
			a.current = &generation{}
			a.logger.Error("the previous configuration does not start again either; nothing is being read", "err", rerr)
		}
		return err
	}
	a.cfg, a.current = cfg, gen
	a.server.SetTargetSource(targetSource{gen.files, gen.listeners})
	return nil
}

func (a *Agent) configText() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg.String()
}
