package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
)

const compatStagesDir = "../../../shared/compat/stages"

type stageExpectation struct {
	TS         *string           `json:"ts"`
	Labels     map[string]string `json:"labels"`
	Line       string            `json:"line"`
	LineBase64 *string           `json:"line_base64"`
}

// printedEntry is one line of -dry-run output: timestamp, labels, line.
var printedEntry = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?[+-]\d{4})\t(\{.*?\})\t(.*)$`)

// TestCompatStagesThroughTheBinary runs every recorded pipeline case the way it
// was recorded — the binary with -stdin -dry-run, the input on standard input —
// and compares what it prints with what Promtail printed. stages/compat_test.go
// checks the same cases against the pipeline alone, with finer diagnostics.
func TestCompatStagesThroughTheBinary(t *testing.T) {
	cases, err := os.ReadDir(compatStagesDir)
	if err != nil {
		t.Fatalf("the compatibility corpus must be beside the repo: %v", err)
	}
	metricParser := parser.NewParser(parser.Options{})
	for _, c := range cases {
		if !c.IsDir() {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			t.Parallel()
			src := filepath.Join(compatStagesDir, c.Name())
			pipeline, err := os.ReadFile(filepath.Join(src, "pipeline.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			input, err := os.ReadFile(filepath.Join(src, "input.log"))
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			indented := "    " + strings.ReplaceAll(strings.TrimRight(string(pipeline), "\n"), "\n", "\n    ")
			writeConfig(t, dir, fmt.Sprintf(`server: {disable: true}
positions: {filename: positions.yaml}
clients: [{url: "http://127.0.0.1:1/loki/api/v1/push"}]
scrape_configs:
- job_name: compat
  pipeline_stages:
%s
`, indented))
			var stdout strings.Builder
			out, code := runInSplit(t, dir, []string{"TZ=UTC"}, 60*time.Second, string(input), &stdout, "-stdin", "-dry-run", "-config.file=promtail.yaml", "-log.level=error")

			if _, err := os.Stat(filepath.Join(src, "error.txt")); err == nil {
				if code <= 0 {
					t.Fatalf("Promtail refused this pipeline; we exited %d:\n%s", code, out)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			want := readExpectations(t, filepath.Join(src, "expected.jsonl"))
			got := splitPrinted(stdout.String())
			if len(got) != len(want) {
				t.Fatalf("printed %d entries, Promtail %d:\n%s", len(got), len(want), stdout.String())
			}
			for i, w := range want {
				m := got[i]
				wantLine := w.Line
				if w.LineBase64 != nil {
					raw, err := base64.StdEncoding.DecodeString(*w.LineBase64)
					if err != nil {
						t.Fatal(err)
					}
					wantLine = string(raw)
				}
				if m[3] != wantLine {
					t.Errorf("entry %d: line %q, want %q", i, m[3], wantLine)
				}
				labels, err := metricParser.ParseMetric(m[2])
				if err != nil {
					t.Fatalf("entry %d: labels %s: %v", i, m[2], err)
				}
				if gotLabels := labels.Map(); !equalLabels(gotLabels, w.Labels) {
					t.Errorf("entry %d: labels %v, want %v", i, gotLabels, w.Labels)
				}
				if w.TS != nil {
					ts, err := time.Parse("2006-01-02T15:04:05.999999999-0700", m[1])
					if err != nil {
						t.Fatal(err)
					}
					wantTS, err := time.Parse(time.RFC3339Nano, *w.TS)
					if err != nil {
						t.Fatal(err)
					}
					if !ts.Equal(wantTS) {
						t.Errorf("entry %d: timestamp %s, want %s", i, ts.UTC().Format(time.RFC3339Nano), *w.TS)
					}
				}
			}
		})
	}
}

// splitPrinted cuts -dry-run output into entries, each [whole, timestamp,
// labels, line]. A line may hold newlines (multiline blocks, docker lines), so
// an entry runs until the next text that starts like an entry.
func splitPrinted(out string) [][]string {
	var entries [][]string
	for _, seg := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if m := printedEntry.FindStringSubmatch(seg); m != nil {
			entries = append(entries, m)
			continue
		}
		if n := len(entries); n > 0 {
			entries[n-1][3] += "\n" + seg
		}
	}
	return entries
}

func readExpectations(t *testing.T, path string) []stageExpectation {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []stageExpectation
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var e stageExpectation
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, e)
	}
	return out
}

func equalLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}
