package stages

import (
	"errors"

	"github.com/prometheus/common/model"
)

func init() {
	Register("labeldrop", func() Config { return &LabelDropConfig{} })
}

// LabelDropConfig is the body of a labeldrop stage: the labels to remove.
type LabelDropConfig []string

// NewStage implements Config.
func (c *LabelDropConfig) NewStage(Options) (Stage, error) {
	if len(*c) == 0 {
		return nil, errors.New("labeldrop stage config cannot be empty")
	}
	st := &labelDropStage{names: make([]model.LabelName, len(*c))}
	for i, n := range *c {
		st.names[i] = model.LabelName(n)
	}
	return st, nil
}

type labelDropStage struct {
	names []model.LabelName
}

// Process implements Stage.
func (s *labelDropStage) Process(e *Entry, next func(*Entry)) {
	for _, n := range s.names {
		delete(e.Labels, n)
	}
	next(e)
}
