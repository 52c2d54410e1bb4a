package client

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/s2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/internal/cputime"
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

// osqueryEntries are 2000 osquery result lines of about 580 bytes that
// compress about as well as real ones (to ~22% with snappy), spread over
// streams streams.
func osqueryEntries(streams int) []stages.Entry {
	return osqueryEntriesLabelled(streams, false)
}

// osqueryEntriesLabelled are osqueryEntries, with the labels the osquery
// stage gives them by default when labelled (query name, host, action and
// decorations: 250 streams of 7 labels).
func osqueryEntriesLabelled(streams int, labelled bool) []stages.Entry {
	rng := rand.New(rand.NewPCG(1, 2))
	queries := []string{"pack_incident-response_last", "processes", "pack_incident-response_listening_ports", "authorized_keys", "pack_incident-response_logged_in_users"}
	users := []string{"root", "jdoe", "mlopez", "postgres", "deploy", "www-data"}
	words := []string{"/usr/bin/python3", "-m", "gunicorn", "--workers", "app:server", "/opt/app/venv/bin/celery", "worker", "--loglevel=info", "-c", "/etc/app/conf.d/prod.yaml", "--bind", "0.0.0.0:8080", "sshd:", "[priv]", "-D"}
	entries := make([]stages.Entry, 2000)
	for i := range entries {
		host := rng.IntN(50)
		user := users[rng.IntN(len(users))]
		var cmd strings.Builder
		for n := 3 + rng.IntN(12); n > 0; n-- {
			cmd.WriteString(words[rng.IntN(len(words))])
			cmd.WriteByte(' ')
		}
		line := fmt.Sprintf(`{"name":%q,"hostIdentifier":"host-%02d.us-east-1.corp.example.com","calendarTime":"Sun Nov  1 00:%02d:%02d 2026 UTC","unixTime":%d,"epoch":0,"counter":%d,"numerics":false,"decorations":{"host_uuid":"%08X-%04X-%04X-%04X-%012X","hostname":"host-%02d","username":%q},"columns":{"cmdline":%q,"cwd":"/home/%s","name":"python3","pid":"%d","root":"/","time":"%d","tty":"pts/%d","uid":"%d","user":%q},"action":"added"}`,
			queries[rng.IntN(len(queries))], host, i/600, i/10%60, 1793491200+i/10, rng.IntN(5000),
			rng.Uint32(), rng.IntN(1<<16), rng.IntN(1<<16), rng.IntN(1<<16), rng.Int64N(1<<48), host, user,
			strings.TrimSpace(cmd.String()), user, rng.IntN(1<<22), 1793491100+rng.IntN(100), rng.IntN(8), rng.IntN(2000), user)
		entries[i] = stages.Entry{
			Labels: model.LabelSet{
				"job":      "osquery_results",
				"filename": model.LabelValue(fmt.Sprintf("/var/log/osquery/osqueryd.results.%d.log", i%streams)),
			},
			Timestamp: time.Unix(1793491200+int64(i/10), int64(i)*1000),
			Line:      line,
		}
		if labelled {
			entries[i].Labels["name"] = model.LabelValue(queries[i%len(queries)])
			entries[i].Labels["host"] = model.LabelValue(fmt.Sprintf("host-%02d.us-east-1.corp.example.com", host))
			entries[i].Labels["action"] = "added"
			entries[i].Labels["host_uuid"] = model.LabelValue(fmt.Sprintf("%08X-0000-4000-8000-%012X", host, host))
			entries[i].Labels["hostname"] = model.LabelValue(fmt.Sprintf("host-%02d", host))
		}
	}
	return entries
}

