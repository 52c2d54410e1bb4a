package stages

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func init() {
	Register("match", func() Config { return &MatchConfig{} })
}

// MatchConfig is the body of a match stage: entries selected by Selector run
// through Stages (action keep) or are dropped (action drop); the others pass
// unchanged.
type MatchConfig struct {
	Selector string `yaml:"selector"`
	Stages   []any  `yaml:"stages"`
	// Action is keep (default) or drop.
	Action string `yaml:"action"`
	// PipelineName names the nested pipeline in logs; if set it must not be
	// empty.
	PipelineName *string `yaml:"pipeline_name"`
	DropReason   *string `yaml:"drop_counter_reason"`
}

// NewStage implements Config.
func (c *MatchConfig) NewStage(opts Options) (Stage, error) {
	if c.PipelineName != nil && *c.PipelineName == "" {
		return nil, errors.New("match stage pipeline name can be omitted but cannot be an empty string")
	}
	if c.Selector == "" {
		return nil, errors.New("selector statement required for match stage")
	}
	action := c.Action
	switch action {
	case "":
		action = "keep"
	case "keep", "drop":
	default:
		return nil, fmt.Errorf("match stage action should be 'keep' or 'drop', not %q", c.Action)
	}
	if action == "keep" && len(c.Stages) == 0 {
		return nil, errors.New("match stage requires at least one additional stage to be defined in '- stages'")
	}
	if action == "drop" && len(c.Stages) != 0 {
		return nil, errors.New("match stage configured to drop entries cannot contains stages")
	}
	sel, err := parseSelector(c.Selector)
	if err != nil {
		return nil, fmt.Errorf("invalid selector syntax for match stage: %w", err)
	}
	if action == "drop" {
		reason := DropReasonMatch
		if c.DropReason != nil && *c.DropReason != "" {
			reason = *c.DropReason
		}
		dm, err := NewDropMetrics(opts.Registerer)
		if err != nil {
			return nil, err
		}
		return &matchDropStage{selector: sel, dropped: dm.Lines.WithLabelValues(reason)}, nil
	}
	nested := opts
	if c.PipelineName != nil {
		nested.Logger = opts.Logger.With("pipeline", *c.PipelineName)
	}
	pl, err := NewPipeline(c.Stages, nested)
	if err != nil {
		return nil, fmt.Errorf("match stage failed to create pipeline from config: %w", err)
	}
	return &matchKeepStage{selector: sel, pipeline: pl}, nil
}

// matchDropStage drops the selected entries.
type matchDropStage struct {
	selector *selector
	dropped  prometheus.Counter
}

// Process implements Stage.
func (s *matchDropStage) Process(e *Entry, next func(*Entry)) {
	if s.selector.matches(e.Labels, e.Line) {
		s.dropped.Inc()
		return
	}
	next(e)
}

// matchKeepStage runs the selected entries through its nested pipeline. It is a
// Flusher because nested stages may hold entries back (multiline, cri); when
// none does, flushing costs nothing.
type matchKeepStage struct {
	selector *selector
	pipeline *Pipeline
}

// Process implements Stage.
func (s *matchKeepStage) Process(e *Entry, next func(*Entry)) {
	if s.selector.matches(e.Labels, e.Line) {
		s.pipeline.run(e, next)
		return
	}
	next(e)
}

// Flush implements Flusher.
func (s *matchKeepStage) Flush(now time.Time, final bool, next func(*Entry)) {
	s.pipeline.Flush(now, final, next)
}

// FlushInterval implements Flusher.
func (s *matchKeepStage) FlushInterval() time.Duration {
	return s.pipeline.FlushInterval()
}
