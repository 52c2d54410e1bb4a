package stages

import (
	"strings"
	"testing"
	"time"
)

func mkTS(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestSplitCRILine(t *testing.T) {
	tests := []struct {
		line                       string
		ts, stream, flags, content string
		ok                         bool
	}{
		{"2024-01-01T00:00:00Z stdout F hello world", "2024-01-01T00:00:00Z", "stdout", "F", "hello world", true},
		{"t stderr P ", "t", "stderr", "P", "", true},
		{"t stdout F  two spaces", "t", "stdout", "F", " two spaces", true},
		{"t stdout F:x content\nnext", "t", "stdout", "F:x", "content\nnext", true},
		{"t stdout F", "", "", "", "", false},
		{"t stdlog F x", "", "", "", "", false},
		{" stdout F x", "", "", "", "", false},
		{"t\tstdout F x", "", "", "", "", false},
		{"t stdout  F x", "", "", "", "", false},
		{"t stdout F\tx", "", "", "", "", false},
		{"t", "", "", "", "", false},
		{"", "", "", "", "", false},
	}
	for _, tt := range tests {
		ts, stream, flags, content, ok := splitCRILine(tt.line)
		if ok != tt.ok || ts != tt.ts || stream != tt.stream || flags != tt.flags || content != tt.content {
			t.Errorf("splitCRILine(%q) = %q %q %q %q %v", tt.line, ts, stream, flags, content, ok)
		}
	}
}

func TestCRIStage(t *testing.T) {
	mkRunCases(t, []mkCase{
		{
			name:     "parse, label, timestamp, fudge",
			pipeline: "- cri: {}",
			lines: []string{
				"2024-05-10T14:22:01.5+02:00 stdout F one",
				"not-a-time stdout F two",
				"garbage",
				"2024-05-10T14:22:03Z stderr F three",
			},
			want: []mkWant{
				{line: "one", labels: `{stream="stdout"}`, ts: mkTS("2024-05-10T12:22:01.5Z"), has: map[string]any{"flags": "F", "time": "2024-05-10T14:22:01.5+02:00"}},
				{line: "two", labels: `{stream="stdout"}`, ts: mkTS("2024-05-10T12:22:01.500000001Z")},
				{line: "garbage"},
				{line: "three", labels: `{stream="stderr"}`, ts: mkTS("2024-05-10T14:22:03Z")},
			},
		},
		{
			name:     "partial lines joined per stream",
			pipeline: "- cri:",
			lines: []string{
				"2024-01-01T00:00:01Z stdout P out-1 ",
				"2024-01-01T00:00:02Z stderr P err-1 ",
				"2024-01-01T00:00:03Z stdout P out-2 ",
				"2024-01-01T00:00:04Z stderr F err-2",
				"2024-01-01T00:00:05Z stdout F out-3",
			},
			want: []mkWant{
				{line: "err-1 err-2", labels: `{stream="stderr"}`, ts: mkTS("2024-01-01T00:00:04Z")},
				{line: "out-1 out-2 out-3", labels: `{stream="stdout"}`, ts: mkTS("2024-01-01T00:00:05Z")},
			},
		},
		{
			name: "max_partial_lines emits what is held",
			pipeline: `
- cri:
    max_partial_lines: "1"`,
			lines: []string{
				"2024-01-01T00:00:01Z stdout P a ",
				"2024-01-01T00:00:02Z stdout P b ",
				"2024-01-01T00:00:03Z stdout F c",
			},
			want: []mkWant{
				{line: "a ", labels: `{stream="stdout"}`, ts: mkTS("2024-01-01T00:00:01Z")},
				{line: "b c", labels: `{stream="stdout"}`, ts: mkTS("2024-01-01T00:00:03Z")},
			},
		},
		{
			name: "truncation of joined lines",
			pipeline: `
- cri:
    max_partial_line_size: 4
    max_partial_line_size_truncate: true`,
			lines: []string{
				"2024-01-01T00:00:01Z stdout P abc",
				"2024-01-01T00:00:02Z stdout P def",
				"2024-01-01T00:00:03Z stdout F ghi",
				"2024-01-01T00:00:04Z stdout F full line is not cut",
			},
			want: []mkWant{
				{line: "abcd", labels: `{stream="stdout"}`, ts: mkTS("2024-01-01T00:00:03Z")},
				{line: "full line is not cut", labels: `{stream="stdout"}`, ts: mkTS("2024-01-01T00:00:04Z")},
			},
		},
		{
			name: "truncation without a size keeps lines",
			pipeline: `
- cri:
    max_partial_line_size_truncate: true`,
			lines: []string{"2024-01-01T00:00:01Z stdout P ab", "2024-01-01T00:00:02Z stdout F cd"},
			want:  []mkWant{{line: "abcd", labels: `{stream="stdout"}`, ts: mkTS("2024-01-01T00:00:02Z")}},
		},
		{
			name: "labels become extracted values, like in Promtail's nested pipeline",
			pipeline: `
- static_labels:
    env: prod
- cri: {}
- pack:
    labels: [env]
    ingest_timestamp: false`,
			lines: []string{"2024-01-01T00:00:01Z stdout F msg"},
			want:  []mkWant{{line: `{"env":"prod","_entry":"msg"}`, labels: `{stream="stdout"}`, ts: mkTS("2024-01-01T00:00:01Z")}},
		},
		{
			name: "an extracted tags value replaces the line",
			pipeline: `
- json:
    expressions: {tags: }
- cri: {}`,
			lines: []string{`{"tags":"tagged"}`},
			want:  []mkWant{{line: "tagged"}},
		},
	})
}

func TestCRIByteSizes(t *testing.T) {
	tests := []struct {
		body string
		want int
		err  string
	}{
		{body: "max_partial_line_size: 10", want: 10},
		{body: "max_partial_line_size: '10'", want: 10},
		{body: "max_partial_line_size: 2KB", want: 2048},
		{body: "max_partial_line_size: 1.5", want: 1},
		{body: "max_partial_line_size: ", want: 0},
		{body: "max_partial_line_size: -1", err: "negative"},
		{body: "max_partial_line_size: -1.5", err: "negative"},
		{body: "max_partial_line_size: 10 apples", err: "invalid byte size"},
		{body: "max_partial_line_size: [1]", err: "expected a number or a string"},
		{body: "max_partial_line_size: 18446744073709551615", want: -1},
	}
	for _, tt := range tests {
		p, err := mkPipelineErr("- cri:\n    max_partial_line_size_truncate: true\n    " + tt.body)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.body, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.body, err)
			continue
		}
		got := p.stages[0].(*criStage).truncateAt
		if tt.want >= 0 && got != tt.want {
			t.Errorf("%q: truncateAt = %d, want %d", tt.body, got, tt.want)
		}
		if tt.want < 0 && got <= 0 {
			t.Errorf("%q: huge size must stay a positive limit, got %d", tt.body, got)
		}
	}
}

func TestCRIStageConfigErrors(t *testing.T) {
	mkConfigErrors(t, map[string]string{
		"- cri: {max_partial_lines: many}":               "cannot parse 'max_partial_lines' as int",
		"- cri: {max_partial_line_size_truncate: maybe}": "cannot parse 'max_partial_line_size_truncate' as bool",
		"- cri: [1]": "expected a map",
	})
}