// benchPush measures entries through Handle, batching, encoding,
// compression and HTTP to a loopback server that discards them. cpu-ns/op is
// the process's CPU time per entry, the server's share included; on a shared
// machine it swings less than wall time.
func benchPush(b *testing.B, entries []stages.Entry, opts Options) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		requests.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	cfg := testConfig(b, srv.URL)
	cfg.BatchWait = time.Second
	cfg.BatchSize = 1 << 20
	m, err := NewManager(NewMetrics(prometheus.NewRegistry()), discardLogger(), []config.ClientConfig{cfg}, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	start := time.Now()
	cpu0 := int64(cputime.Process())
	i := 0
	for b.Loop() {
		m.Handle(entries[i%len(entries)])
		i++
	}
	m.Stop()
	b.ReportMetric(float64(int64(cputime.Process())-cpu0)/float64(i), "cpu-ns/op")
	b.ReportMetric(float64(i)/time.Since(start).Seconds(), "entries/s")
}

func BenchmarkClientPush(b *testing.B) {
	benchPush(b, benchEntries(), Options{})
}

// BenchmarkClientPushOsquery is the agent's main case: osquery results,
// one stream, batchsize 1 MiB.
func BenchmarkClientPushOsquery(b *testing.B) {
	benchPush(b, osqueryEntries(1), Options{})
}

// BenchmarkClientPushOsqueryLabelled is the same with the osquery stage's
// labels: many streams of several labels each.
func BenchmarkClientPushOsqueryLabelled(b *testing.B) {
	benchPush(b, osqueryEntriesLabelled(1, true), Options{})
}

// BenchmarkBatch is one 1 MiB batch per op: adding its entries, then
// encoding and compressing it, without HTTP. Its allocations per op are those
// of a whole batch.
func BenchmarkBatch(b *testing.B) {
	for _, bc := range []struct {
		name    string
		entries []stages.Entry
	}{
		{"osquery-1-stream", osqueryEntries(1)},
		{"osquery-500-streams", osqueryEntries(500)},
		{"short-20-streams", benchEntries()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := idleClient(b, Options{})
			c.cfg.BatchSize = 1 << 20
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				t := c.tenantOf(nil)
				for size := 0; ; n++ {
					e := bc.entries[n%len(bc.entries)]
					if size+len(e.Line) > c.cfg.BatchSize {
						break
					}
					size += len(e.Line)
					c.add(&e)
				}
				sendBatch(c, t)
			}
		})
	}
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
				sendBatch(c, c.tenants[""])
			}
		}
	})
	b.Run("gogo", func(b *testing.B) {
		// Same grouping as the client (fingerprints, labels printed once per
		// stream), entries kept as push.Entry and marshalled at send time.
		streams := map[uint64]*push.Stream{}
		var order []*push.Stream
		var names []model.LabelName
		var pairs []labelPair
		var labelsBuf, buf []byte
		req := &push.PushRequest{}
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			e := entries[n%len(entries)]
			pairs = streamPairs(pairs[:0], e.Labels, nil)
			fp := fingerprint(pairs)
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

// sendBatch encodes and compresses t's batch as send does, without pushing.
func sendBatch(c *client, t *tenant) {
	body := c.encode(&t.batch)
	c.encodedBytes.Add(float64(len(body.data)))
	body.release()
}

// BenchmarkSnappyEncoders compares the encoder the client uses with
// golang/snappy's on 1 MiB of osquery lines, 64 KiB at a time as the
// compressor feeds it.
func BenchmarkSnappyEncoders(b *testing.B) {
	var input []byte
	for _, e := range osqueryEntries(1) {
		input = append(input, e.Line...)
		if len(input) >= 1<<20 {
			break
		}
	}
	encoders := []struct {
		name   string
		encode func(dst, src []byte) []byte
	}{
		{"s2", s2.EncodeSnappy},
		{"golang-snappy", snappy.Encode},
	}
	for _, enc := range encoders {
		b.Run(enc.name, func(b *testing.B) {
			dst := make([]byte, s2.MaxEncodedLen(snappyBlockSize))
			b.SetBytes(int64(len(input)))
			var out int
			for b.Loop() {
				out = 0
				for p := input; len(p) > 0; {
					n := min(snappyBlockSize, len(p))
					out += len(enc.encode(dst, p[:n]))
					p = p[n:]
				}
			}
			b.ReportMetric(float64(out)/float64(len(input)), "ratio")
		})
	}
}
