package stages

import (
	"io"
	"maps"
	"slices"
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

// keyedStage writes an extracted value and declares which ones it reads.
type keyedStage struct {
	keys []string
	all  bool
}

func (s keyedStage) ExtractedKeys() ([]string, bool) { return s.keys, s.all }

func (keyedStage) Process(e *Entry, next func(*Entry)) {
	e.Extracted["written"] = "yes"
	next(e)
}

type keyedConfig struct {
	Keys []string `yaml:"keys"`
	All  bool     `yaml:"all"`
}

func (c *keyedConfig) NewStage(Options) (Stage, error) {
	return keyedStage{keys: c.Keys, all: c.All}, nil
}

func init() { Register("test_keyed", func() Config { return &keyedConfig{} }) }

// Labels are copied into the extracted values for the names a stage reads,
// all of them when the consumer, -inspect or a stage that does not say may
// read any.
func TestLabelsSeedExtractedOnlyForReaders(t *testing.T) {
	none := map[any]any{"test_keyed": nil}
	job := map[any]any{"test_keyed": map[any]any{"keys": []any{"job", "absent"}}}
	all := map[any]any{"test_keyed": map[any]any{"all": true}}
	tests := []struct {
		name  string
		items []any
		opts  Options
		want  []string
	}{
		{"no reader, output unread", []any{none, none}, Options{ExtractedUnread: true}, nil},
		{"a stage reads one", []any{none, job}, Options{ExtractedUnread: true}, []string{"job"}},
		{"a stage reads any", []any{job, all}, Options{ExtractedUnread: true}, []string{"host", "job"}},
		{"output read", []any{none}, Options{}, []string{"host", "job"}},
		{"inspect shows them", []any{none}, Options{ExtractedUnread: true, Inspector: io.Discard}, []string{"host", "job"}},
		{"a stage that does not say", []any{none, map[any]any{"test_probe": nil}}, Options{ExtractedUnread: true}, []string{"host", "job"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPipeline(tt.items, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			p.Process(&Entry{Labels: model.LabelSet{"job": "j", "host": "h"}}, func(e *Entry) { got = maps.Clone(e.Extracted) })
			if got["written"] != "yes" {
				t.Fatalf("the stage's own value is missing: %v", got)
			}
			delete(got, "written")
			if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, tt.want) {
				t.Errorf("labels in extracted = %v, want %v", keys, tt.want)
			}
		})
	}
}
