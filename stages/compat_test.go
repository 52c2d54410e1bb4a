package stages

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v2"
)

// compatStagesDir holds the stage cases recorded from Promtail 3.6 (see its
// README). CI clones the repository with shared/ beside it.
const compatStagesDir = "../../shared/compat/stages"

// knownDeviations lists compat cases where this project deliberately differs
// from Promtail, with the reason. Such a case must still differ: when it starts
// to match, the entry is stale and the test says so.
var knownDeviations = map[string]string{}

// compatExpected is one line of expected.jsonl.
type compatExpected struct {
	TS         *string           `json:"ts"`
	Labels     map[string]string `json:"labels"`
	Line       string            `json:"line"`
	LineBase64 *string           `json:"line_base64"`
}

func TestCompatStages(t *testing.T) {
	dirs, err := os.ReadDir(compatStagesDir)
	if err != nil {
		t.Fatalf("the Promtail compat corpus must be beside the repository (shared/compat): %v", err)
	}
	ran := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		ran++
		name := d.Name()
		dir := filepath.Join(compatStagesDir, name)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mismatch := runCompatCase(dir)
			reason, known := knownDeviations[name]
			switch {
			case known && mismatch == "":
				t.Errorf("case now matches Promtail; remove it from knownDeviations (%s)", reason)
			case known:
				t.Logf("known deviation (%s):\n%s", reason, mismatch)
			case mismatch != "":
				t.Error(mismatch)
			}
		})
	}
	if ran == 0 {
		t.Fatalf("no cases in %s", compatStagesDir)
	}
}

// runCompatCase runs one case and describes how the result differs from
// Promtail's; "" when it does not.
func runCompatCase(dir string) (mismatch string) {
	defer func() {
		if r := recover(); r != nil {
			mismatch = fmt.Sprintf("panic: %v", r)
		}
	}()
	pipelineYAML, err := os.ReadFile(filepath.Join(dir, "pipeline.yaml"))
	if err != nil {
		return err.Error()
	}
	var items []any
	if err := yaml.Unmarshal(pipelineYAML, &items); err != nil {
		return fmt.Sprintf("pipeline.yaml does not decode: %v", err)
	}
	p, buildErr := NewPipeline(items, Options{Registerer: prometheus.NewRegistry(), JobName: "compat"})

	if wantErr, err := os.ReadFile(filepath.Join(dir, "error.txt")); err == nil {
		if buildErr == nil {
			return fmt.Sprintf("Promtail refuses this pipeline but it was accepted; Promtail said:\n%s", wantErr)
		}
		return ""
	}
	if buildErr != nil {
		return fmt.Sprintf("pipeline refused: %v", buildErr)
	}

	input, err := os.ReadFile(filepath.Join(dir, "input.log"))
	if err != nil {
		return err.Error()
	}
	var got []Entry
	collect := func(e *Entry) { got = append(got, e.Clone()) }
	for _, line := range stdinLines(input) {
		e := &Entry{Labels: model.LabelSet{}, Timestamp: time.Now(), Line: line}
		p.Process(e, collect)
	}
	p.Flush(time.Now(), true, collect)

	want, err := readCompatExpected(filepath.Join(dir, "expected.jsonl"))
	if err != nil {
		return err.Error()
	}
	return compareCompat(got, want)
}

// stdinLines splits input as Promtail's stdin target does: at \n, every
// trailing \r and \n removed, empty lines skipped.
func stdinLines(input []byte) []string {
	var lines []string
	for len(input) > 0 {
		raw, rest, _ := bytes.Cut(input, []byte("\n"))
		input = rest
		if line := bytes.TrimRight(raw, "\r\n"); len(line) > 0 {
			lines = append(lines, string(line))
		}
	}
	return lines
}

func readCompatExpected(path string) ([]compatExpected, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []compatExpected
	r := bufio.NewReader(f)
	for {
		raw, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(raw)) > 0 {
			var e compatExpected
			if err := json.Unmarshal(raw, &e); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			out = append(out, e)
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// compareCompat applies the README's comparison rules: same count and order,
// labels as sets, lines byte for byte, timestamps to the nanosecond unless the
// expected one is null.
func compareCompat(got []Entry, want []compatExpected) string {
	var diffs []string
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			diffs = append(diffs, fmt.Sprintf("entry %d missing; want %s", i, showExpected(want[i])))
			continue
		case i >= len(want):
			diffs = append(diffs, fmt.Sprintf("entry %d unexpected: %s", i, showEntry(got[i])))
			continue
		}
		g, w := got[i], want[i]
		wantLine := []byte(w.Line)
		if w.LineBase64 != nil {
			b, err := base64.StdEncoding.DecodeString(*w.LineBase64)
			if err != nil {
				return fmt.Sprintf("entry %d: bad line_base64: %v", i, err)
			}
			wantLine = b
		}
		var problems []string
		if g.Line != string(wantLine) {
			problems = append(problems, fmt.Sprintf("line %q, want %q", g.Line, wantLine))
		}
		gotLabels := make(map[string]string, len(g.Labels))
		for k, v := range g.Labels {
			gotLabels[string(k)] = string(v)
		}
		if !maps.Equal(gotLabels, w.Labels) && !(len(gotLabels) == 0 && len(w.Labels) == 0) {
			problems = append(problems, fmt.Sprintf("labels %v, want %v", sortedLabels(gotLabels), sortedLabels(w.Labels)))
		}
		if w.TS != nil {
			wantTS, err := time.Parse(time.RFC3339Nano, *w.TS)
			if err != nil {
				return fmt.Sprintf("entry %d: bad expected ts %q: %v", i, *w.TS, err)
			}
			if !g.Timestamp.Equal(wantTS) {
				problems = append(problems, fmt.Sprintf("ts %s, want %s", g.Timestamp.UTC().Format(time.RFC3339Nano), *w.TS))
			}
		}
		if len(problems) > 0 {
			diffs = append(diffs, fmt.Sprintf("entry %d: %s", i, strings.Join(problems, "; ")))
		}
	}
	if len(diffs) == 0 {
		return ""
	}
	return fmt.Sprintf("got %d entries, want %d:\n  %s", len(got), len(want), strings.Join(diffs, "\n  "))
}

func sortedLabels(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, m[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func showEntry(e Entry) string {
	labels := make(map[string]string, len(e.Labels))
	for k, v := range e.Labels {
		labels[string(k)] = string(v)
	}
	return fmt.Sprintf("ts=%s labels=%s line=%q", e.Timestamp.UTC().Format(time.RFC3339Nano), sortedLabels(labels), e.Line)
}

func showExpected(w compatExpected) string {
	ts := "null"
	if w.TS != nil {
		ts = *w.TS
	}
	return fmt.Sprintf("ts=%s labels=%s line=%q", ts, sortedLabels(w.Labels), w.Line)
}

func TestStdinLines(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a\nb\n", []string{"a", "b"}},
		{"a\r\n\r\n\nb", []string{"a", "b"}},
		{"x\r\r\n   \n", []string{"x", "   "}},
		{"mid\rline\r\n", []string{"mid\rline"}},
	}
	for _, tt := range tests {
		if got := stdinLines([]byte(tt.in)); !slices.Equal(got, tt.want) {
			t.Errorf("stdinLines(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
