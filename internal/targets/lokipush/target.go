// Package lokipush is the loki_push_api target: an HTTP server of its own
// that takes Loki push requests (protobuf or JSON) and plain lines from other
// agents and hands every entry to the job's pipeline, as Promtail 3.6 does.
//
// Unlike Promtail, a stream that relabel_configs drops does not end the
// request: that stream is counted and skipped and the others go on.
package lokipush

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/internal/server"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

// The routes, under the server's http_path_prefix.
const (
	PushPath  = "/loki/api/v1/push"
	RawPath   = "/promtail/api/v1/raw"
	ReadyPath = "/ready"
)

// errStopping ends a request that was still handing entries on when the
// target stopped; the client gets 503 and may retry.
var errStopping = &requestError{status: http.StatusServiceUnavailable, err: errors.New("the push target is shutting down")}

// Target is one loki_push_api job's server.
type Target struct {
	log     *slog.Logger
	metrics *jobMetrics
	job     string
	handler api.EntryHandler
	relabel []*relabel.Config

	// streamLabels are the config labels set on every pushed stream before
	// relabeling; rawLabels are the same labels as the raw endpoint uses
	// them, untouched, as in Promtail.
	streamLabels  []labels.Label
	rawLabels     model.LabelSet
	keepTimestamp bool
	maxSize       int64
	prefix        string
	grace         time.Duration

	listener net.Listener
	server   *http.Server
	served   chan struct{}

	mu       sync.Mutex
	stopping bool
	inflight sync.WaitGroup
	quit     chan struct{}
	stopOnce sync.Once
}

// New validates cfg, binds the listener (so that a port in use is a start-up
// error) and starts serving. Stop stops it.
func New(logger *slog.Logger, m *Metrics, jobName string, cfg *config.PushConfig,
	relabelConfigs []*relabel.Config, handler api.EntryHandler,
) (*Target, error) {
	fail := func(key string, err error) error {
		return fmt.Errorf("job %q: loki_push_api.%s: %w", jobName, key, err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	maxSize := cfg.MaxSendMsgSize
	if maxSize == 0 {
		maxSize = config.DefaultPushMaxSendMsgSize
	}
	if maxSize < 0 {
		return nil, fail("max_send_msg_size", fmt.Errorf("must be positive, got %d", maxSize))
	}
	srv := cfg.Server
	log := logger.With("job", jobName)
	tlsConfig, err := server.NewTLSConfig(srv.HTTPTLSConfig, srv.TLSMinVersion, srv.TLSCipherSuites, log)
	if err != nil {
		return nil, fail("server", err)
	}
	network, err := server.ListenNetwork(srv.HTTPListenNetwork)
	if err != nil {
		return nil, fail("server.http_listen_network", err)
	}

	t := &Target{
		log:           log,
		metrics:       m.forJob(jobName),
		job:           jobName,
		handler:       handler,
		relabel:       relabelConfigs,
		rawLabels:     cfg.Labels.Clone(),
		keepTimestamp: cfg.UseIncomingTimestamp,
		maxSize:       int64(maxSize),
		prefix:        server.NormalizePrefix(srv.HTTPPathPrefix),
		grace:         srv.GracefulShutdownTimeout,
		served:        make(chan struct{}),
		quit:          make(chan struct{}),
	}
	for name, value := range cfg.Labels {
		t.streamLabels = append(t.streamLabels, labels.Label{Name: string(name), Value: string(value)})
	}

	addr := net.JoinHostPort(strings.Trim(srv.HTTPListenAddress, "[]"), strconv.Itoa(srv.HTTPListenPort))
	ln, err := server.Listen(network, addr, srv.HTTPConnLimit, srv.ProxyProtocolEnabled, srv.HTTPServerReadHeaderTimeout)
	if err != nil {
		return nil, fail("server", fmt.Errorf("listening on %s: %w", addr, err))
	}
	t.listener = ln
	t.server = &http.Server{
		Handler:           t,
		TLSConfig:         tlsConfig,
		ReadTimeout:       srv.HTTPServerReadTimeout,
		ReadHeaderTimeout: srv.HTTPServerReadHeaderTimeout,
		WriteTimeout:      srv.HTTPServerWriteTimeout,
		IdleTimeout:       srv.HTTPServerIdleTimeout,
		ErrorLog:          slog.NewLogLogger(t.log.Handler(), slog.LevelWarn),
	}
	go t.serve()
	t.log.Info("push server listening", "address", ln.Addr().String())
	return t, nil
}

func (t *Target) serve() {
	defer close(t.served)
	if err := server.Serve(t.server, t.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		t.log.Error("push server stopped", "err", err)
	}
}

// Addr is the address the server listens on (useful with port 0).
func (t *Target) Addr() net.Addr { return t.listener.Addr() }

// Stop lets requests in flight finish for up to graceful_shutdown_timeout,
// makes the rest give up between two entries, and waits for every request
// handler and the server to end. It is safe to call more than once.
func (t *Target) Stop() {
	t.stopOnce.Do(func() {
		ctx := context.Background()
		if t.grace > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, t.grace)
			defer cancel()
		}
		if err := t.server.Shutdown(ctx); err != nil {
			t.log.Warn("push requests still running after graceful_shutdown_timeout; abandoning them", "err", err)
		}
		t.mu.Lock()
		t.stopping = true
		t.mu.Unlock()
		close(t.quit)
		_ = t.server.Close()
		t.inflight.Wait()
		<-t.served
		t.log.Info("push server stopped")
	})
}

