package lokipush

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

// BenchmarkPushProtobuf measures the push endpoint end to end over loopback
// HTTP: requests as Promtail batches them (snappy protobuf, 10 streams of
// 100 entries of ~120-byte lines), decoded, relabeled and handed to a
// pipeline that only counts. It reports entries per second.
func BenchmarkPushProtobuf(b *testing.B) {
	const streams, perStream = 10, 100
	req := make([]push.Stream, streams)
	for s := range req {
		entries := make([]push.Entry, perStream)
		for i := range entries {
			entries[i] = push.Entry{
				Timestamp: time.Unix(1715350921, int64(i)),
				Line:      fmt.Sprintf("level=info ts=2024-05-10T14:22:01Z caller=server.go:%d msg=\"request served\" status=200 bytes=%d", i, i*37) + strings.Repeat(" ", 20),
			}
		}
		req[s] = push.Stream{Labels: fmt.Sprintf(`{app="bench", instance="host-%d", env="prod"}`, s), Entries: entries}
	}
	body := protoBody(b, req...)

	var handed atomic.Int64
	counter := api.EntryHandlerFunc(func(stages.Entry) { handed.Add(1) })
	cfg := testConfig()
	cfg.UseIncomingTimestamp = true
	h := startWith(b, cfg, nil, counter)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	b.Cleanup(client.CloseIdleConnections)
	url := h.url + PushPath

	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	requests := 0
	for b.Loop() {
		resp, err := client.Post(url, "application/x-protobuf", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			b.Fatalf("status %d", resp.StatusCode)
		}
		requests++
	}
	if got := handed.Load(); got != int64(requests*streams*perStream) {
		b.Fatalf("%d entries handed, want %d", got, requests*streams*perStream)
	}
	b.ReportMetric(float64(requests*streams*perStream)/b.Elapsed().Seconds(), "entries/s")
}
