package stages

import "errors"

func init() {
	Register("output", func() Config { return &OutputConfig{} })
}

// OutputConfig is the body of an output stage: the line becomes the extracted
// value Source, when there is one that has a text form.
type OutputConfig struct {
	Source string `yaml:"source"`
}

// NewStage checks that a source is named.
func (c *OutputConfig) NewStage(Options) (Stage, error) {
	if c.Source == "" {
		return nil, errors.New("output source value is required if output is specified")
	}
	return &outputStage{source: c.Source}, nil
}

type outputStage struct {
	source string
}

func (s *outputStage) Process(e *Entry, next func(*Entry)) {
	setLineFrom(e, s.source)
	next(e)
}

// setLineFrom replaces the line with the extracted value key when it exists and
// has a text form.
func setLineFrom(e *Entry, key string) {
	v, ok := e.Extracted[key]
	if !ok {
		return
	}
	if s, err := stringify(v); err == nil {
		e.Line = s
	}
}
