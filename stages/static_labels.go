package stages

import (
	"fmt"
	"sort"

	"github.com/prometheus/common/model"
)

func init() {
	Register("static_labels", func() Config { return &StaticLabelsConfig{} })
}

// StaticLabelsConfig is the body of a static_labels stage: label name → fixed
// value. Empty and null values set nothing.
type StaticLabelsConfig map[string]string

// NewStage implements Config.
func (c *StaticLabelsConfig) NewStage(Options) (Stage, error) {
	st := &staticLabelsStage{}
	for name, value := range *c {
		if !model.UTF8Validation.IsValidLabelName(name) {
			return nil, fmt.Errorf("invalid label name: %s", name)
		}
		lv := model.LabelValue(value)
		if value == "" || !lv.IsValid() {
			continue
		}
		st.labels = append(st.labels, staticLabel{name: model.LabelName(name), value: lv})
	}
	sort.Slice(st.labels, func(i, j int) bool { return st.labels[i].name < st.labels[j].name })
	return st, nil
}

type staticLabel struct {
	name  model.LabelName
	value model.LabelValue
}

type staticLabelsStage struct {
	labels []staticLabel
}

// Process implements Stage.
func (s *staticLabelsStage) Process(e *Entry, next func(*Entry)) {
	for _, l := range s.labels {
		e.Labels[l.name] = l.value
	}
	next(e)
}
