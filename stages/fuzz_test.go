package stages

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v2"
)

// fuzzLines exercise the stages once a fuzzed pipeline builds.
var fuzzLines = []string{
	`{"log":"x\n","stream":"stdout","time":"2024-01-01T00:00:00Z","level":"info","n":1.5,"o":{"k":[1,null]}}`,
	"2024-01-01T00:00:00Z stdout P part ",
	"2024-01-01T00:00:01Z stdout F end",
	"level=warn msg=\"hello world\" ts=2024-01-01T00:00:00Z",
	"\x1b[31mred\x1b[0m \xff\xfe invalid utf8",
	"",
	"   ",
}

// FuzzNewPipeline builds pipelines from arbitrary YAML and runs a few lines
// through those that build: nothing may panic. Seeds are the committed corpus
// in testdata/fuzz/FuzzNewPipeline and, when present, every compat pipeline.
func FuzzNewPipeline(f *testing.F) {
	if dirs, err := os.ReadDir(compatStagesDir); err == nil {
		for _, d := range dirs {
			if b, err := os.ReadFile(filepath.Join(compatStagesDir, d.Name(), "pipeline.yaml")); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// geoip opens the file it names (a fuzzed /dev/stdin would block) and
		// a non-dropping limit stage waits for tokens; both are left out.
		if bytes.Contains(data, []byte("geoip")) || bytes.Contains(data, []byte("limit")) {
			return
		}
		var items []any
		if err := yaml.Unmarshal(data, &items); err != nil {
			return
		}
		p, err := NewPipeline(items, Options{Registerer: prometheus.NewRegistry(), JobName: "fuzz"})
		if err != nil {
			return
		}
		now := time.Unix(1700000000, 0)
		discard := func(*Entry) {}
		for _, l := range fuzzLines {
			p.Process(&Entry{Labels: model.LabelSet{"job": "fuzz"}, Timestamp: now, Line: l}, discard)
		}
		p.Flush(now.Add(time.Hour), false, discard)
		p.Flush(now.Add(time.Hour), true, discard)
	})
}
