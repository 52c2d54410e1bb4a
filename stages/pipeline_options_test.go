package stages

import (
	"io"
	"maps"
	"testing"

	"github.com/prometheus/common/model"
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

// ignoringStage writes an extracted value and declares that it reads none.
type ignoringStage struct{ reads bool }

func (s ignoringStage) ReadsExtracted() bool { return s.reads }

func (ignoringStage) Process(e *Entry, next func(*Entry)) {
	e.Extracted["written"] = "yes"
	next(e)
}

type ignoringConfig struct {
	Reads bool `yaml:"reads"`
}

func (c *ignoringConfig) NewStage(Options) (Stage, error) { return ignoringStage{reads: c.Reads}, nil }

func init() { Register("test_ignoring", func() Config { return &ignoringConfig{} }) }

// The labels are copied into the extracted values unless no stage reads
// them and neither does the consumer.
func TestLabelsSeedExtractedOnlyForReaders(t *testing.T) {
	ignoring := map[any]any{"test_ignoring": nil}
	reading := map[any]any{"test_ignoring": map[any]any{"reads": true}}
	tests := []struct {
		name  string
		items []any
		opts  Options
		seed  bool
	}{
		{"no reader, output unread", []any{ignoring, ignoring}, Options{ExtractedUnread: true}, false},
		{"output read", []any{ignoring}, Options{}, true},
		{"inspect shows them", []any{ignoring}, Options{ExtractedUnread: true, Inspector: io.Discard}, true},
		{"a stage reads them", []any{ignoring, reading}, Options{ExtractedUnread: true}, true},
		{"a stage that does not say", []any{ignoring, map[any]any{"test_probe": nil}}, Options{ExtractedUnread: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPipeline(tt.items, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			p.Process(&Entry{Labels: model.LabelSet{"job": "j"}}, func(e *Entry) { got = maps.Clone(e.Extracted) })
			if got["written"] != "yes" {
				t.Fatalf("the stage's own value is missing: %v", got)
			}
			if _, seeded := got["job"]; seeded != tt.seed {
				t.Errorf("labels in extracted = %v, want %v (%v)", seeded, tt.seed, got)
			}
		})
	}
}
