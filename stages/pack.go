package stages

import (
	"slices"
	"time"

	"github.com/prometheus/common/model"
)

func init() {
	Register("pack", func() Config { return &PackConfig{} })
}

// PackConfig is the body of a pack stage: the line becomes a JSON object with
// the listed extracted values and the original line under "_entry", and the
// listed labels leave the stream.
type PackConfig struct {
	Labels []string `yaml:"labels"`
	// IngestTimestamp (default true) sets the timestamp to the time of packing,
	// so that entries packed from many streams into one stay in order.
	IngestTimestamp *bool `yaml:"ingest_timestamp"`
}

// Promtail decodes pack bodies weakly (`ingest_timestamp: "false"`).
func (*PackConfig) weaklyTyped() {}

// NewStage sorts the label names once; the packed keys come out in that order.
func (c *PackConfig) NewStage(Options) (Stage, error) {
	names := slices.Clone(c.Labels)
	slices.Sort(names)
	names = slices.Compact(names)
	return &packStage{
		names:  names,
		ingest: c.IngestTimestamp == nil || *c.IngestTimestamp,
		now:    time.Now,
	}, nil
}

type packStage struct {
	names  []string
	ingest bool
	now    func() time.Time
	buf    []byte
	found  []string
}

func (s *packStage) Process(e *Entry, next func(*Entry)) {
	b := append(s.buf[:0], '{')
	s.found = s.found[:0]
	for _, name := range s.names {
		v, ok := e.Extracted[name]
		if !ok {
			continue
		}
		str, err := stringify(v)
		if err != nil {
			continue
		}
		b = appendJSONString(b, name)
		b = append(b, ':')
		b = appendJSONString(b, str)
		b = append(b, ',')
		s.found = append(s.found, name)
	}
	b = append(b, `"_entry":`...)
	b = appendJSONString(b, e.Line)
	b = append(b, '}')
	s.buf = b
	for _, name := range s.found {
		delete(e.Labels, model.LabelName(name))
	}
	e.Line = string(b)
	if s.ingest {
		e.Timestamp = s.now()
	}
	next(e)
}
