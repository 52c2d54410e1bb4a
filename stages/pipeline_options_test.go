package stages

import (
	"io"
	"maps"
	"reflect"
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

// ExtractedUnread and LabelsShared each reach the last stage only.
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
		// Each option on its own: the other must stay off everywhere.
		for _, option := range []string{"ExtractedUnread", "LabelsShared"} {
			t.Run(option+"/"+tt.name, func(t *testing.T) {
				probed = nil
				opts := tt.opts
				if option == "LabelsShared" {
					opts.ExtractedUnread, opts.LabelsShared = false, tt.opts.ExtractedUnread
				}
				if _, err := NewPipeline(tt.items, opts); err != nil {
					t.Fatal(err)
				}
				if len(probed) != len(tt.want) {
					t.Fatalf("built %d probes, want %d", len(probed), len(tt.want))
				}
				for i, o := range probed {
					got, other := o.ExtractedUnread, o.LabelsShared
					if option == "LabelsShared" {
						got, other = other, got
					}
					if got != tt.want[i] || other {
						t.Errorf("probe %d: %s = %v, want %v; the other option %v", i, option, got, tt.want[i], other)
					}
				}
			})
		}
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

// setMakerStage makes a label set of its own for every entry and records the
// set each entry arrived with.
type setMakerStage struct{ arrived *[]model.LabelSet }

func (setMakerStage) MakesLabelSets() bool { return true }

func (s setMakerStage) Process(e *Entry, next func(*Entry)) {
	*s.arrived = append(*s.arrived, e.Labels)
	e.Labels = model.LabelSet{"made": "here"}
	next(e)
}

type setMakerConfig struct{}

var arrivedSets []model.LabelSet

func (*setMakerConfig) NewStage(Options) (Stage, error) { return setMakerStage{&arrivedSets}, nil }

func init() { Register("test_set_maker", func() Config { return &setMakerConfig{} }) }

// A first stage that makes label sets gets the caller's set as it is; any
// other first stage gets a copy it may change.
func TestPipelineCopiesLabelsUnlessTheFirstStageMakesSets(t *testing.T) {
	maker := map[any]any{"test_set_maker": nil}
	probe := map[any]any{"test_probe": nil}
	tests := []struct {
		name  string
		items []any
		same  bool // the maker saw the caller's set itself
	}{
		{"maker first", []any{maker, probe}, true},
		{"maker second", []any{probe, maker}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arrivedSets = nil
			p, err := NewPipeline(tt.items, Options{})
			if err != nil {
				t.Fatal(err)
			}
			in := model.LabelSet{"job": "app"}
			var out model.LabelSet
			p.Process(&Entry{Labels: in, Line: "x"}, func(e *Entry) { out = e.Labels })
			if len(arrivedSets) != 1 {
				t.Fatalf("the maker saw %d entries", len(arrivedSets))
			}
			same := reflect.ValueOf(arrivedSets[0]).Pointer() == reflect.ValueOf(in).Pointer()
			if same != tt.same {
				t.Errorf("the maker got the caller's set itself: %v, want %v", same, tt.same)
			}
			if !maps.Equal(in, model.LabelSet{"job": "app"}) || out["made"] != "here" {
				t.Errorf("caller's set %v, out %v", in, out)
			}
		})
	}
}
