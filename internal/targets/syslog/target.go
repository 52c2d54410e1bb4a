// Package syslog is the syslog target, as Promtail's syslog scrape config:
// a TCP (optionally TLS) or UDP listener for RFC 5424 or RFC 3164 messages,
// in octet-counting or non-transparent (LF) framing, each message becoming
// one entry with Promtail's __syslog_* labels.
//
// Syslog senders cannot replay what was lost, so entries carry no Ack.
package syslog

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/internal/config"
)

const (
	// readBufferSize is the per-connection read buffer; longer messages are
	// gathered in the framer, up to max_message_length.
	readBufferSize = 16 << 10
	// udpSocketBuffer is the kernel receive buffer asked for, as Promtail
	// does, so that bursts survive while the pipeline pushes back.
	udpSocketBuffer = 1 << 20
	// lookupTimeout bounds the reverse DNS lookup behind
	// __syslog_connection_hostname.
	lookupTimeout = 5 * time.Second
	// UDP has no connections, so the labels of each sender (with its reverse
	// lookup) are kept this long, for at most peerCacheSize senders.
	peerCacheTTL  = 10 * time.Minute
	peerCacheSize = 4096
	// acceptBackoffMax caps the pause after a failed Accept (out of file
	// descriptors, for instance).
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// lookupFunc resolves an IP address to host names (net.Resolver.LookupAddr).
type lookupFunc func(ctx context.Context, addr string) ([]string, error)

// Target is one job's syslog listener.
type Target struct {
	logger     *slog.Logger
	metrics    *Metrics
	cfg        config.SyslogConfig
	rfc3164    bool
	relabel    []*relabel.Config
	handler    api.EntryHandler
	lookupAddr lookupFunc

	ctx      context.Context
	cancel   context.CancelFunc
	listener net.Listener
	udp      *net.UDPConn

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool

	stopOnce sync.Once
	wg       sync.WaitGroup
}

// New starts listening as cfg says and hands every message to handler,
// which may block. relabelConfigs run on each message's labels before the
// labels starting with "__" are dropped.
func New(logger *slog.Logger, m *Metrics, jobName string, cfg *config.SyslogConfig,
	relabelConfigs []*relabel.Config, handler api.EntryHandler,
) (*Target, error) {
	return newTarget(logger, m, jobName, cfg, relabelConfigs, handler, net.DefaultResolver.LookupAddr)
}

func newTarget(logger *slog.Logger, m *Metrics, jobName string, cfg *config.SyslogConfig,
	relabelConfigs []*relabel.Config, handler api.EntryHandler, lookup lookupFunc,
) (*Target, error) {
	c, err := withDefaults(cfg)
	if err != nil {
		return nil, fmt.Errorf("job %q: %w", jobName, err)
	}
	tlsConfig, err := serverTLSConfig(&c.TLSConfig)
	if err != nil {
		return nil, fmt.Errorf("job %q: syslog.%w", jobName, err)
	}
	t := &Target{
		logger:     logger.With("component", "syslog_target", "job", jobName),
		metrics:    m,
		cfg:        c,
		rfc3164:    c.SyslogFormat == config.SyslogFormatRFC3164,
		relabel:    prepareRelabel(relabelConfigs),
		handler:    handler,
		lookupAddr: lookup,
		conns:      map[net.Conn]struct{}{},
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())

	if c.ListenProtocol == "udp" {
		if tlsConfig != nil {
			t.logger.Warn("tls_config applies to TCP only; listening on UDP without TLS")
		}
		conn, err := listenUDP(c.ListenAddress)
		if err != nil {
			t.cancel()
			return nil, fmt.Errorf("job %q: syslog.listen_address: %w", jobName, err)
		}
		t.udp = conn
		t.logger.Info("syslog listening", "address", conn.LocalAddr().String(), "protocol", "udp")
		t.wg.Add(1)
		go t.serveUDP()
		return t, nil
	}

	l, err := net.Listen("tcp", c.ListenAddress)
	if err != nil {
		t.cancel()
		return nil, fmt.Errorf("job %q: syslog.listen_address: %w", jobName, err)
	}
	if tlsConfig != nil {
		l = tls.NewListener(l, tlsConfig)
	}
	t.listener = l
	t.logger.Info("syslog listening", "address", l.Addr().String(), "protocol", "tcp", "tls", tlsConfig != nil)
	t.wg.Add(1)
	go t.acceptTCP()
	return t, nil
}

// withDefaults returns a copy of cfg with Promtail's defaults where a value
// is unset, so that a config built in code behaves as a decoded one.
func withDefaults(cfg *config.SyslogConfig) (config.SyslogConfig, error) {
	c := *cfg
	if c.ListenAddress == "" {
		return c, errors.New("syslog.listen_address: required")
	}
	switch c.ListenProtocol {
	case "":
		c.ListenProtocol = config.DefaultSyslogProtocol
	case "tcp", "udp":
	default:
		return c, fmt.Errorf("syslog.listen_protocol: %q is not supported, use tcp or udp", c.ListenProtocol)
	}
	switch c.SyslogFormat {
	case "":
		c.SyslogFormat = config.SyslogFormatRFC5424
	case config.SyslogFormatRFC5424, config.SyslogFormatRFC3164:
	default:
		return c, fmt.Errorf("syslog.syslog_format: %q is not supported, use rfc5424 or rfc3164", c.SyslogFormat)
	}
	switch {
	case c.IdleTimeout < 0:
		return c, fmt.Errorf("syslog.idle_timeout: %s is negative", c.IdleTimeout)
	case c.IdleTimeout == 0:
		c.IdleTimeout = config.DefaultSyslogIdleTimeout
	}
	switch {
	case c.MaxMessageLength < 0:
		return c, fmt.Errorf("syslog.max_message_length: %d is negative", c.MaxMessageLength)
	case c.MaxMessageLength == 0:
		c.MaxMessageLength = config.DefaultSyslogMaxMessageLength
	}
	return c, nil
}

// prepareRelabel copies the rules, giving a validation scheme to those built
// without one: relabeling panics on an unset scheme.
func prepareRelabel(cfgs []*relabel.Config) []*relabel.Config {
	out := make([]*relabel.Config, 0, len(cfgs))
	for _, rc := range cfgs {
		if rc == nil {
			continue
		}
		c := *rc
		if c.NameValidationScheme == model.UnsetValidation {
			c.NameValidationScheme = model.LegacyValidation
		}
		out = append(out, &c)
	}
	return out
}

func listenUDP(address string) (*net.UDPConn, error) {
	addr, err := net.ResolveUDPAddr("udp", address)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, err
	}
	// A smaller buffer than asked is still a working listener.
	_ = conn.SetReadBuffer(udpSocketBuffer)
	return conn, nil
}

