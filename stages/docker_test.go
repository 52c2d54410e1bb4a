package stages

import "testing"

func TestDockerStage(t *testing.T) {
	mkRunCases(t, []mkCase{
		{
			name:     "json-file lines",
			pipeline: "- docker: {}",
			lines: []string{
				`{"log":"hello\n","stream":"stdout","time":"2024-03-05T12:15:32.5+02:00"}`,
				`{"log":"no time","stream":"stdout"}`,
				`{"log":{"nested":true},"stream":"stderr","time":"2024-03-05T10:00:00Z"}`,
				`plain text`,
				`{"stream":"stderr","time":"bad time"}`,
				`{"log":"x","stream":"\ud800x","time":"2024-03-05T10:00:05Z"}`,
				`{"log":"y","stream":7,"time":"2024-03-05T10:00:06Z"}`,
			},
			want: []mkWant{
				{line: "hello\n", labels: `{stream="stdout"}`, ts: mkTS("2024-03-05T10:15:32.5Z"), has: map[string]any{"output": "hello\n", "timestamp": "2024-03-05T12:15:32.5+02:00"}},
				{line: "no time", labels: `{stream="stdout"}`, ts: mkTS("2024-03-05T10:15:32.500000001Z"), has: map[string]any{"timestamp": nil}},
				{line: `{"nested":true}`, labels: `{stream="stderr"}`, ts: mkTS("2024-03-05T10:00:00Z")},
				{line: "plain text"},
				{line: `{"stream":"stderr","time":"bad time"}`, labels: `{stream="stderr"}`, ts: mkTS("2024-03-05T10:00:00.000000001Z")},
				{line: "x", labels: "{stream=\"\ufffdx\"}", ts: mkTS("2024-03-05T10:00:05Z")},
				{line: "y", labels: `{stream="7"}`, ts: mkTS("2024-03-05T10:00:06Z")},
			},
		},
		{
			name: "labels become extracted values, like in Promtail's nested pipeline",
			pipeline: `
- regex:
    expression: '^(?P<output>\w+)'
- static_labels:
    output: from-label
- docker: {}`,
			lines: []string{"plain text"},
			want:  []mkWant{{line: "from-label", labels: `{output="from-label"}`, has: map[string]any{"output": "from-label"}}},
		},
		{
			name:     "invalid UTF-8 stream value is not a label",
			pipeline: "- docker:",
			lines:    []string{"{\"log\":\"z\",\"stream\":\"\xff\"}"},
			want:     []mkWant{{line: "z"}},
		},
	})
}
