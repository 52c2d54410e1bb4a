package syslog

import (
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
)

// octet frames msg with RFC 6587 octet counting.
func octet(msgs ...string) string {
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "%d %s", len(m), m)
	}
	return b.String()
}

const (
	msgFull    = `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 [exampleSDID@32473 iut="3" eventSource="Application"][origin ip="10.0.0.1"] An application event`
	msgMinimal = `<13>1 - - - - - - second`
	msg3164    = `<34>Oct 11 22:14:15 mymachine su[42]: 'su root' failed`
	msg3164ISO = `<13>2024-05-10T14:22:01.123+02:00 web01 nginx: GET /`
)

// base is what every test message carries: the static label and the
// connection labels (exposed by exposeInternal).
func base(extra model.LabelSet) model.LabelSet {
	ls := model.LabelSet{
		"job":                          "syslog",
		"syslog_connection_ip_address": "127.0.0.1",
		"syslog_connection_hostname":   fakeHost,
		"syslog_message_severity":      "notice",
		"syslog_message_facility":      "user",
	}
	for k, v := range extra {
		ls[k] = v
	}
	return ls
}

var (
	fullLabels = base(model.LabelSet{
		"syslog_message_facility": "local4",
		"syslog_message_hostname": "mymachine.example.com",
		"syslog_message_app_name": "evntslog",
		"syslog_message_proc_id":  "1234",
		"syslog_message_msg_id":   "ID47",
	})
	fullSDLabels = base(model.LabelSet{
		"syslog_message_facility":                         "local4",
		"syslog_message_hostname":                         "mymachine.example.com",
		"syslog_message_app_name":                         "evntslog",
		"syslog_message_proc_id":                          "1234",
		"syslog_message_msg_id":                           "ID47",
		"syslog_message_sd_exampleSDID_32473_iut":         "3",
		"syslog_message_sd_exampleSDID_32473_eventSource": "Application",
		"syslog_message_sd_origin_ip":                     "10.0.0.1",
	})
	minimalLabels = base(nil)
	labels3164    = base(model.LabelSet{
		"syslog_message_severity": "critical",
		"syslog_message_facility": "auth",
		"syslog_message_hostname": "mymachine",
		"syslog_message_app_name": "su",
		"syslog_message_proc_id":  "42",
	})
	labels3164ISO = base(model.LabelSet{
		"syslog_message_hostname": "web01",
		"syslog_message_app_name": "nginx",
	})
)

