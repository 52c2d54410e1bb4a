package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v2"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/internal/spool"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

const (
	orgIDHeader = "X-Scope-Orgid" // canonical form of X-Scope-OrgID
	// maxErrorLine bounds how much of an error response is read for the log.
	maxErrorLine = 1024
	// maxDrain is how much of a response body is read past what we need, so
	// the connection can be reused.
	maxDrain = 64 << 10
	// minBatchCheck is the shortest period at which batch ages are checked.
	minBatchCheck = 10 * time.Millisecond
	// logEvery spaces out the logs of per-entry drops.
	logEvery = 10 * time.Second
	// idleTenantTTL is how long a tenant with nothing pending is remembered.
	// Tenants can come from log content, so they are not kept for ever.
	idleTenantTTL = 10 * time.Minute
)

type header struct{ key, value string }

// tenant is one tenant's pending batch and metric series.
type tenant struct {
	id      string
	batch   batch
	metrics tenantMetrics
}

// client ships entries to one Loki push URL. Its goroutine (run) owns the
// batches; everything else reaches it through queue.
type client struct {
	name    string
	host    string
	url     string
	cfg     config.ClientConfig
	opts    Options
	http    *http.Client
	logger  *slog.Logger
	metrics *Metrics

	queue  chan stages.Entry
	exited chan struct{}
	// spool, when set, receives every batch run builds; sendSpooled, on its
	// own goroutine, pushes from it.
	spool        *spool.Spool
	senderExited chan struct{}
	// requestCtx ends at the flush deadline and aborts the request in flight;
	// retryCtx, derived from it, also ends on StopNow and stops retrying.
	requestCtx, retryCtx          context.Context
	cancelRequests, cancelRetries context.CancelFunc

	userAgent string
	headers   []header // configured headers, canonical keys
	external  model.LabelSet
	// externalPairs are the external labels streams take.
	externalPairs []labelPair

	encodedBytes, sentBytes, sentEntries prometheus.Counter

	// Owned by run.
	tenants    map[string]*tenant
	lastTenant *tenant
	names      []model.LabelName
	pairs      []labelPair
	seenSets   seenSets // for every tenant's setIndex
	labelsBuf  []byte
	chunks     chunkPool
	compressor compressor
	// spareBody is the buffer of the last request body, once the transport
	// is done with it, for the next one.
	spareBody *spareBuffer

	// queueFullLog is used by Handle's goroutines; the others by run.
	queueFullLog, streamLimitLog, timestampLog, spoolLog logLimiter
	// spareAcks is the acks slice of the last batch sent, for the next.
	spareAcks acks
}

func newClient(m *Metrics, logger *slog.Logger, cfg config.ClientConfig, opts Options, userAgent string) (*client, error) {
	if cfg.URL.URL == nil {
		return nil, errors.New("client needs target URL")
	}
	name := cfg.Name
	if name == "" {
		var err error
		if name, err = defaultName(cfg); err != nil {
			return nil, err
		}
	}
	if err := cfg.Client.Validate(); err != nil {
		return nil, fmt.Errorf("client %s: %w", name, err)
	}
	httpClient, err := promconfig.NewClientFromConfig(cfg.Client, "promtail", promconfig.WithHTTP2Disabled())
	if err != nil {
		return nil, fmt.Errorf("client %s: %w", name, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = config.DefaultTimeout
	}

	host := cfg.URL.Host
	c := &client{
		name:          name,
		host:          host,
		url:           cfg.URL.String(),
		cfg:           cfg,
		opts:          opts,
		http:          httpClient,
		logger:        logger.With("component", "client", "client", name, "host", host),
		metrics:       m,
		queue:         make(chan stages.Entry, opts.QueueCapacity),
		exited:        make(chan struct{}),
		userAgent:     userAgent,
		external:      cfg.ExternalLabels,
		externalPairs: externalPairs(cfg.ExternalLabels),
		tenants:       make(map[string]*tenant),
		chunks:        newChunkPool(cfg.BatchSize),
		// A compressed batch is rarely larger than its input, the encoded
		// entries; short lines can make those twice the batch size.
		spareBody: newSpareBuffer(2 * cfg.BatchSize),
		// Created now so that they are exported at zero from the start.
		encodedBytes: m.encodedBytes.WithLabelValues(host),
		sentBytes:    m.sentBytes.WithLabelValues(host),
		sentEntries:  m.sentEntries.WithLabelValues(host),
	}
	c.requestCtx, c.cancelRequests = context.WithCancel(context.Background())
	c.retryCtx, c.cancelRetries = context.WithCancel(c.requestCtx)
	c.headers = c.configuredHeaders(cfg.Headers)
	if so := opts.Spool; so != nil {
		sp, err := spool.Open(spool.Options{
			Dir:           filepath.Join(so.Dir, dirName(name)),
			SegmentSize:   so.SegmentSize,
			MaxSize:       so.MaxSize,
			WhenFull:      so.WhenFull,
			SyncEachBatch: so.SyncEachBatch,
		}, m.spool, name, logger)
		if err != nil {
			return nil, fmt.Errorf("client %s: %w", name, err)
		}
		c.spool = sp
		c.senderExited = make(chan struct{})
		// The spool holds what Loki has not taken: retrying never gives
		// up, and waits stay short so a backlog drains soon after Loki is
		// back.
		c.cfg.Backoff.MaxRetries = 0
		c.cfg.Backoff.MaxPeriod = min(c.cfg.Backoff.MaxPeriod, spoolMaxRetryWait)
		c.cfg.Backoff.MinPeriod = min(c.cfg.Backoff.MinPeriod, c.cfg.Backoff.MaxPeriod)
	}
	return c, nil
}

// dirName makes a client name safe as a directory name.
func dirName(name string) string {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return url.PathEscape(strings.ReplaceAll(name, ".", "%2E"))
	}
	return name
}

