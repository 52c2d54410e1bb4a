// Package client ships log entries to Loki the way Promtail does on the wire:
// snappy-compressed protobuf push requests, one batch per tenant, Promtail's
// batching, retry and drop rules and its metrics.
//
// Unlike Promtail, clients do not wait on each other: each has its own queue
// and goroutine, so one unreachable Loki does not stop the others (see
// Manager.Handle).
package client

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/common/version"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

// Defaults of Options.
const (
	// DefaultQueueCapacity is four times the size below which handing
	// entries over starts to cost CPU (goroutine wake-ups). A larger queue
	// buys no throughput; it only rides out longer pushes, each queued entry
	// pinning its line.
	DefaultQueueCapacity = 1024
	DefaultFlushTimeout  = 10 * time.Second
)

// Options are the settings that apply to every client.
type Options struct {
	// MaxStreams caps the streams of one batch (limits_config.max_streams);
	// entries of further streams are dropped. 0: no cap.
	MaxStreams int
	// MaxLineSize is limits_config.max_line_size in bytes; longer lines are
	// dropped, or cut to size when MaxLineSizeTruncate is set. 0: no limit.
	MaxLineSize         int
	MaxLineSizeTruncate bool
	// QueueCapacity is how many entries each client holds ahead of its
	// batching goroutine. 0: DefaultQueueCapacity.
	QueueCapacity int
	// FlushTimeout bounds Stop and StopNow. 0: DefaultFlushTimeout.
	FlushTimeout time.Duration
	// Spool, when set, gives every client a disk spool (see SpoolOptions).
	Spool *SpoolOptions
	// Spooled, if set, is called after a batch was spooled and its entries
	// settled: the moment to save file positions, so that a crash re-reads
	// (and sends twice) as little as possible.
	Spooled func()
}

// Manager runs one client per clients: entry and fans entries out to them.
type Manager struct {
	clients      []*client
	logger       *slog.Logger
	flushTimeout time.Duration

	// mu is read-locked by Handle and write-locked once, by stop, to close
	// the queues: no Handle can then be sending to a closed queue.
	mu     sync.RWMutex
	closed bool
	// done is closed when stopping starts, to release blocked Handles.
	done         chan struct{}
	stopOnce     sync.Once
	stopped      chan struct{}
	lateEntryLog logLimiter
	spooled      bool
}

// NewManager validates the client configs and starts one client for each.
func NewManager(m *Metrics, logger *slog.Logger, cfgs []config.ClientConfig, opts Options) (*Manager, error) {
	if len(cfgs) == 0 {
		return nil, errors.New("at least one client config must be provided")
	}
	if m == nil {
		return nil, errors.New("client metrics are required")
	}
	if opts.QueueCapacity <= 0 {
		opts.QueueCapacity = DefaultQueueCapacity
	}
	if opts.FlushTimeout <= 0 {
		opts.FlushTimeout = DefaultFlushTimeout
	}
	userAgent := "promtail/" + version.Version

	clients := make([]*client, 0, len(cfgs))
	names := make(map[string]bool, len(cfgs))
	closeSpools := func() {
		for _, c := range clients {
			if c.spool != nil {
				_ = c.spool.Close()
			}
		}
	}
	for _, cfg := range cfgs {
		c, err := newClient(m, logger, cfg, opts, userAgent)
		if err != nil {
			closeSpools()
			return nil, err
		}
		if names[c.name] && c.spool != nil {
			_ = c.spool.Close()
		}
		// Names tell clients apart in logs; two identical configs would also
		// push everything twice.
		if names[c.name] {
			closeSpools()
			return nil, fmt.Errorf("duplicate client configs are not allowed, found duplicate for name %q", c.name)
		}
		names[c.name] = true
		clients = append(clients, c)
	}

	mgr := &Manager{
		clients:      clients,
		logger:       logger,
		flushTimeout: opts.FlushTimeout,
		done:         make(chan struct{}),
		stopped:      make(chan struct{}),
		spooled:      opts.Spool != nil,
	}
	for _, c := range clients {
		go c.run()
		if c.spool != nil {
			go c.sendSpooled()
		}
	}
	return mgr, nil
}

