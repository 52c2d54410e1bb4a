package stages

import (
	"errors"

	"github.com/prometheus/common/model"
)

func init() {
	Register("labelallow", func() Config { return &LabelAllowConfig{} })
}

// LabelAllowConfig is the body of a labelallow stage: the only labels to keep.
type LabelAllowConfig []string

// NewStage implements Config.
func (c *LabelAllowConfig) NewStage(Options) (Stage, error) {
	if len(*c) == 0 {
		return nil, errors.New("labelallow stage config cannot be empty")
	}
	st := &labelAllowStage{keep: make(map[model.LabelName]struct{}, len(*c))}
	for _, n := range *c {
		st.keep[model.LabelName(n)] = struct{}{}
	}
	return st, nil
}

type labelAllowStage struct {
	keep map[model.LabelName]struct{}
}

// Process implements Stage.
func (s *labelAllowStage) Process(e *Entry, next func(*Entry)) {
	for n := range e.Labels {
		if _, ok := s.keep[n]; !ok {
			delete(e.Labels, n)
		}
	}
	next(e)
}
