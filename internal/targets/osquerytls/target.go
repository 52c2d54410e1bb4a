// Package osquerytls is the osquery_tls target: the agent serves osquery's
// TLS remote API (enroll, log and optionally config), so that osqueryd run
// with --logger_plugin=tls sends its results and status logs straight to it,
// with no log file on the host.
//
// Each record of a log request becomes one entry whose line is the record's
// JSON as osqueryd's filesystem logger would have written it, so the osquery
// stage labels and times it exactly as if it had been read from
// osqueryd.results.log, osqueryd.snapshots.log or a JSON status log.
//
// A log request is answered with success only once every entry it produced
// is safe (spooled, accepted by Loki, or dropped by a rule); until then, or
// when ack_timeout passes first, osqueryd is told the request failed and
// keeps the records to send them again. Delivery is therefore at least once:
// a retried request can duplicate records, never lose them.
package osquerytls

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

// Internal labels every entry carries into relabel_configs; like Promtail's
// __ labels they are dropped afterwards.
const (
	// LabelHostIdentifier is the host_identifier osqueryd enrolled with.
	LabelHostIdentifier = "__osquery_tls_host_identifier"
	// LabelLogType is "result" or "status".
	LabelLogType = "__osquery_tls_log_type"
	// LabelRemoteIP is the address the request came from.
	LabelRemoteIP = "__osquery_tls_remote_ip"
)

// smallBodyLimit caps enroll and config request bodies: osqueryd sends a few
// kilobytes of host details at most, and these endpoints answer anyone.
const smallBodyLimit = 1 << 20

// Timeouts of the HTTP server. A log body of max_body_bytes must arrive
// within bodyReadTimeout.
const (
	headerReadTimeout = 10 * time.Second
	bodyReadTimeout   = 60 * time.Second
	idleTimeout       = 5 * time.Minute
)

// Answers osqueryd understands: it reads only the JSON body, never the HTTP
// status (which is still meaningful for proxies, logs and metrics). A body
// with "node_invalid": true makes it drop its key and enroll again, keeping
// its buffered logs; one with "error" is a failure it retries with backoff.
var (
	answerOK          = []byte(`{"node_invalid":false}` + "\n")
	answerNodeInvalid = []byte(`{"node_invalid":true}` + "\n")
)

func answerError(msg string) []byte {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	return append(b, '\n')
}

// Target is one osquery_tls listener.
type Target struct {
	logger  *slog.Logger
	m       *Metrics
	cfg     config.OsqueryTLSConfig
	relabel []*relabel.Config
	handler api.EntryHandler

	secret      []byte
	osqueryConf []byte // nil: no config endpoint
	nodes       *nodeStore
	rate, burst float64
	// static is the label set of every entry when there is no relabeling.
	static model.LabelSet

	recordsResult, recordsStatus prometheus.Counter

	ln   net.Listener
	srv  *http.Server
	quit chan struct{}
	wg   sync.WaitGroup
	stop sync.Once
	bufs sync.Pool
}

