package stages

import (
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func TestMultilineStage(t *testing.T) {
	mkRunCases(t, []mkCase{
		{
			name: "blocks keep the start line's extracted values",
			pipeline: `
- multiline:
    firstline: '^\d'
- regex:
    expression: '^(?P<n>\d)'`,
			lines: []string{"orphan", "1 start", "  more", "2 next", "3 last", "  tail"},
			want: []mkWant{
				{line: "orphan", hasNot: []string{"n"}},
				{line: "1 start\n  more", has: map[string]any{"n": "1"}},
				{line: "2 next", has: map[string]any{"n": "2"}},
				{line: "3 last\n  tail", has: map[string]any{"n": "3"}},
			},
		},
		{
			name: "max_lines, weakly typed",
			pipeline: `
- multiline:
    firstline: '^BEGIN'
    max_lines: "2"`,
			lines: []string{"BEGIN a", "a1", "a2", "a3", "BEGIN b"},
			want:  []mkWant{{line: "BEGIN a\na1"}, {line: "a2\na3"}, {line: "BEGIN b"}},
		},
		{
			name: "max_lines 0 means no limit",
			pipeline: `
- multiline:
    firstline: '^B'
    max_lines: 0`,
			lines: []string{"B", "1", "2", "3"},
			want:  []mkWant{{line: "B\n1\n2\n3"}},
		},
	})
}

func TestMultilineStageStreamsAndTimeout(t *testing.T) {
	cfg := &MultilineConfig{FirstLine: mkStrPtr("^start"), MaxWaitTime: mkStrPtr("2s")}
	st, err := cfg.NewStage(Options{})
	if err != nil {
		t.Fatal(err)
	}
	ml := st.(*multilineStage)
	now := mkTime
	ml.now = func() time.Time { return now }

	var out []Entry
	collect := func(e *Entry) { out = append(out, e.Clone()) }
	feed := func(stream, line string) {
		e := &Entry{Labels: model.LabelSet{"s": model.LabelValue(stream)}, Timestamp: now, Extracted: map[string]any{}, Line: line}
		ml.Process(e, collect)
	}

	feed("a", "start a")
	feed("b", "start b")
	now = now.Add(time.Second)
	feed("a", "a more")
	now = now.Add(1500 * time.Millisecond)
	ml.Flush(now, false, collect)
	if len(out) != 1 || out[0].Line != "start b" || out[0].Labels["s"] != "b" {
		t.Fatalf("after b's wait, got %q", mkLines(out))
	}
	if !out[0].Timestamp.Equal(mkTime) {
		t.Errorf("block timestamp %v, want the start line's", out[0].Timestamp)
	}
	now = now.Add(time.Second)
	ml.Flush(now, false, collect)
	if len(out) != 2 || out[1].Line != "start a\na more" {
		t.Fatalf("after a's wait, got %q", mkLines(out))
	}
	ml.Flush(now.Add(time.Hour), true, collect)
	if len(out) != 2 {
		t.Fatalf("empty blocks must not be flushed, got %q", mkLines(out))
	}

	// Once a stream exists, lines that do not start a block join a new block
	// carrying the last start line's labels and timestamp.
	feed("a", "late")
	ml.Flush(now, true, collect)
	if len(out) != 3 || out[2].Line != "late" || !out[2].Timestamp.Equal(mkTime) {
		t.Fatalf("late line: got %q", mkLines(out))
	}
	if got, want := ml.FlushInterval(), 500*time.Millisecond; got != want {
		t.Errorf("FlushInterval = %v, want %v", got, want)
	}
}

func TestMultilineFlushIntervalFloor(t *testing.T) {
	cfg := &MultilineConfig{FirstLine: mkStrPtr("x"), MaxWaitTime: mkStrPtr("1ms")}
	st, err := cfg.NewStage(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := st.(Flusher).FlushInterval(); got != minMultilineFlushEvery {
		t.Errorf("FlushInterval = %v, want the floor %v", got, minMultilineFlushEvery)
	}
}

func TestMultilineStageConfigErrors(t *testing.T) {
	mkConfigErrors(t, map[string]string{
		"- multiline: {max_lines: 5}":                   "must define `firstline`",
		"- multiline:":                                  "must define `firstline`",
		"- multiline: {firstline: '['}":                 "first line regex compilation error",
		"- multiline: {firstline: x, max_wait_time: 3}": "`max_wait_time` parse error",
		"- multiline: {firstline: x, max_lines: many}":  "cannot parse 'max_lines' as uint",
	})
}

func mkStrPtr(s string) *string { return &s }
