package stdin

import (
	"strings"
	"testing"

	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/internal/api"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

func TestReadSplitsLikePromtail(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{"plain", "a\nb\n", []string{"a", "b"}},
		{"no trailing newline", "a\nb", []string{"a", "b"}},
		{"crlf and stray carriage returns", "a\r\nb\r\r\n", []string{"a", "b"}},
		{"empty lines skipped, spaces kept", "\n\n  \nc\n", []string{"  ", "c"}},
		{"empty input", "", nil},
		{"invalid utf-8 kept as bytes", "\xff\xfe\n", []string{"\xff\xfe"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			labels := model.LabelSet{"job": "stdin"}
			err := Read(strings.NewReader(tt.input), labels, api.EntryHandlerFunc(func(e stages.Entry) {
				if e.Labels["job"] != "stdin" || e.Timestamp.IsZero() {
					t.Errorf("entry lacks labels or timestamp: %+v", e)
				}
				got = append(got, e.Line)
			}))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
