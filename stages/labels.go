package stages

import (
	"fmt"
	"sort"

	"github.com/prometheus/common/model"
)

func init() {
	Register("labels", func() Config { return &LabelsConfig{} })
}

// LabelsConfig is the body of a labels stage: label name → extracted key that
// holds its value; an empty key means the key named like the label.
type LabelsConfig map[string]string

// NewStage implements Config.
func (c *LabelsConfig) NewStage(Options) (Stage, error) {
	pairs, err := labelSources(*c)
	if err != nil {
		return nil, err
	}
	return &labelsStage{pairs: pairs}, nil
}

// labelSource says which extracted key feeds which label.
type labelSource struct {
	name   model.LabelName
	source string
}

// labelSources validates a labels-style map and returns it as a slice sorted by
// label name, so that stages walk it in a fixed order without a map iteration.
func labelSources(m map[string]string) ([]labelSource, error) {
	pairs := make([]labelSource, 0, len(m))
	for name, source := range m {
		if !model.LegacyValidation.IsValidLabelName(name) {
			return nil, fmt.Errorf("invalid label name: %s", name)
		}
		if source == "" {
			source = name
		}
		pairs = append(pairs, labelSource{name: model.LabelName(name), source: source})
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].name < pairs[j].name })
	return pairs, nil
}

// extractedLabelValue returns the extracted value of key as a label value; ok is
// false when the key is missing, has no text form, or is not valid UTF-8.
func extractedLabelValue(extracted map[string]any, key string) (model.LabelValue, bool) {
	v, ok := extracted[key]
	if !ok {
		return "", false
	}
	s, err := stringify(v)
	if err != nil {
		return "", false
	}
	lv := model.LabelValue(s)
	return lv, lv.IsValid()
}

type labelsStage struct {
	pairs []labelSource
}

// ExtractedKeys implements ExtractedReader.
func (s *labelsStage) ExtractedKeys() ([]string, bool) {
	keys := make([]string, len(s.pairs))
	for i, p := range s.pairs {
		keys[i] = p.source
	}
	return keys, false
}

// Process implements Stage.
func (s *labelsStage) Process(e *Entry, next func(*Entry)) {
	for _, p := range s.pairs {
		if v, ok := extractedLabelValue(e.Extracted, p.source); ok {
			e.Labels[p.name] = v
		}
	}
	next(e)
}
