package stages

import (
	"io"
	"testing"
)

// probeConfig records the Options its stage was built with.
type probeConfig struct{}

var probed []Options

func (*probeConfig) NewStage(opts Options) (Stage, error) {
	probed = append(probed, opts)
	return passStage{}, nil
}

type passStage struct{}

func (passStage) Process(e *Entry, next func(*Entry)) { next(e) }

func init() { Register("test_probe", func() Config { return &probeConfig{} }) }

func TestExtractedUnreadReachesOnlyTheLastStage(t *testing.T) {
	probe := map[any]any{"test_probe": nil}
	nested := map[any]any{"match": map[any]any{"selector": `{job=~".*"}`, "stages": []any{probe, probe}}}
	tests := []struct {
		name  string
		items []any
		opts  Options
		want  []bool // ExtractedUnread of each probe, in build order
	}{
		{"consumer reads extracted", []any{probe, probe}, Options{}, []bool{false, false}},
		{"consumer ignores extracted", []any{probe, probe}, Options{ExtractedUnread: true}, []bool{false, true}},
		{"inspect shows extracted", []any{probe, probe}, Options{ExtractedUnread: true, Inspector: io.Discard}, []bool{false, false}},
		{"nested pipeline of the last stage", []any{probe, nested}, Options{ExtractedUnread: true}, []bool{false, false, true}},
		{"nested pipeline before another stage", []any{nested, probe}, Options{ExtractedUnread: true}, []bool{false, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probed = nil
			if _, err := NewPipeline(tt.items, tt.opts); err != nil {
				t.Fatal(err)
			}
			if len(probed) != len(tt.want) {
				t.Fatalf("built %d probes, want %d", len(probed), len(tt.want))
			}
			for i, o := range probed {
				if o.ExtractedUnread != tt.want[i] {
					t.Errorf("probe %d: ExtractedUnread = %v, want %v", i, o.ExtractedUnread, tt.want[i])
				}
			}
		})
	}
}
