package stages

import (
	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/common/model"
)

func init() {
	Register("structured_metadata", func() Config { return &StructuredMetadataConfig{} })
	// non_indexed_labels is the name the stage had before Loki 2.9.
	Register("non_indexed_labels", func() Config { return &StructuredMetadataConfig{} })
}

// StructuredMetadataConfig is the body of a structured_metadata stage: metadata
// name → extracted key (or, failing that, stream label) holding the value; an
// empty key means the key named like the metadata.
type StructuredMetadataConfig map[string]string

// NewStage implements Config.
func (c *StructuredMetadataConfig) NewStage(Options) (Stage, error) {
	pairs, err := labelSources(*c)
	if err != nil {
		return nil, err
	}
	return &structuredMetadataStage{pairs: pairs, moved: make([]movedLabel, 0, len(pairs))}, nil
}

// movedLabel records which source produced which metadata value, to remove the
// stream label of the same name and value afterwards.
type movedLabel struct {
	source model.LabelName
	value  model.LabelValue
}

type structuredMetadataStage struct {
	pairs []labelSource
	moved []movedLabel // scratch, reused for every entry
}

// Process implements Stage. Values come from the extracted map first; a source
// missing there is looked up among the stream labels. A stream label named like
// a source that still holds the value that became metadata is removed, since
// the value now travels as metadata.
func (s *structuredMetadataStage) Process(e *Entry, next func(*Entry)) {
	s.moved = s.moved[:0]
	for _, p := range s.pairs {
		if v, ok := extractedLabelValue(e.Extracted, p.source); ok {
			s.add(e, p, v)
		}
	}
	for _, p := range s.pairs {
		src := model.LabelName(p.source)
		if s.wasMoved(src) {
			continue
		}
		if v, ok := e.Labels[src]; ok {
			s.add(e, p, v)
		}
	}
	for _, m := range s.moved {
		if v, ok := e.Labels[m.source]; ok && v == m.value {
			delete(e.Labels, m.source)
		}
	}
	next(e)
}

func (s *structuredMetadataStage) add(e *Entry, p labelSource, v model.LabelValue) {
	e.StructuredMetadata = append(e.StructuredMetadata, push.LabelAdapter{Name: string(p.name), Value: string(v)})
	src := model.LabelName(p.source)
	for i := range s.moved {
		if s.moved[i].source == src {
			s.moved[i].value = v
			return
		}
	}
	s.moved = append(s.moved, movedLabel{source: src, value: v})
}

func (s *structuredMetadataStage) wasMoved(src model.LabelName) bool {
	for _, m := range s.moved {
		if m.source == src {
			return true
		}
	}
	return false
}
