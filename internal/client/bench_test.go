package client

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

// benchEntries are 1000 entries over 20 streams with ~200-byte lines, the
// labels a file target would give them.
func benchEntries() []stages.Entry {
	entries := make([]stages.Entry, 1000)
	line := strings.Repeat("GET /api/v1/query?x=1 200 12ms user=alice ", 5)
	for i := range entries {
		entries[i] = stages.Entry{
			Labels: model.LabelSet{
				"job":      "osquery",
				"host":     "web-01",
				"filename": model.LabelValue(fmt.Sprintf("/var/log/osquery/osqueryd.results.%d.log", i%20)),
			},
			Timestamp: time.Unix(1700000000, int64(i)),
			Line:      line[:190+i%20],
		}
	}
	return entries
}

// BenchmarkClientPush measures entries per second through Handle, batching,
// encoding, compression and HTTP to a loopback server that discards them.
func BenchmarkClientPush(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	cfg := testConfig(b, srv.URL)
	cfg.BatchWait = time.Second
	m, err := NewManager(NewMetrics(prometheus.NewRegistry()), discardLogger(), []config.ClientConfig{cfg}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	entries := benchEntries()
	b.ReportAllocs()
	start := time.Now()
	i := 0
	for b.Loop() {
		m.Handle(entries[i%len(entries)])
		i++
	}
	m.Stop()
	b.ReportMetric(float64(i)/time.Since(start).Seconds(), "entries/s")
}

// BenchmarkEncode compares the hand-written encoder with the gogo generated
// marshaller on the same batches (1 MiB of lines each), per entry, including
// snappy compression.
func BenchmarkEncode(b *testing.B) {
	entries := benchEntries()
	const perBatch = 5000
	b.Run("hand", func(b *testing.B) {
		c := idleClient(b, Options{})
		c.cfg.BatchSize = 1 << 30
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			e := entries[n%len(entries)]
			c.add(&e)
			n++
			if n%perBatch == 0 {
				_, _ = c.encode(&c.tenants[""].batch)
			}
		}
	})
	b.Run("gogo", func(b *testing.B) {
		// Same grouping as the client (fingerprints, labels printed once per
		// stream), entries kept as push.Entry and marshalled at send time.
		streams := map[uint64]*push.Stream{}
		var order []*push.Stream
		var names []model.LabelName
		var labelsBuf, buf []byte
		req := &push.PushRequest{}
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			e := entries[n%len(entries)]
			fp := streamFingerprint(e.Labels, nil)
			s, ok := streams[fp]
			if !ok {
				labelsBuf, names = appendLabels(labelsBuf[:0], e.Labels, names)
				s = &push.Stream{Labels: string(labelsBuf)}
				streams[fp] = s
				order = append(order, s)
			}
			s.Entries = append(s.Entries, push.Entry{Timestamp: e.Timestamp, Line: e.Line, StructuredMetadata: e.StructuredMetadata})
			n++
			if n%perBatch == 0 {
				req.Streams = req.Streams[:0]
				for _, s := range order {
					req.Streams = append(req.Streams, *s)
				}
				size := req.Size()
				if cap(buf) < size {
					buf = make([]byte, size)
				}
				if _, err := req.MarshalToSizedBuffer(buf[:size]); err != nil {
					b.Fatal(err)
				}
				_ = snappy.Encode(nil, buf[:size])
				clear(streams)
				order = order[:0]
			}
		}
	})
}