// defaultName is Promtail's rule for an unnamed client: the first six hex
// digits of the SHA-256 of the printed config. The config is printed as YAML,
// which is stable across runs and shows secrets masked.
func defaultName(cfg config.ClientConfig) (string, error) {
	printed, err := yaml.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("naming client %s: %w", cfg.URL.Redacted(), err)
	}
	sum := sha256.Sum256(printed)
	return hex.EncodeToString(sum[:3]), nil
}

// configuredHeaders canonicalises the configured headers in a fixed order.
// Content-Type and User-Agent cannot be replaced; X-Scope-OrgID is only sent
// when no tenant is set, as in Promtail.
func (c *client) configuredHeaders(configured map[string]string) []header {
	keys := make([]string, 0, len(configured))
	for k := range configured {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	headers := make([]header, 0, len(keys))
	for _, k := range keys {
		key := http.CanonicalHeaderKey(k)
		switch {
		case key == "Content-Type" || key == "User-Agent":
			c.logger.Warn("configured header ignored: the client sets it itself", "header", k)
			continue
		case slices.ContainsFunc(headers, func(h header) bool { return h.key == key }):
			c.logger.Warn("configured header ignored: set twice with different case", "header", k)
			continue
		case key == orgIDHeader:
			c.logger.Info("configured X-Scope-OrgID header is only sent for entries without a tenant")
		}
		headers = append(headers, header{key: key, value: configured[k]})
	}
	return headers
}

func (c *client) run() {
	defer close(c.exited)
	ticker := time.NewTicker(max(c.cfg.BatchWait/10, minBatchCheck))
	defer ticker.Stop()
	for {
		select {
		case e, ok := <-c.queue:
			closed := !ok
			for n := 0; ok; n++ {
				c.add(&e)
				if n == maxTakenAtOnce {
					// Back to the select now and then, so that a queue
					// that never empties does not hold up the ticker.
					break
				}
				e, ok, closed = c.next()
			}
			if closed {
				c.flush()
				return
			}
		case <-ticker.C:
			c.sendExpired()
		}
	}
}

// maxTakenAtOnce is how many entries run takes after the first without
// going back to its select.
const maxTakenAtOnce = 256

// next takes what else is queued without waiting. A receive that is
// alone in its select costs a fraction of the run loop's select, which locks
// the ticker's channel too; a busy client takes most entries here. ok is
// false once the queue is empty or closed.
func (c *client) next() (e stages.Entry, ok, closed bool) {
	select {
	case e, ok = <-c.queue:
		return e, ok, !ok
	default:
		return e, false, false
	}
}

// tenantOf returns the tenant an entry is sent as: its __tenant_id__ label
// (external labels included), else the configured tenant_id.
func (c *client) tenantOf(ls model.LabelSet) *tenant {
	id := c.cfg.TenantID
	if v, ok := ls[tenantLabel]; ok {
		id = string(v)
	} else if v, ok := c.external[tenantLabel]; ok {
		id = string(v)
	}
	if c.lastTenant != nil && c.lastTenant.id == id {
		return c.lastTenant
	}
	t, ok := c.tenants[id]
	if !ok {
		t = &tenant{id: id, metrics: c.metrics.forTenant(c.host, id)}
		c.tenants[id] = t
	}
	c.lastTenant = t
	return t
}

// add batches one entry, in Promtail's order: line size limit, then sending
// the batch first if the entry would overflow it, then the stream limit.
func (c *client) add(e *stages.Entry) {
	t := c.tenantOf(e.Labels)
	if limit := c.opts.MaxLineSize; limit > 0 && len(e.Line) > limit {
		if !c.opts.MaxLineSizeTruncate {
			t.metrics.drop(reasonLineTooLong, 1, len(e.Line))
			e.Ack.Release(1)
			return
		}
		t.metrics.mutatedEntries.Inc()
		t.metrics.mutatedBytes.Add(float64(len(e.Line) - limit))
		e.Line = e.Line[:limit]
	}
	if !validTimestamp(e.Timestamp) {
		t.metrics.drop(reasonIngesterError, 1, len(e.Line))
		if n, ok := c.timestampLog.allow(); ok {
			c.logger.Warn("dropping entry: Loki cannot store its timestamp", "timestamp", e.Timestamp, "tenant", t.id, "suppressed", n)
		}
		e.Ack.Release(1)
		return
	}

	size := len(e.Line) + metadataSize(e.StructuredMetadata)
	b := &t.batch
	if b.entries > 0 && b.bytes+size > c.cfg.BatchSize {
		c.send(t)
	}

	s := b.sets.find(e.Labels)
	indexed := s != nil
	var fp uint64
	if !indexed {
		c.pairs = streamPairs(c.pairs[:0], e.Labels, c.externalPairs)
		fp = fingerprint(c.pairs)
		s = b.find(fp, c.pairs)
	}
	if s == nil || !s.active {
		if c.opts.MaxStreams > 0 && len(b.streams) >= c.opts.MaxStreams {
			t.metrics.drop(reasonStreamLimited, 1, len(e.Line))
			if n, ok := c.streamLimitLog.allow(); ok {
				c.logger.Warn("dropping entry: batch holds max_streams streams already",
					"max_streams", c.opts.MaxStreams, "tenant", t.id, "suppressed", n)
			}
			e.Ack.Release(1)
			return
		}
		if s == nil {
			s = c.newStream(c.pairs)
			b.addStream(fp, s)
		}
		b.activate(s)
	}
	if !indexed {
		b.sets.note(e.Labels, s, &c.seenSets, len(b.streams))
	}
	if b.entries == 0 {
		b.createdAt = time.Now()
	}
	s.appendEntry(&c.chunks, e.Timestamp, e.Line, e.StructuredMetadata)
	b.bytes += size
	b.entries++
	b.acks.add(e.Ack)
}

func (c *client) newStream(pairs []labelPair) *stream {
	labels := streamLabels(pairs)
	c.labelsBuf, c.names = appendLabels(c.labelsBuf[:0], labels, c.names)
	head := make([]byte, 0, bytesFieldLen(len(c.labelsBuf)))
	return &stream{labels: labels, head: appendStreamLabels(head, c.labelsBuf)}
}

// sendExpired sends the batches older than batchwait and forgets tenants
// that have had nothing to send for a long time.
func (c *client) sendExpired() {
	for id, t := range c.tenants {
		age := time.Since(t.batch.createdAt)
		switch {
		case t.batch.entries > 0 && age >= c.cfg.BatchWait:
			c.send(t)
		case t.batch.entries == 0 && age > idleTenantTTL:
			delete(c.tenants, id)
			if c.lastTenant == t {
				c.lastTenant = nil
			}
		}
	}
}

func (c *client) flush() {
	for _, t := range c.tenants {
		if t.batch.entries > 0 {
			c.send(t)
		}
	}
}

// send encodes a tenant's batch, empties it and pushes it. Its entries are
// settled when Loki took them or they were given up on by rule; entries cut
// short by a stop stay unsettled, so their source reads them again.
func (c *client) send(t *tenant) {
	entries := t.batch.entries
	settle := t.batch.acks
	t.batch.acks = c.spareAcks
	body := c.encode(&t.batch)
	defer body.release()
	c.encodedBytes.Add(float64(len(body.data)))
	var settled bool
	if c.spool != nil {
		settled = c.spoolBatch(t, body.data, entries)
	} else {
		settled = c.push(t, body, entries)
	}
	if settled {
		settle.release()
		if c.spool != nil && c.opts.Spooled != nil {
			c.opts.Spooled()
		}
	} else {
		clear(settle)
		settle = settle[:0]
	}
	c.spareAcks = settle
}

// encode returns the compressed push request of b and empties b. The
// request is compressed as it is assembled, straight from the streams'
// chunks.
func (c *client) encode(b *batch) *payload {
	total := 0
	for _, s := range b.streams {
		total += bytesFieldLen(s.fieldLen())
	}
	c.compressor.start(c.spareBody.get(), total)
	var header [1 + binary.MaxVarintLen64]byte
	for _, s := range b.streams {
		c.compressor.write(appendFieldHeader(header[:0], tagField1Bytes, s.fieldLen()))
		c.compressor.write(s.head)
		for _, chunk := range s.chunks {
			c.compressor.write(chunk)
		}
	}
	b.reset(&c.chunks)
	return newPayload(c.compressor.finish(), c.spareBody)
}

// push sends one request body until it is accepted, refused, or out of
// attempts. Dropped bytes are counted compressed, as in Promtail. It reports
// false when a stop cut it short: the batch was neither taken nor refused.
func (c *client) push(t *tenant, body *payload, entries int) bool {
	bo := newBackoff(c.cfg.Backoff)
	for {
		start := time.Now()
		status, err := c.post(t.id, body)
		c.metrics.requestDuration.WithLabelValues(strconv.Itoa(status), c.host).Observe(time.Since(start).Seconds())
		if err == nil {
			c.sentBytes.Add(float64(len(body.data)))
			c.sentEntries.Add(float64(entries))
			return true
		}
		if status == http.StatusTooManyRequests && c.cfg.DropRateLimitedBatches {
			c.logger.Warn("push rate limited, dropping batch (drop_rate_limited_batches)",
				"tenant", t.id, "entries", entries, "err", err)
			t.metrics.drop(reasonRateLimited, entries, len(body.data))
			return true
		}
		if !retryable(status) {
			c.logger.Error("push refused, dropping batch", "status", status, "tenant", t.id, "entries", entries, "err", err)
			t.metrics.drop(reasonIngesterError, entries, len(body.data))
			return true
		}
		t.metrics.retries.Inc()
		delay, again := bo.next()
		if again {
			c.logger.Warn("push failed, will retry", "status", status, "tenant", t.id,
				"attempt", bo.attempts, "retry_in", delay, "err", err)
			again = wait(c.retryCtx, delay)
		}
		if !again && c.spool != nil && c.retryCtx.Err() != nil {
			c.logger.Info("stopping with a batch not sent; the spool keeps it for the next start",
				"tenant", t.id, "entries", entries)
			return false
		}
		if !again {
			reason := reasonIngesterError
			if status == http.StatusTooManyRequests {
				reason = reasonRateLimited
			}
			c.logger.Error("push failed, dropping batch", "status", status, "tenant", t.id,
				"attempts", bo.attempts, "entries", entries, "err", err)
			t.metrics.drop(reason, entries, len(body.data))
			return c.retryCtx.Err() == nil
		}
	}
}

// retryable: no response at all, rate limiting, or a server error.
func retryable(status int) bool {
	return status == -1 || status == http.StatusTooManyRequests || status/100 == 5
}

// post makes one push request. The status is -1 when no response came back.
func (c *client) post(tenantID string, body *payload) (int, error) {
	ctx, cancel := context.WithTimeout(c.requestCtx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, nil)
	if err != nil {
		return -1, fmt.Errorf("building push request: %w", err)
	}
	req.Body = body.newReader()
	req.GetBody = func() (io.ReadCloser, error) { return body.newReader(), nil }
	req.ContentLength = int64(len(body.data))
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", c.userAgent)
	if tenantID != "" {
		req.Header.Set(orgIDHeader, tenantID)
	}
	for _, h := range c.headers {
		if _, set := req.Header[h.key]; !set {
			req.Header[h.key] = []string{h.value}
		}
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return -1, err
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode/100 == 2 {
		return resp.StatusCode, nil
	}
	return resp.StatusCode, fmt.Errorf("server returned HTTP status %s: %s", resp.Status, firstLine(resp.Body))
}

// firstLine reads the first line of at most maxErrorLine bytes of r.
func firstLine(r io.Reader) string {
	buf := make([]byte, maxErrorLine)
	n, _ := io.ReadFull(r, buf)
	line := buf[:n]
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	return string(bytes.TrimSuffix(line, []byte{'\r'}))
}

// logLimiter lets one log line through per logEvery and counts the others.
type logLimiter struct {
	next       atomic.Int64 // unix nanoseconds
	suppressed atomic.Int64
}

// allow reports whether to log now and how many logs were held back since
// the last one.
func (l *logLimiter) allow() (int64, bool) {
	now := time.Now().UnixNano()
	next := l.next.Load()
	if now < next || !l.next.CompareAndSwap(next, now+int64(logEvery)) {
		l.suppressed.Add(1)
		return 0, false
	}
	return l.suppressed.Swap(0), true
}
