package osquery

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v2"

	"github.com/promtail-osquery/promtail-osquery/internal/cputime"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

// benchEvents are 400 event-format lines from the shared generator
// (gen-osquery -n 400 -seed 7: 50 hosts, five queries, 567 bytes a line on
// average), cycled through so that values change as in a real log.
func benchEvents(b *testing.B) []string {
	b.Helper()
	data, err := os.ReadFile("testdata/bench-events.log")
	if err != nil {
		b.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func benchSnapshot(rows int) string {
	var b strings.Builder
	b.WriteString(`{"snapshot":[`)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"address":"0.0.0.0","family":"2","fd":"%d","net_namespace":"4026531840","path":"/usr/sbin/daemon%d","pid":"%d","port":"%d","protocol":"6","socket":"%d"}`, 3+i, i, 800+i, 2000+i, 21034+i)
	}
	b.WriteString(`],"action":"snapshot","name":"pack_incident-response_listening_ports","hostIdentifier":"bastion-prod-07.eu-west-1.corp.example.com","calendarTime":"Sun Nov  1 00:00:00 2026 UTC","unixTime":1793491200,"epoch":0,"counter":0,"numerics":false,"decorations":{"host_uuid":"C62B2887-B52A-3767-C3EB-9A43981468BF","hostname":"bastion-prod-07","username":"deploy"}}`)
	return b.String()
}

const benchBatch = `{"diffResults":{"removed":[{"cmdline":"/usr/sbin/sshd -D","name":"sshd","path":"/usr/sbin/sshd","pid":"812"},{"cmdline":"sshd: alice@pts/0","name":"sshd","path":"/usr/sbin/sshd","pid":"9001"}],"added":[{"cmdline":"/usr/sbin/sshd -D","name":"sshd","path":"/usr/sbin/sshd","pid":"813"},{"cmdline":"sshd: bob@pts/1","name":"sshd","path":"/usr/sbin/sshd","pid":"9002"},{"cmdline":"-bash","name":"bash","path":"/bin/bash","pid":"9003"}]},"name":"processes","hostIdentifier":"bastion-prod-07.eu-west-1.corp.example.com","calendarTime":"Sun Nov  1 00:00:00 2026 UTC","unixTime":1793491200,"epoch":0,"counter":17,"numerics":false,"decorations":{"host_uuid":"C62B2887-B52A-3767-C3EB-9A43981468BF","hostname":"bastion-prod-07","username":"deploy"}}`

// benchStage runs line through a stage built from cfg the way a pipeline
// feeds it: every line a fresh entry whose labels (job, filename) the
// pipeline has cloned and copied into a fresh extracted map.
func benchStage(b *testing.B, cfg *Config, lines ...string) {
	b.Helper()
	st, err := cfg.NewStage(stages.Options{})
	if err != nil {
		b.Fatal(err)
	}
	benchStageFunc(b, st, lines)
}

func benchStageFunc(b *testing.B, st stages.Stage, lines []string) {
	target := model.LabelSet{"job": "osquery", "filename": "/var/log/osquery/osqueryd.results.log"}
	read := time.Unix(1793491201, 0)
	n := 0
	next := func(*stages.Entry) { n++ }
	size := 0
	for _, l := range lines {
		size += len(l)
	}
	b.SetBytes(int64(size / len(lines)))
	b.ReportAllocs()
	cpu0 := int64(cputime.Process())
	i := 0
	for b.Loop() {
		e := stages.Entry{Labels: target.Clone(), Extracted: make(map[string]any, len(target)+8), Timestamp: read, Line: lines[i%len(lines)]}
		i++
		for k, v := range e.Labels {
			e.Extracted[string(k)] = string(v)
		}
		st.Process(&e, next)
	}
	b.ReportMetric(float64(int64(cputime.Process())-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(n)/float64(b.N), "entries/op")
}

// BenchmarkEntrySetup is the cost of the fresh entry each benchmark op
// builds, to subtract from the others.
func BenchmarkEntrySetup(b *testing.B) {
	benchStageFunc(b, passStage{}, benchEvents(b))
}

type passStage struct{}

func (passStage) Process(e *stages.Entry, next func(*stages.Entry)) { next(e) }

func BenchmarkEventLine(b *testing.B) { benchStage(b, DefaultConfig(), benchEvents(b)...) }

func BenchmarkEventLineNoExtract(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Extract = Selection{Mode: SelectNone}
	benchStage(b, cfg, benchEvents(b)...)
}

func BenchmarkSnapshot50(b *testing.B) { benchStage(b, DefaultConfig(), benchSnapshot(50)) }

func BenchmarkBatch(b *testing.B) { benchStage(b, DefaultConfig(), benchBatch) }

// The same 400 lines through whole pipelines, as the agent runs them (its
// clients read no extracted values and only read labels): the osquery stage
// with its defaults,
// with its extracted values read by a later stage, and the json + timestamp +
// labels pipeline a Promtail user writes for the same labels.
func benchPipeline(b *testing.B, pipelineYAML string) {
	lines := benchEvents(b)
	var items []any
	if err := yaml.Unmarshal([]byte(pipelineYAML), &items); err != nil {
		b.Fatal(err)
	}
	p, err := stages.NewPipeline(items, stages.Options{ExtractedUnread: true, LabelsShared: true})
	if err != nil {
		b.Fatal(err)
	}
	target := model.LabelSet{"job": "osquery", "filename": "/var/log/osquery/osqueryd.results.log"}
	read := time.Unix(1793491201, 0)
	discard := func(*stages.Entry) {}
	b.ReportAllocs()
	cpu0 := int64(cputime.Process())
	i := 0
	for b.Loop() {
		e := stages.Entry{Labels: target, Timestamp: read, Line: lines[i%len(lines)]}
		i++
		p.Process(&e, discard)
	}
	b.ReportMetric(float64(int64(cputime.Process())-cpu0)/float64(b.N), "cpu-ns/op")
}

func BenchmarkPipelineOsquery(b *testing.B) { benchPipeline(b, "- osquery: {}") }

func BenchmarkPipelineOsqueryExtractAll(b *testing.B) {
	benchPipeline(b, "- osquery: {extract: all}\n- static_labels: {}")
}

func BenchmarkPipelinePromtailStages(b *testing.B) { benchPipeline(b, promtailPipeline) }