// New starts an osquery_tls target for job: it reads the files cfg names,
// listens, and hands every record it accepts to handler. Zero values in cfg
// take their defaults.
func New(logger *slog.Logger, m *Metrics, jobName string, cfg *config.OsqueryTLSConfig,
	relabelConfigs []*relabel.Config, handler api.EntryHandler) (*Target, error) {
	c := *cfg
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("job %q: %w", jobName, err)
	}
	t := &Target{
		logger:        logger.With("component", "osquery_tls", "job", jobName),
		m:             m,
		cfg:           c,
		handler:       handler,
		static:        staticLabels(c.Labels),
		recordsResult: m.records.WithLabelValues("result"),
		recordsStatus: m.records.WithLabelValues("status"),
		quit:          make(chan struct{}),
	}
	t.bufs.New = func() any { return new(requestBuffers) }
	for _, rc := range relabelConfigs {
		if rc == nil {
			continue
		}
		rcCopy := *rc
		if rcCopy.NameValidationScheme == model.UnsetValidation {
			rcCopy.NameValidationScheme = model.LegacyValidation
		}
		t.relabel = append(t.relabel, &rcCopy)
	}
	if r := c.RateLimit; r.Records > 0 {
		t.rate = r.Records
		t.burst = float64(r.Burst)
		if r.Burst == 0 {
			t.burst = max(1, math.Ceil(r.Records))
		}
	}
	if err := t.readFiles(); err != nil {
		return nil, fmt.Errorf("job %q: %w", jobName, err)
	}
	tlsConf, err := t.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("job %q: %w", jobName, err)
	}
	nodes, err := openNodeStore(c.NodeKeysFile, c.MaxNodes)
	switch {
	case errors.Is(err, errNodesFileDamaged):
		t.logger.Warn("node keys file damaged, moved aside; osqueryd nodes will enroll again", "err", err)
	case err != nil:
		return nil, fmt.Errorf("job %q: osquery_tls.node_keys_file: %w", jobName, err)
	}
	t.nodes = nodes
	ln, err := net.Listen("tcp", c.ListenAddress)
	if err != nil {
		return nil, fmt.Errorf("job %q: osquery_tls.listen_address: %w", jobName, err)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	t.ln = ln
	t.srv = &http.Server{
		Handler:           t,
		ReadHeaderTimeout: headerReadTimeout,
		ReadTimeout:       bodyReadTimeout,
		WriteTimeout:      bodyReadTimeout + c.AckTimeout,
		IdleTimeout:       idleTimeout,
		// TLS handshake failures (scanners, osqueryd without the CA) land
		// here; they are not worth more than a debug line each.
		ErrorLog: slog.NewLogLogger(t.logger.Handler(), slog.LevelDebug),
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		if err := t.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.logger.Error("osquery TLS server stopped", "err", err)
		}
	}()
	t.logger.Info("serving osqueryd", "address", ln.Addr().String(), "tls", tlsConf != nil,
		"nodes", t.nodes.len(), "config_endpoint", t.osqueryConf != nil)
	return t, nil
}

func staticLabels(ls model.LabelSet) model.LabelSet {
	out := model.LabelSet{}
	for name, value := range ls {
		if !strings.HasPrefix(string(name), model.ReservedLabelPrefix) {
			out[name] = value
		}
	}
	return out
}