func TestTCP(t *testing.T) {
	job := model.LabelSet{"job": "syslog"}
	withSD := config.SyslogConfig{Labels: job, LabelStructuredData: true}
	rfc3164 := config.SyslogConfig{Labels: job, SyslogFormat: config.SyslogFormatRFC3164}
	small := config.SyslogConfig{Labels: job, MaxMessageLength: 64}
	long := `<13>1 - - - - - - ` + strings.Repeat("x", 64)
	stamp := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)

	tests := []struct {
		name    string
		cfg     config.SyslogConfig
		relabel []*relabel.Config
		chunks  []string
		want    []wantEntry
		counts  counts
	}{
		{
			name:   "rfc5424 octet counting with structured data",
			cfg:    withSD,
			chunks: []string{octet(msgFull, msgMinimal)},
			want:   []wantEntry{{line: "An application event", labels: fullSDLabels}, {line: "second", labels: minimalLabels}},
			counts: counts{entries: 2},
		},
		{
			name:   "structured data labels off by default",
			cfg:    config.SyslogConfig{Labels: job},
			chunks: []string{octet(msgFull)},
			want:   []wantEntry{{line: "An application event", labels: fullLabels}},
			counts: counts{entries: 1},
		},
		{
			name: "rfc5424 non-transparent: CRLF, empty lines, continued message, last one without trailer",
			cfg:  withSD,
			chunks: []string{msgFull + "\n" + msgMinimal + "\r\n\n" +
				"<14>1 - host app - - - first line\n  continued\n" +
				"<15>1 - - - - - - last without trailer"},
			want: []wantEntry{
				{line: "An application event", labels: fullSDLabels},
				{line: "second", labels: minimalLabels},
				{line: "first line\n  continued", labels: base(model.LabelSet{
					"syslog_message_severity": "informational",
					"syslog_message_hostname": "host",
					"syslog_message_app_name": "app",
				})},
				{line: "last without trailer", labels: base(model.LabelSet{"syslog_message_severity": "debug"})},
			},
			counts: counts{entries: 4},
		},
		{
			name:   "octet counting with a newline after each message",
			cfg:    withSD,
			chunks: []string{octet(msgMinimal) + "\n" + octet(msgMinimal) + "\r\n"},
			want:   []wantEntry{{line: "second", labels: minimalLabels}, {line: "second", labels: minimalLabels}},
			counts: counts{entries: 2},
		},
		{
			name:   "rfc3164 non-transparent, RFC 3339 timestamp accepted",
			cfg:    rfc3164,
			chunks: []string{msg3164 + "\n" + msg3164ISO + "\n"},
			want:   []wantEntry{{line: "'su root' failed", labels: labels3164}, {line: "GET /", labels: labels3164ISO}},
			counts: counts{entries: 2},
		},
		{
			name:   "rfc3164 octet counting keeps inner newlines",
			cfg:    rfc3164,
			chunks: []string{octet(msg3164+"\nsecond line", msg3164ISO+"\n")},
			want:   []wantEntry{{line: "'su root' failed\nsecond line", labels: labels3164}, {line: "GET /", labels: labels3164ISO}},
			counts: counts{entries: 2},
		},
		{
			name:   "use_rfc5424_message sends the whole message",
			cfg:    config.SyslogConfig{Labels: job, UseRFC5424Message: true},
			chunks: []string{octet(`<165>1 2003-10-11T22:14:15.003Z host app - - [a@1 x="1"] msg`)},
			want: []wantEntry{{line: `<165>1 2003-10-11T22:14:15.003Z host app - - [a@1 x="1"] msg`, labels: base(model.LabelSet{
				"syslog_message_facility": "local4", "syslog_message_hostname": "host", "syslog_message_app_name": "app",
			})}},
			counts: counts{entries: 1},
		},
		{
			name:   "use_rfc5424_message is ignored for rfc3164",
			cfg:    config.SyslogConfig{Labels: job, UseRFC5424Message: true, SyslogFormat: config.SyslogFormatRFC3164},
			chunks: []string{msg3164 + "\n"},
			want:   []wantEntry{{line: "'su root' failed", labels: labels3164}},
			counts: counts{entries: 1},
		},
		{
			name:   "incoming timestamp rfc5424",
			cfg:    config.SyslogConfig{Labels: job, UseIncomingTimestamp: true},
			chunks: []string{octet(msgFull, msgMinimal)},
			want: []wantEntry{
				{line: "An application event", labels: fullLabels, ts: time.Date(2003, 10, 11, 22, 14, 15, 3e6, time.UTC)},
				{line: "second", labels: minimalLabels},
			},
			counts: counts{entries: 2},
		},
		{
			name:   "incoming timestamp rfc3164 gets the nearest year",
			cfg:    config.SyslogConfig{Labels: job, UseIncomingTimestamp: true, SyslogFormat: config.SyslogFormatRFC3164},
			chunks: []string{"<34>" + stamp.Format(time.Stamp) + " mymachine su[42]: 'su root' failed\n" + msg3164ISO + "\n"},
			want: []wantEntry{
				{line: "'su root' failed", labels: labels3164, ts: stamp},
				{line: "GET /", labels: labels3164ISO, ts: time.Date(2024, 5, 10, 12, 22, 1, 123e6, time.UTC)},
			},
			counts: counts{entries: 2},
		},
		{
			name:   "empty MSG counted and skipped",
			cfg:    withSD,
			chunks: []string{octet(`<13>1 - - - - - -`, msgMinimal)},
			want:   []wantEntry{{line: "second", labels: minimalLabels}},
			counts: counts{entries: 1, empty: 1},
		},
		{
			name:   "garbage first byte closes the connection",
			cfg:    withSD,
			chunks: []string{"GET / HTTP/1.1\r\n\r\n" + msgMinimal + "\n"},
			counts: counts{errors: 1},
		},
		{
			name:   "garbage after an octet-counted message closes the connection",
			cfg:    withSD,
			chunks: []string{octet(msgMinimal) + "xyz " + octet(msgMinimal)},
			want:   []wantEntry{{line: "second", labels: minimalLabels}},
			counts: counts{entries: 1, errors: 1},
		},
		{
			name:   "length with leading zero is a framing error",
			cfg:    withSD,
			chunks: []string{"0" + octet(msgMinimal)},
			counts: counts{errors: 1},
		},
		{
			name:   "length that never ends is a framing error",
			cfg:    withSD,
			chunks: []string{"12345678901 " + msgMinimal},
			counts: counts{errors: 1},
		},
		{
			name:   "stream ending inside a counted message",
			cfg:    withSD,
			chunks: []string{octet(msgMinimal) + "100 <13>1 - - - - - - cut"},
			want:   []wantEntry{{line: "second", labels: minimalLabels}},
			counts: counts{entries: 1, errors: 1},
		},
		{
			name:   "malformed message in LF framing is counted, the next one goes through",
			cfg:    withSD,
			chunks: []string{"<999>1 bad\n" + msgMinimal + "\n"},
			want:   []wantEntry{{line: "second", labels: minimalLabels}},
			counts: counts{entries: 1, errors: 1},
		},
		{
			name:   "oversized octet-counted message skipped",
			cfg:    small,
			chunks: []string{octet(long, msgMinimal)},
			want:   []wantEntry{{line: "second", labels: minimalLabels}},
			counts: counts{entries: 1, errors: 1},
		},
		{
			name:   "oversized non-transparent message skipped",
			cfg:    small,
			chunks: []string{long + "\n" + msgMinimal + "\n" + long},
			want:   []wantEntry{{line: "second", labels: minimalLabels}},
			counts: counts{entries: 1, errors: 2},
		},
		{
			name:   "octet-counted message of exactly max_message_length accepted",
			cfg:    small,
			chunks: []string{octet(long[:64])},
			want:   []wantEntry{{line: long[18:64], labels: minimalLabels}},
			counts: counts{entries: 1},
		},
		{
			name:   "non-transparent message of exactly max_message_length accepted",
			cfg:    small,
			chunks: []string{long[:64] + "\r\n" + long[:64]},
			want:   []wantEntry{{line: long[18:64], labels: minimalLabels}, {line: long[18:64], labels: minimalLabels}},
			counts: counts{entries: 2},
		},
		{
			name: "relabel drop",
			cfg:  withSD,
			relabel: append([]*relabel.Config{{
				Action: relabel.Drop, SourceLabels: model.LabelNames{"__syslog_message_app_name"},
				Regex: relabel.MustNewRegexp("evntslog"), Separator: ";",
			}}, exposeInternal...),
			chunks: []string{octet(msgFull, msgMinimal)},
			want:   []wantEntry{{line: "second", labels: minimalLabels}},
			counts: counts{entries: 1},
		},
		{
			// The relabel rules of shared/compat/configs/syslog-job.
			name: "internal labels dropped after relabeling",
			cfg:  config.SyslogConfig{Labels: job, LabelStructuredData: true, UseIncomingTimestamp: true},
			relabel: []*relabel.Config{
				{SourceLabels: model.LabelNames{"__syslog_message_hostname"}, TargetLabel: "host", Action: relabel.Replace,
					Regex: relabel.MustNewRegexp("(.*)"), Replacement: "$1", Separator: ";"},
				{SourceLabels: model.LabelNames{"__syslog_message_severity"}, TargetLabel: "level", Action: relabel.Replace,
					Regex: relabel.MustNewRegexp("(.*)"), Replacement: "$1", Separator: ";"},
			},
			chunks: []string{octet(msgFull, msgMinimal)},
			want: []wantEntry{
				{line: "An application event", labels: model.LabelSet{"job": "syslog", "host": "mymachine.example.com", "level": "notice"},
					ts: time.Date(2003, 10, 11, 22, 14, 15, 3e6, time.UTC)},
				{line: "second", labels: model.LabelSet{"job": "syslog", "level": "notice"}},
			},
			counts: counts{entries: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := tt.relabel
			if rc == nil {
				rc = exposeInternal
			}
			tg, c, m := startTarget(t, tt.cfg, rc)
			send(t, tg.Addr(), tt.chunks...)
			waitCounts(t, m, tt.counts)
			tg.Stop()
			if got := readCounts(m); got != tt.counts {
				t.Errorf("after Stop: counters %+v, want %+v", got, tt.counts)
			}
			checkEntries(t, c.All(), tt.want)
		})
	}
}