// Addr is the address the target listens on (with the port the system chose
// for port 0).
func (t *Target) Addr() net.Addr {
	if t.udp != nil {
		return t.udp.LocalAddr()
	}
	return t.listener.Addr()
}

// Stop closes the listener and every connection, and returns once every
// goroutine of the target has ended. Messages already read are handed on
// first.
func (t *Target) Stop() {
	t.stopOnce.Do(func() {
		t.cancel()
		if t.listener != nil {
			_ = t.listener.Close()
		}
		if t.udp != nil {
			_ = t.udp.Close()
		}
		t.mu.Lock()
		t.closed = true
		for c := range t.conns {
			_ = c.Close()
		}
		t.mu.Unlock()
	})
	t.wg.Wait()
}

func (t *Target) acceptTCP() {
	defer t.wg.Done()
	backoff := acceptBackoffMin
	for {
		c, err := t.listener.Accept()
		if err != nil {
			if t.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			t.logger.Warn("failed to accept syslog connection", "err", err, "retry_in", backoff)
			select {
			case <-t.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, acceptBackoffMax)
			continue
		}
		backoff = acceptBackoffMin
		if !t.track(c) {
			_ = c.Close()
			return
		}
		t.wg.Add(1)
		go t.serveConn(c)
	}
}

// track registers a connection for Stop to close; it refuses once Stop has
// begun.
func (t *Target) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

func (t *Target) untrack(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	_ = c.Close()
}

// serveConn reads one TCP connection until it ends, goes idle, or sends
// something that is not syslog framing.
func (t *Target) serveConn(c net.Conn) {
	defer t.wg.Done()
	defer t.untrack(c)

	ip := remoteIP(c.RemoteAddr())
	base := t.connectionLabels(ip)
	s := t.newSession()
	br := bufio.NewReaderSize(idleReader{c, t.cfg.IdleTimeout}, readBufferSize)
	f := newFramer(br, t.cfg.MaxMessageLength, false)
	for {
		frame, err := f.next()
		switch {
		case err == nil:
			s.handle(base, frame)
			continue
		case errors.Is(err, errOversized):
			t.parsingError(err, base)
			continue
		case errors.Is(err, errFraming):
			t.parsingError(err, base)
			t.logger.Warn("closing syslog connection after a framing error", "remote", ip)
		case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		case errors.Is(err, syscall.ECONNRESET):
			t.logger.Debug("syslog connection reset by the sender", "remote", ip)
		case isTimeout(err):
			t.logger.Debug("closing idle syslog connection", "remote", ip, "idle_timeout", t.cfg.IdleTimeout)
		default:
			t.logger.Warn("syslog connection failed", "remote", ip, "err", err)
		}
		return
	}
}