// readFiles reads the enroll secret and the osquery config.
func (t *Target) readFiles() error {
	secret, err := os.ReadFile(t.cfg.EnrollSecretFile)
	if err != nil {
		return fmt.Errorf("osquery_tls.enroll_secret_file: %w", err)
	}
	// osqueryd trims the secret it reads from --enroll_secret_path.
	t.secret = bytes.TrimSpace(secret)
	if len(t.secret) == 0 {
		return fmt.Errorf("osquery_tls.enroll_secret_file: %s is empty", t.cfg.EnrollSecretFile)
	}
	if t.cfg.ConfigFile == "" {
		return nil
	}
	conf, err := os.ReadFile(t.cfg.ConfigFile)
	if err != nil {
		return fmt.Errorf("osquery_tls.config_file: %w", err)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(conf, &probe); err != nil {
		return fmt.Errorf("osquery_tls.config_file: %s is not a JSON object: %w", t.cfg.ConfigFile, err)
	}
	t.osqueryConf = conf
	return nil
}

// tlsConfig loads the certificate and the client CAs; nil for plain HTTP.
func (t *Target) tlsConfig() (*tls.Config, error) {
	if t.cfg.InsecurePlainHTTP {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.cfg.TLSCertFile, t.cfg.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("osquery_tls.tls_cert_file/tls_key_file: %w", err)
	}
	// osqueryd refuses TLS 1.0 and 1.1 itself.
	conf := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if t.cfg.TLSClientCAFile != "" {
		pem, err := os.ReadFile(t.cfg.TLSClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("osquery_tls.tls_client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("osquery_tls.tls_client_ca_file: no PEM certificate in %s", t.cfg.TLSClientCAFile)
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return conf, nil
}

// Addr is the address the target listens on.
func (t *Target) Addr() net.Addr { return t.ln.Addr() }

// Stop stops listening, answers requests still waiting for their records
// with a failure (osqueryd sends them again), waits for every request to
// finish and saves the node keys with their last-seen times.
func (t *Target) Stop() {
	t.stop.Do(func() {
		close(t.quit)
		// No deadline: Shutdown waits for running handlers, which the closed
		// quit channel releases, except one blocked handing an entry on;
		// that one must finish before the pipeline may stop.
		if err := t.srv.Shutdown(context.Background()); err != nil {
			t.logger.Warn("stopping the osquery TLS server", "err", err)
		}
		t.wg.Wait()
		if err := t.nodes.save(); err != nil {
			t.logger.Warn("saving node keys", "err", err)
		}
	})
}

// ServeHTTP routes osqueryd's requests.
func (t *Target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case t.cfg.LogEndpoint:
		t.serveLog(w, r)
	case t.cfg.EnrollEndpoint:
		t.serveEnroll(w, r)
	case t.cfg.ConfigEndpoint:
		if t.osqueryConf != nil {
			t.serveConfig(w, r)
			return
		}
		fallthrough
	default:
		t.answer(w, endpointOther, http.StatusNotFound, answerError("no such endpoint"))
	}
}

func (t *Target) answer(w http.ResponseWriter, endpoint string, code int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(body)
	t.m.requests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
}

func (t *Target) reject(w http.ResponseWriter, endpoint, reason string, code int, body []byte) {
	t.m.rejected.WithLabelValues(reason).Inc()
	t.answer(w, endpoint, code, body)
}

// rejectBody answers a body that could not be read or decoded.
func (t *Target) rejectBody(w http.ResponseWriter, endpoint string, err error) {
	switch {
	case errors.Is(err, errTooLarge):
		t.reject(w, endpoint, reasonTooLarge, http.StatusRequestEntityTooLarge, answerError(err.Error()))
	case errors.Is(err, errBadEncoding):
		t.reject(w, endpoint, reasonBadBody, http.StatusUnsupportedMediaType, answerError(err.Error()))
	default:
		t.reject(w, endpoint, reasonBadBody, http.StatusBadRequest, answerError(err.Error()))
	}
}

func (t *Target) buffers() *requestBuffers { return t.bufs.Get().(*requestBuffers) }

func (t *Target) release(rb *requestBuffers) {
	if rb.reusable() {
		t.bufs.Put(rb)
	}
}

// enrollRequest is what osqueryd's TLS enroll plugin posts.
type enrollRequest struct {
	EnrollSecret   string          `json:"enroll_secret"`
	HostIdentifier string          `json:"host_identifier"`
	PlatformType   json.RawMessage `json:"platform_type"`
}

func (t *Target) serveEnroll(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		t.answer(w, endpointEnroll, http.StatusMethodNotAllowed, answerError("use POST"))
		return
	}
	rb := t.buffers()
	defer t.release(rb)
	body, err := readBody(r, min(smallBodyLimit, int64(t.cfg.MaxBodyBytes)), rb)
	var req enrollRequest
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		t.m.enrollments.WithLabelValues(enrollBadBody).Inc()
		t.rejectBody(w, endpointEnroll, err)
		return
	}
	if subtle.ConstantTimeCompare([]byte(req.EnrollSecret), t.secret) != 1 {
		t.m.enrollments.WithLabelValues(enrollBadSecret).Inc()
		t.logger.Warn("enrollment refused: wrong enroll secret", "remote", r.RemoteAddr, "host_identifier", req.HostIdentifier)
		t.reject(w, endpointEnroll, reasonBadSecret, http.StatusUnauthorized, answerNodeInvalid)
		return
	}
	key, err := t.nodes.enroll(req.HostIdentifier, platformText(req.PlatformType), time.Now())
	if err != nil {
		t.m.enrollments.WithLabelValues(enrollError).Inc()
		t.logger.Error("enrollment failed", "host_identifier", req.HostIdentifier, "err", err)
		t.answer(w, endpointEnroll, http.StatusInternalServerError, answerError("the agent could not keep the node key"))
		return
	}
	t.m.enrollments.WithLabelValues(enrollSuccess).Inc()
	t.logger.Info("osqueryd enrolled", "remote", r.RemoteAddr, "host_identifier", req.HostIdentifier)
	answer, _ := json.Marshal(struct {
		NodeKey     string `json:"node_key"`
		NodeInvalid bool   `json:"node_invalid"`
	}{key, false})
	t.answer(w, endpointEnroll, http.StatusOK, append(answer, '\n'))
}

// platformText is platform_type as text: osqueryd sends a number in a
// string, but a number is as good.
func platformText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// nodeKeyOf is the node key of a request: in the body, or in the URL's
// query for osqueryd's --tls_node_api.
func nodeKeyOf(fromBody string, r *http.Request) string {
	if fromBody != "" {
		return fromBody
	}
	return r.URL.Query().Get("node_key")
}

func (t *Target) serveConfig(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		t.answer(w, endpointConfig, http.StatusMethodNotAllowed, answerError("use POST"))
		return
	}
	rb := t.buffers()
	defer t.release(rb)
	body, err := readBody(r, min(smallBodyLimit, int64(t.cfg.MaxBodyBytes)), rb)
	var req struct {
		NodeKey string `json:"node_key"`
	}
	if err == nil && len(bytes.TrimSpace(body)) > 0 {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		t.rejectBody(w, endpointConfig, err)
		return
	}
	if t.nodes.lookup(nodeKeyOf(req.NodeKey, r), time.Now()) == nil {
		t.reject(w, endpointConfig, reasonUnknownNode, http.StatusUnauthorized, answerNodeInvalid)
		return
	}
	t.answer(w, endpointConfig, http.StatusOK, t.osqueryConf)
}