// Messages of one connection are parsed while others keep theirs going: a
// connection closed for garbage leaves the others alone.
func TestGarbageConnectionLeavesOthersAlone(t *testing.T) {
	tg, c, m := startTarget(t, config.SyslogConfig{Labels: model.LabelSet{"job": "syslog"}}, exposeInternal)
	good, err := net.Dial("tcp", tg.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	if _, err := good.Write([]byte(octet(msgMinimal))); err != nil {
		t.Fatal(err)
	}
	c.Wait(t, 1)

	bad, err := net.Dial("tcp", tg.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Write([]byte("\x00\x01garbage")); err != nil {
		t.Fatal(err)
	}
	// The target closes the bad connection: the client reads EOF.
	_ = bad.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := bad.Read(make([]byte, 1)); err == nil {
		t.Fatalf("garbage connection still open (read %d bytes)", n)
	}

	if _, err := good.Write([]byte(octet(msgMinimal))); err != nil {
		t.Fatal(err)
	}
	c.Wait(t, 2)
	waitCounts(t, m, counts{entries: 2, errors: 1})
}

func TestIdleTimeout(t *testing.T) {
	idle := 150 * time.Millisecond
	tg, c, m := startTarget(t, config.SyslogConfig{Labels: model.LabelSet{"job": "syslog"}, IdleTimeout: idle}, exposeInternal)

	start := time.Now()
	silent, err := net.Dial("tcp", tg.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("silent connection not closed by the target: %v", err)
	}
	if waited := time.Since(start); waited < idle {
		t.Errorf("closed after %v, before idle_timeout %v", waited, idle)
	}

	// A message still without its trailer when the sender goes quiet is
	// handed on when the connection is closed, as Promtail does.
	partial, err := net.Dial("tcp", tg.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer partial.Close()
	if _, err := partial.Write([]byte(msgMinimal)); err != nil {
		t.Fatal(err)
	}
	checkEntries(t, c.Wait(t, 1), []wantEntry{{line: "second", labels: minimalLabels}})
	waitCounts(t, m, counts{entries: 1})
}

func TestStopClosesConnections(t *testing.T) {
	tg, _, _ := startTarget(t, config.SyslogConfig{}, nil)
	conns := make([]net.Conn, 3)
	for i := range conns {
		c, err := net.Dial("tcp", tg.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	// Wait until the target serves all three, so Stop has them to close.
	deadline := time.Now().Add(5 * time.Second)
	for {
		tg.mu.Lock()
		n := len(tg.conns)
		tg.mu.Unlock()
		if n == len(conns) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("target serves %d connections, want %d", n, len(conns))
		}
		time.Sleep(5 * time.Millisecond)
	}

	done := make(chan struct{})
	go func() {
		tg.Stop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return")
	}
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Errorf("connection %d still open after Stop: %v", i, err)
		}
	}
	if _, err := net.Dial("tcp", tg.Addr().String()); err == nil {
		t.Error("listener still accepts after Stop")
	}
	tg.Stop()
}

func TestUDP(t *testing.T) {
	tg, c, m := startTarget(t, config.SyslogConfig{
		Labels: model.LabelSet{"job": "syslog"}, ListenProtocol: "udp", MaxMessageLength: 200, LabelStructuredData: true,
	}, exposeInternal)
	conn, err := net.Dial("udp", tg.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	datagrams := []string{
		msgFull,                               // one message, no trailer
		msgMinimal + "\n" + msgMinimal + "\n", // two, LF framed
		octet(msgMinimal, msgMinimal),         // two, octet counted
		"garbage",                             // counted
		`<13>1 - - - - - - ` + strings.Repeat("x", 300), // oversized datagram
		msgMinimal + "\nstill the same message",         // continuation inside a datagram
	}
	for _, d := range datagrams {
		if _, err := conn.Write([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	got := c.Wait(t, 6)
	waitCounts(t, m, counts{entries: 6, errors: 2})
	checkEntries(t, got, []wantEntry{
		{line: "An application event", labels: fullSDLabels},
		{line: "second", labels: minimalLabels},
		{line: "second", labels: minimalLabels},
		{line: "second", labels: minimalLabels},
		{line: "second", labels: minimalLabels},
		{line: "second\nstill the same message", labels: minimalLabels},
	})
}

// The reverse lookup is the system resolver's, joined with commas as in
// Promtail.
func TestConnectionHostnameFromResolver(t *testing.T) {
	cfg := config.SyslogConfig{ListenAddress: "127.0.0.1:0"}
	m := NewMetrics(nil)
	c := &collector{}
	tg, err := New(promslog.NewNopLogger(), m, "syslog", &cfg, exposeInternal, c)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Stop()
	send(t, tg.Addr(), octet(msgMinimal))
	got := c.Wait(t, 1)
	names, _ := net.LookupAddr("127.0.0.1")
	want := model.LabelValue(strings.Join(names, ","))
	if h := got[0].Labels["syslog_connection_hostname"]; h != want {
		t.Errorf("connection hostname %q, want %q", h, want)
	}
}

func TestWithNearestYear(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		stamp string
		want  time.Time
	}{
		{"Jan  2 02:00:00", time.Date(2025, 1, 2, 2, 0, 0, 0, time.UTC)},
		{"Dec 31 23:59:59", time.Date(2024, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"Jun 20 00:00:00", time.Date(2025, 6, 20, 0, 0, 0, 0, time.UTC)},
		{"Jul 10 00:00:00", time.Date(2024, 7, 10, 0, 0, 0, 0, time.UTC)},
		{"Jan  2 04:00:00", time.Date(2025, 1, 2, 4, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		ts, err := time.Parse(time.Stamp, tt.stamp)
		if err != nil {
			t.Fatal(err)
		}
		if got := withNearestYear(ts, now); !got.Equal(tt.want) {
			t.Errorf("%s: got %v, want %v", tt.stamp, got, tt.want)
		}
	}
	end := time.Date(2024, 12, 31, 23, 0, 0, 0, time.UTC)
	ts, _ := time.Parse(time.Stamp, "Jan  1 00:30:00")
	if got, want := withNearestYear(ts, end), time.Date(2025, 1, 1, 0, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("clock ahead of ours across new year: got %v, want %v", got, want)
	}
}

func TestNewErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name string
		cfg  config.SyslogConfig
		want string
	}{
		{"no listen address", config.SyslogConfig{}, `job "j": syslog.listen_address: required`},
		{"address in use", config.SyslogConfig{ListenAddress: busy.Addr().String()}, `job "j": syslog.listen_address: `},
		{"bad UDP address", config.SyslogConfig{ListenAddress: "127.0.0.1:notaport", ListenProtocol: "udp"}, `job "j": syslog.listen_address: `},
		{"bad protocol", config.SyslogConfig{ListenAddress: "127.0.0.1:0", ListenProtocol: "sctp"}, `job "j": syslog.listen_protocol: "sctp"`},
		{"bad format", config.SyslogConfig{ListenAddress: "127.0.0.1:0", SyslogFormat: "json"}, `job "j": syslog.syslog_format: "json"`},
		{"negative idle timeout", config.SyslogConfig{ListenAddress: "127.0.0.1:0", IdleTimeout: -time.Second}, `job "j": syslog.idle_timeout`},
		{"negative max length", config.SyslogConfig{ListenAddress: "127.0.0.1:0", MaxMessageLength: -1}, `job "j": syslog.max_message_length`},
		{"TLS without key", config.SyslogConfig{ListenAddress: "127.0.0.1:0", TLSConfig: promconfig.TLSConfig{CertFile: "x.pem"}},
			`job "j": syslog.tls_config`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := New(promslog.NewNopLogger(), NewMetrics(nil), "j", &tt.cfg, nil, &collector{})
			if err == nil {
				tg.Stop()
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// Config values left at zero get Promtail's defaults, and the caller's
// config is not changed.
func TestDefaults(t *testing.T) {
	cfg := config.SyslogConfig{ListenAddress: "127.0.0.1:0"}
	tg, _, _ := startTarget(t, cfg, nil)
	want := config.SyslogConfig{
		ListenAddress: "127.0.0.1:0", ListenProtocol: "tcp", IdleTimeout: 120 * time.Second,
		SyslogFormat: config.SyslogFormatRFC5424, MaxMessageLength: 8192,
	}
	if !reflect.DeepEqual(tg.cfg, want) {
		t.Errorf("config %+v, want %+v", tg.cfg, want)
	}
	if cfg.ListenProtocol != "" {
		t.Error("caller's config changed")
	}
}

func TestMetricsNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.entries.Inc()
	m.parsingErrors.Inc()
	m.emptyMessages.Inc()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		if f.GetType() != dto.MetricType_COUNTER || len(f.GetMetric()[0].GetLabel()) != 0 {
			t.Errorf("%s: want an unlabelled counter", f.GetName())
		}
		names = append(names, f.GetName())
	}
	want := []string{"promtail_syslog_empty_messages_total", "promtail_syslog_target_entries_total", "promtail_syslog_target_parsing_errors_total"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("metrics %v, want %v", names, want)
	}
}