// tracked runs ingest so that Stop waits for it, or refuses the request
// once Stop has begun waiting.
func (t *Target) tracked(w http.ResponseWriter, r *http.Request, ingest func(http.ResponseWriter, *http.Request) error) error {
	t.mu.Lock()
	if t.stopping {
		t.mu.Unlock()
		return errStopping
	}
	t.inflight.Add(1)
	t.mu.Unlock()
	defer t.inflight.Done()
	return ingest(w, r)
}

// ServeHTTP routes by hand rather than with http.ServeMux, whose patterns
// would read braces or spaces in http_path_prefix as syntax.
func (t *Target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, t.prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch path {
	case PushPath:
		t.serveIngest(w, r, endpointPush, t.push)
	case RawPath:
		t.serveIngest(w, r, endpointRaw, t.raw)
	case ReadyPath:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ready")
	default:
		http.NotFound(w, r)
	}
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
}

func (t *Target) serveIngest(w http.ResponseWriter, r *http.Request, endpoint string,
	ingest func(http.ResponseWriter, *http.Request) error,
) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, http.MethodPost)
		return
	}
	err := t.tracked(w, r, ingest)
	status := http.StatusNoContent
	if err != nil {
		status = http.StatusInternalServerError
		var re *requestError
		if errors.As(err, &re) {
			status = re.status
			if re.reason != "" {
				t.metrics.rejected(re.reason)
			}
		}
		t.log.Warn("push request refused", "endpoint", endpoint, "remote", r.RemoteAddr, "status", status, "err", err)
		http.Error(w, err.Error(), status)
	} else {
		w.WriteHeader(status)
	}
	t.metrics.request(endpoint, status)
}

// push serves the Loki push API. The whole body is decoded before any entry
// is handed on, so a malformed request is refused as a whole and the client
// can resend it without duplicating entries.
func (t *Target) push(w http.ResponseWriter, r *http.Request) error {
	streams, rerr := decodeBody(w, r, t.maxSize)
	if rerr != nil {
		return rerr
	}
	lb := labels.NewBuilder(labels.EmptyLabels())
	for i := range streams {
		if err := t.handleStream(lb, &streams[i]); err != nil {
			return err
		}
	}
	return nil
}

func (t *Target) handleStream(lb *labels.Builder, s *stream) error {
	lb.Reset(s.labels)
	for _, l := range t.streamLabels {
		lb.Set(l.Name, l.Value)
	}
	if !relabel.ProcessBuilder(lb, t.relabel...) {
		t.metrics.dropped(reasonRelabelDrop, len(s.entries))
		return nil
	}
	final := make(model.LabelSet, 8)
	lb.Range(func(l labels.Label) {
		if !strings.HasPrefix(l.Name, model.ReservedLabelPrefix) && l.Value != "" {
			final[model.LabelName(l.Name)] = model.LabelValue(l.Value)
		}
	})
	if len(final) == 0 {
		// Loki refuses a stream without labels, and with it the whole batch
		// the client would put it in.
		t.metrics.dropped(reasonNoLabels, len(s.entries))
		return nil
	}
	handed := 0
	defer func() { t.metrics.pushEntries.Add(float64(handed)) }()
	last := len(s.entries) - 1
	for i := range s.entries {
		select {
		case <-t.quit:
			return errStopping
		default:
		}
		e := &s.entries[i]
		ts := e.Timestamp
		if !t.keepTimestamp {
			ts = time.Now()
		}
		// Each entry owns its label set; the last one may take the original.
		entryLabels := final
		if i < last {
			entryLabels = final.Clone()
		}
		t.handler.Handle(stages.Entry{
			Labels:             entryLabels,
			Timestamp:          ts,
			Line:               e.Line,
			StructuredMetadata: e.StructuredMetadata,
		})
		handed++
	}
	return nil
}

// raw serves the plain-text endpoint: one entry per non-empty line, with the
// config labels and the time of arrival. Lines are handed on as they are
// read, as in Promtail, so a body cut short by an error has had its first
// lines delivered.
func (t *Target) raw(w http.ResponseWriter, r *http.Request) error {
	src, rerr := openBody(w, r, t.maxSize, false)
	if rerr != nil {
		return rerr
	}
	handed := 0
	defer func() { t.metrics.rawEntries.Add(float64(handed)) }()
	br := bufio.NewReaderSize(src, 32<<10)
	for {
		text, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			// What was read of the line is dropped with the request.
			return classifyReadError(err, t.maxSize, r.Header.Get("Content-Encoding"))
		}
		if line := strings.TrimRight(text, "\r\n"); line != "" {
			select {
			case <-t.quit:
				return errStopping
			default:
			}
			t.handler.Handle(stages.Entry{Labels: t.rawLabels.Clone(), Timestamp: time.Now(), Line: line})
			handed++
		}
		if err == io.EOF {
			return nil
		}
	}
}