func (t *Target) serveLog(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost {
		t.answer(w, endpointLog, http.StatusMethodNotAllowed, answerError("use POST"))
		return
	}
	rb := t.buffers()
	defer t.release(rb)
	raw, err := readBody(r, int64(t.cfg.MaxBodyBytes), rb)
	if err == nil {
		err = decodeLogBody(raw, &rb.body)
	}
	if err != nil {
		t.rejectBody(w, endpointLog, err)
		return
	}
	body := &rb.body
	n := t.nodes.lookup(nodeKeyOf(body.nodeKey, r), start)
	if n == nil {
		t.reject(w, endpointLog, reasonUnknownNode, http.StatusUnauthorized, answerNodeInvalid)
		return
	}
	var counter prometheus.Counter
	switch body.logType {
	case "result":
		counter = t.recordsResult
	case "status":
		counter = t.recordsStatus
	default:
		t.reject(w, endpointLog, reasonBadBody, http.StatusBadRequest,
			answerError(fmt.Sprintf("log_type %q is neither result nor status", body.logType)))
		return
	}
	if t.rate > 0 && !n.limit.take(len(body.records), t.rate, t.burst, start) {
		t.reject(w, endpointLog, reasonRateLimited, http.StatusTooManyRequests, answerError("rate limit exceeded: send again later"))
		return
	}
	ls := t.entryLabels(n, body.logType, r.RemoteAddr)
	if ls == nil {
		// relabel_configs dropped these records: settled by rule.
		t.answer(w, endpointLog, http.StatusOK, answerOK)
		return
	}
	if t.handOn(r.Context(), body.records, ls, counter, start) {
		t.answer(w, endpointLog, http.StatusOK, answerOK)
		return
	}
	t.reject(w, endpointLog, reasonAckTimeout, http.StatusServiceUnavailable,
		answerError("the records are not safe yet: send them again"))
}

// handOn gives every record to the pipeline as one entry, all under one Ack,
// and reports whether the Ack was done before ack_timeout (counted from
// start), the target stopping, or osqueryd hanging up.
func (t *Target) handOn(ctx context.Context, records [][]byte, ls model.LabelSet, counter prometheus.Counter, start time.Time) bool {
	done := make(chan struct{})
	ack := stages.NewAck(func() { close(done) })
	for _, rec := range records {
		t.handler.Handle(stages.Entry{Labels: ls, Timestamp: start, Line: string(rec), Ack: ack})
	}
	counter.Add(float64(len(records)))
	ack.Release(1)
	timer := time.NewTimer(time.Until(start.Add(t.cfg.AckTimeout)))
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
	case <-t.quit:
	case <-ctx.Done():
	}
	// The Ack may have completed at the same moment: prefer the truth.
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// entryLabels is the label set of a request's entries, shared by all of
// them (nobody changes an entry's labels in place). nil: relabeling dropped
// them.
func (t *Target) entryLabels(n *node, logType, remoteAddr string) model.LabelSet {
	if len(t.relabel) == 0 {
		return t.static
	}
	lb := labels.NewBuilder(labels.EmptyLabels())
	for name, value := range t.cfg.Labels {
		lb.Set(string(name), string(value))
	}
	lb.Set(LabelHostIdentifier, n.host)
	lb.Set(LabelLogType, logType)
	if ip, _, err := net.SplitHostPort(remoteAddr); err == nil {
		lb.Set(LabelRemoteIP, ip)
	}
	if !relabel.ProcessBuilder(lb, t.relabel...) {
		return nil
	}
	out := model.LabelSet{}
	lb.Labels().Range(func(l labels.Label) {
		if !strings.HasPrefix(l.Name, model.ReservedLabelPrefix) {
			out[model.LabelName(l.Name)] = model.LabelValue(l.Value)
		}
	})
	return out
}
