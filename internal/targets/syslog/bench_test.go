package syslog

import (
	"bufio"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/internal/cputime"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

// BenchmarkSyslogTCP sends b.N messages over one loopback TCP connection and
// waits until the target has handed all of them on: framing, parsing,
// labels (structured data on, two relabel rules as in
// shared/compat/configs/syslog-job) and the entry, with a handler that only
// counts. One op is one message. msgs/cpu-s divides by the CPU time of the
// whole process, the sending side included.
//
//	go test -run '^$' -bench BenchmarkSyslogTCP -benchtime 200000x ./internal/targets/syslog/
func BenchmarkSyslogTCP(b *testing.B) {
	rfc5424 := `<165>1 2024-05-10T14:22:01.123456Z web01.example.com nginx 4321 access [meta@32473 region="eu-west-1" tier="frontend"] 10.0.0.7 - - "GET /api/v1/items?page=2 HTTP/1.1" 200 5123 "-" "curl/8.5.0"`
	rfc3164 := `<134>May 10 14:22:01 web01 nginx[4321]: 10.0.0.7 - - "GET /api/v1/items?page=2 HTTP/1.1" 200 5123 "-" "curl/8.5.0"`
	for _, bc := range []struct {
		name   string
		format config.SyslogFormat
		frame  string
	}{
		{"rfc5424-octet-counting", config.SyslogFormatRFC5424, octet(rfc5424)},
		{"rfc5424-non-transparent", config.SyslogFormatRFC5424, rfc5424 + "\n"},
		{"rfc3164-non-transparent", config.SyslogFormatRFC3164, rfc3164 + "\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			benchTCP(b, bc.format, []byte(bc.frame))
		})
	}
}

func benchTCP(b *testing.B, format config.SyslogFormat, frame []byte) {
	var handled atomic.Int64
	done := make(chan struct{})
	want := int64(b.N)
	handler := api.EntryHandlerFunc(func(stages.Entry) {
		if handled.Add(1) == want {
			close(done)
		}
	})
	cfg := config.SyslogConfig{
		ListenAddress: "127.0.0.1:0", Labels: model.LabelSet{"job": "syslog"},
		LabelStructuredData: true, SyslogFormat: format,
	}
	rc := []*relabel.Config{
		{SourceLabels: model.LabelNames{"__syslog_message_hostname"}, TargetLabel: "host", Action: relabel.Replace,
			Regex: relabel.MustNewRegexp("(.*)"), Replacement: "$1", Separator: ";"},
		{SourceLabels: model.LabelNames{"__syslog_message_severity"}, TargetLabel: "level", Action: relabel.Replace,
			Regex: relabel.MustNewRegexp("(.*)"), Replacement: "$1", Separator: ";"},
	}
	m := NewMetrics(nil)
	tg, err := newTarget(promslog.NewNopLogger(), m, "bench", &cfg, rc, handler, fakeLookup)
	if err != nil {
		b.Fatal(err)
	}
	defer tg.Stop()
	conn, err := net.Dial("tcp", tg.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()

	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, start := int64(cputime.Process()), time.Now()
	sent := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(conn, 64<<10)
		for range b.N {
			if _, err := w.Write(frame); err != nil {
				sent <- err
				return
			}
		}
		sent <- w.Flush()
	}()
	if err := <-sent; err != nil {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("handled %d of %d messages (%+v)", handled.Load(), b.N, readCounts(m))
	}
	elapsed, cpu := time.Since(start), int64(cputime.Process())-cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/(float64(cpu)/1e9), "msgs/cpu-s")
	}
}