// Handle hands an entry to every client. It is safe for concurrent use.
//
// Promtail passes each entry to its clients one after the other and waits for
// each, so a client stuck retrying an unreachable Loki stops all the others
// and every target behind them. Here each client has its own bounded queue:
//
//   - Handle first offers the entry to every queue without waiting.
//   - If at least one client took it, the clients whose queues are full drop
//     it, counted in promtail_dropped_entries_total{reason="queue_full"} and
//     logged at most every 10s per client: a dead Loki costs its own copy of
//     the data and never stalls the healthy ones.
//   - If no client could take it, Handle blocks until one can. That is plain
//     backpressure on the targets: while nothing moves, nothing is lost. Once
//     one client has taken it, the others get one more try and drop it if
//     they are still full.
//
// With a spool, clients write entries to disk as fast as the disk goes and
// Handle simply waits for each of them: a client whose Loki is down fills its
// own spool, not its queue, and only a full spool (under the block policy)
// holds the readers back.
//
// Every client that takes the entry holds its Ack until the entry is settled.
// Handle does not keep the entry's Extracted map. After Stop has begun,
// entries are dropped, unsettled: their source reads them again next time.
func (m *Manager) Handle(e stages.Entry) {
	e.Extracted = nil

	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		if n, ok := m.lateEntryLog.allow(); ok {
			m.logger.Warn("entry handed to the clients after they stopped; dropped", "suppressed", n)
		}
		return
	}
	e.Ack.Hold(len(m.clients))
	if m.spooled {
		for _, c := range m.clients {
			select {
			case c.queue <- e:
			case <-m.done:
				return
			}
		}
		return
	}

	var fullBuf [8]*client
	full := fullBuf[:0]
	taken := false
	for _, c := range m.clients {
		select {
		case c.queue <- e:
			taken = true
		default:
			full = append(full, c)
		}
	}
	if len(full) == 0 {
		return
	}
	if !taken {
		first := m.waitForRoom(e, full)
		if first == nil {
			m.dropFull(full, &e)
			return
		}
		full = offerAgain(full, first, &e)
	}
	// Given up on by rule, unlike the entries cut off by a stop above.
	e.Ack.Release(len(full))
	m.dropFull(full, &e)
}

// waitForRoom blocks until one of the clients takes e and returns it, or
// returns nil when stopping begins first.
func (m *Manager) waitForRoom(e stages.Entry, clients []*client) *client {
	if len(clients) == 1 {
		select {
		case clients[0].queue <- e:
			return clients[0]
		case <-m.done:
			return nil
		}
	}
	cases := make([]reflect.SelectCase, 0, len(clients)+1)
	value := reflect.ValueOf(e)
	for _, c := range clients {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectSend, Chan: reflect.ValueOf(c.queue), Send: value})
	}
	cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(m.done)})
	chosen, _, _ := reflect.Select(cases)
	if chosen == len(clients) {
		return nil
	}
	return clients[chosen]
}

// offerAgain offers e once more to the full clients other than first and returns
// those still full.
func offerAgain(full []*client, first *client, e *stages.Entry) []*client {
	still := full[:0]
	for _, c := range full {
		if c == first {
			continue
		}
		select {
		case c.queue <- *e:
		default:
			still = append(still, c)
		}
	}
	return still
}

func (m *Manager) dropFull(full []*client, e *stages.Entry) {
	for _, c := range full {
		tenant := c.cfg.TenantID
		if v, ok := e.Labels[tenantLabel]; ok {
			tenant = string(v)
		} else if v, ok := c.external[tenantLabel]; ok {
			tenant = string(v)
		}
		c.metrics.droppedEntries.WithLabelValues(c.host, tenant, reasonNames[reasonQueueFull]).Inc()
		c.metrics.droppedBytes.WithLabelValues(c.host, tenant, reasonNames[reasonQueueFull]).Add(float64(len(e.Line)))
		if n, ok := c.queueFullLog.allow(); ok {
			c.logger.Warn("client queue full, dropping entries for this client while others keep sending",
				"queue_capacity", cap(c.queue), "suppressed", n)
		}
	}
}

// Stop stops taking entries, lets every client batch what it has queued and
// push all pending batches with the usual retries, and returns when all
// clients are done. When FlushTimeout passes first, requests in flight and
// backoff waits are cut short and what is left is dropped (and counted).
func (m *Manager) Stop() {
	m.stop()
}

// StopNow is Stop without retries: backoff waits end at once and each
// pending batch gets a single attempt, still within FlushTimeout. It may be
// called while Stop is running, to hurry it.
func (m *Manager) StopNow() {
	for _, c := range m.clients {
		c.cancelRetries()
	}
	m.stop()
}

func (m *Manager) stop() {
	m.stopOnce.Do(func() {
		close(m.done)
		m.mu.Lock()
		m.closed = true
		for _, c := range m.clients {
			close(c.queue)
		}
		m.mu.Unlock()

		deadline := time.AfterFunc(m.flushTimeout, func() {
			for _, c := range m.clients {
				c.cancelRequests()
			}
		})
		for _, c := range m.clients {
			<-c.exited
			if c.spool != nil {
				<-c.senderExited
			}
		}
		deadline.Stop()
		for _, c := range m.clients {
			c.cancelRequests()
			c.http.CloseIdleConnections()
			if c.spool != nil {
				if err := c.spool.Close(); err != nil {
					c.logger.Warn("closing the spool", "err", err)
				}
			}
		}
		close(m.stopped)
	})
	<-m.stopped
}
