package lokipush

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/internal/api/apitest"
	"github.com/promtail-osquery/promtail-osquery/internal/config"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

const testJob = "push"

// collector records the entries a target hands on.
type collector = apitest.Collector

// testConfig is a push block listening on a free loopback port.
func testConfig() *config.PushConfig {
	srv := config.DefaultServerConfig()
	srv.HTTPListenAddress = "127.0.0.1"
	srv.HTTPListenPort = 0
	srv.GracefulShutdownTimeout = time.Second
	return &config.PushConfig{Server: srv, MaxSendMsgSize: config.DefaultPushMaxSendMsgSize}
}

type harness struct {
	target  *Target
	metrics *Metrics
	got     *collector
	url     string
}

func start(t testing.TB, cfg *config.PushConfig, rc []*relabel.Config) *harness {
	t.Helper()
	return startWith(t, cfg, rc, nil)
}

func startWith(t testing.TB, cfg *config.PushConfig, rc []*relabel.Config, h api.EntryHandler) *harness {
	t.Helper()
	got := &collector{}
	if h == nil {
		h = got
	}
	m := NewMetrics(prometheus.NewRegistry())
	target, err := New(slog.New(slog.DiscardHandler), m, testJob, cfg, rc, h)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(target.Stop)
	return &harness{target: target, metrics: m, got: got, url: "http://" + target.Addr().String()}
}

// post sends body and returns the status and response text.
func post(t testing.TB, url string, body []byte, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(text)
}

// protoBody is what a Loki client sends: a snappy block of a PushRequest.
func protoBody(t testing.TB, streams ...push.Stream) []byte {
	t.Helper()
	req := push.PushRequest{Streams: streams}
	msg, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, msg)
}

func snappyOf(b []byte) []byte { return snappy.Encode(nil, b) }

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func deflated(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.DefaultCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zlibbed(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func lines(entries []stages.Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Line
	}
	return out
}

func mustRelabel(t testing.TB, action relabel.Action, source, regex string) *relabel.Config {
	t.Helper()
	return &relabel.Config{
		SourceLabels:         model.LabelNames{model.LabelName(source)},
		Separator:            ";",
		Regex:                relabel.MustNewRegexp(regex),
		Replacement:          "$1",
		Action:               action,
		NameValidationScheme: model.UTF8Validation,
	}
}
