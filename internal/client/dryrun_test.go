package client

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/stages"
)

func TestPrinter(t *testing.T) {
	plus2 := time.FixedZone("x", 2*3600)
	tests := []struct {
		name  string
		entry stages.Entry
		want  string
	}{
		{
			name:  "labels sorted, nanoseconds trimmed",
			entry: stages.Entry{Labels: model.LabelSet{"job": "x", "app": "a"}, Timestamp: time.Date(2024, 5, 10, 14, 22, 1, 123400000, time.UTC), Line: "hello"},
			want:  "2024-05-10T14:22:01.1234+0000\t{app=\"a\", job=\"x\"}\thello\n",
		},
		{
			name:  "zone kept, whole second",
			entry: stages.Entry{Labels: model.LabelSet{}, Timestamp: time.Date(2024, 5, 10, 14, 22, 1, 0, plus2), Line: ""},
			want:  "2024-05-10T14:22:01+0200\t{}\t\n",
		},
		{
			name: "tenant shown, structured metadata not",
			entry: stages.Entry{
				Labels:             model.LabelSet{"__tenant_id__": "t1", "a": "q\"v"},
				Timestamp:          time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC),
				Line:               "line with spaces",
				StructuredMetadata: push.LabelsAdapter{{Name: "trace", Value: "1"}},
			},
			want: "2024-01-02T03:04:05.000000006+0000\t{__tenant_id__=\"t1\", a=\"q\\\"v\"}\tline with spaces\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			NewPrinter(&out).Handle(tt.entry)
			if out.String() != tt.want {
				t.Errorf("got  %q\nwant %q", out.String(), tt.want)
			}
		})
	}
}

func TestPrinterConcurrentLinesIntact(t *testing.T) {
	var out bytes.Buffer
	p := NewPrinter(&out)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				p.Handle(stages.Entry{Labels: model.LabelSet{"g": "x"}, Timestamp: time.Unix(0, 0).UTC(), Line: strings.Repeat("y", 100)})
			}
		}()
	}
	wg.Wait()
	want := "1970-01-01T00:00:00+0000\t{g=\"x\"}\t" + strings.Repeat("y", 100)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 800 {
		t.Fatalf("got %d lines, want 800", len(lines))
	}
	for i, l := range lines {
		if l != want {
			t.Fatalf("line %d mangled: %q", i, l)
		}
	}
}
