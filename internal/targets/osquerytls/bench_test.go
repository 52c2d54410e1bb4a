package osquerytls

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/internal/cputime"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

// BenchmarkLogEndpoint posts gzip batches of 1,024 result records (the
// sample logs, cycled) over HTTPS on loopback, one request at a time as one
// osqueryd sends them, and reports records per second of wall time and per
// CPU-second of the whole process (the client's TLS and gzip work
// included, so the agent's own cost is lower).
//
//	go test -run XXX -bench LogEndpoint -benchtime 200x ./internal/targets/osquerytls/
//
// "discard": the endpoint alone (decompress, decode, one entry per record,
// answer once acknowledged). "osquery_stage": through a job pipeline with
// `- osquery: {}`, as the agent runs it.
func BenchmarkLogEndpoint(b *testing.B) {
	var sample []string
	for _, f := range []string{"../../../configs/sample/osqueryd.results.log", "../../../configs/sample/osqueryd.snapshots.log"} {
		sample = append(sample, readLines(b, f)...)
	}
	records := make([]string, 1024)
	for i := range records {
		records[i] = sample[i%len(sample)]
	}
	b.Run("discard", func(b *testing.B) {
		benchLogEndpoint(b, records, func(e *testEnv) {
			e.handler = discard{}
		})
	})
	b.Run("osquery_stage", func(b *testing.B) {
		benchLogEndpoint(b, records, func(e *testEnv) {
			e.handler = osqueryPipeline(b, discard{})
		})
	})
}

type discard struct{}

func (discard) Handle(stages.Entry) {}

func benchLogEndpoint(b *testing.B, records []string, setup func(*testEnv)) {
	e := newEnv(b)
	e.cfg.Labels = model.LabelSet{"job": "osquery"}
	setup(e)
	e.start()
	o := e.osqueryd("bench")
	if a := o.enroll(); a.failed {
		b.Fatal(a.raw)
	}
	body := gzipBytes(b, o.logBody("result", records))
	url := e.baseURL() + "/log"
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), int64(cputime.Process())
	for b.Loop() {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Content-Encoding", "gzip")
		resp, err := o.client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	elapsed, cpu := time.Since(start), int64(cputime.Process())-cpu0
	total := float64(b.N * len(records))
	b.ReportMetric(total/elapsed.Seconds(), "records/s")
	if cpu > 0 {
		b.ReportMetric(total/(float64(cpu)/1e9), "records/cpu-s")
	}
}