// serveUDP reads datagrams until Stop. Each datagram is a stream of its own:
// one message, or several in either framing.
func (t *Target) serveUDP() {
	defer t.wg.Done()
	limit := t.cfg.MaxMessageLength
	// One byte more than allowed tells an oversized datagram from one that
	// just fits, since the kernel truncates silently.
	buf := make([]byte, limit+1)
	var datagram bytes.Reader
	f := newFramer(bufio.NewReaderSize(&datagram, readBufferSize), limit, true)
	s := t.newSession()
	peers := map[netip.Addr]peer{}
	for {
		n, from, err := t.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if t.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			t.logger.Warn("failed to read syslog datagram", "err", err)
			select {
			case <-t.ctx.Done():
				return
			case <-time.After(acceptBackoffMin):
			}
			continue
		}
		base := t.peerLabels(peers, from.Addr())
		if n > limit {
			t.parsingError(fmt.Errorf("%w: datagram of more than %d bytes", errOversized, limit), base)
			continue
		}
		datagram.Reset(buf[:n])
		f.reset(&datagram)
		for {
			frame, err := f.next()
			if err == nil {
				s.handle(base, frame)
				continue
			}
			if errors.Is(err, errOversized) || errors.Is(err, errFraming) {
				t.parsingError(err, base)
			}
			if !errors.Is(err, errOversized) {
				break
			}
		}
	}
}

// peer is what the UDP listener remembers of a sender.
type peer struct {
	labels  labels.Labels
	expires time.Time
}

// peerLabels returns the connection labels of a UDP sender, looking its name
// up again once the cached one is older than peerCacheTTL. The cache is the
// UDP goroutine's own.
func (t *Target) peerLabels(peers map[netip.Addr]peer, addr netip.Addr) labels.Labels {
	now := time.Now()
	if p, ok := peers[addr]; ok && now.Before(p.expires) {
		return p.labels
	}
	if len(peers) >= peerCacheSize {
		for a, p := range peers {
			if !now.Before(p.expires) {
				delete(peers, a)
			}
		}
		if len(peers) >= peerCacheSize {
			clear(peers)
		}
	}
	ip := addr.Unmap().WithZone("")
	p := peer{labels: t.connectionLabels(ip), expires: now.Add(peerCacheTTL)}
	peers[addr] = p
	return p.labels
}

// connectionLabels are the static labels and the sender's address and host
// name, the base of every message's labels.
func (t *Target) connectionLabels(ip netip.Addr) labels.Labels {
	lb := labels.NewBuilder(labels.EmptyLabels())
	for name, value := range t.cfg.Labels {
		lb.Set(string(name), string(value))
	}
	s := ip.String()
	lb.Set(labelConnectionIP, s)
	lb.Set(labelConnectionHostname, t.lookupHost(s))
	return lb.Labels()
}

// lookupHost returns the sender's reverse DNS names joined by commas, or ""
// (no label) when there are none.
func (t *Target) lookupHost(ip string) string {
	ctx, cancel := context.WithTimeout(t.ctx, lookupTimeout)
	defer cancel()
	names, err := t.lookupAddr(ctx, ip)
	if err != nil {
		return ""
	}
	return strings.Join(names, ",")
}

func (t *Target) parsingError(err error, base labels.Labels) {
	t.metrics.parsingErrors.Inc()
	t.logger.Warn("error parsing syslog message", "remote", base.Get(labelConnectionIP), "err", err)
}

func remoteIP(a net.Addr) netip.Addr {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	}
	return ap.Addr().Unmap().WithZone("")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// idleReader gives every read of a connection idle_timeout to complete, so a
// silent sender is disconnected.
type idleReader struct {
	conn    net.Conn
	timeout time.Duration
}

func (r idleReader) Read(p []byte) (int, error) {
	if err := r.conn.SetReadDeadline(time.Now().Add(r.timeout)); err != nil {
		return 0, err
	}
	return r.conn.Read(p)
}
