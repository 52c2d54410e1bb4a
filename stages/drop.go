package stages

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/c2h5oh/datasize"
	"github.com/prometheus/client_golang/prometheus"
)

func init() {
	Register("drop", func() Config { return &DropConfig{} })
}

// DropConfig is the body of a drop stage. Every condition that is set must hold
// for an entry to be dropped.
type DropConfig struct {
	// Source is one extracted key or a list of them. Alone, it drops entries
	// that have all of them; with Value or Expression, it selects the text
	// (values joined by Separator) to test instead of the line.
	Source     any     `yaml:"source"`
	Separator  *string `yaml:"separator"`
	Value      *string `yaml:"value"`
	Expression *string `yaml:"expression"`
	// OlderThan drops entries whose timestamp is older than now minus this Go
	// duration.
	OlderThan *string `yaml:"older_than"`
	// LongerThan drops lines longer than this many bytes ("1KB", "512").
	LongerThan *string `yaml:"longer_than"`
	DropReason *string `yaml:"drop_counter_reason"`
}

// Promtail decodes drop bodies weakly: `longer_than: 10` and `value: 200` are
// strings here.
func (*DropConfig) weaklyTyped() {}

// NewStage implements Config.
func (c *DropConfig) NewStage(opts Options) (Stage, error) {
	if c.Source == nil && c.Expression == nil && c.OlderThan == nil && c.LongerThan == nil {
		return nil, errors.New("drop stage config must contain at least one of `source`, `expression`, `older_than` or `longer_than`")
	}
	st := &dropStage{separator: ";"}
	if c.Source != nil {
		sources, err := dropSources(c.Source)
		if err != nil {
			return nil, err
		}
		st.sources = sources
	}
	if c.Separator != nil {
		st.separator = *c.Separator
	}
	if c.OlderThan != nil {
		d, err := time.ParseDuration(*c.OlderThan)
		if err != nil {
			return nil, fmt.Errorf("drop stage invalid duration, %s cannot be converted to a duration: %w", *c.OlderThan, err)
		}
		st.olderThan, st.checkAge = d, true
	}
	if c.Value != nil && c.Source == nil {
		return nil, errors.New("drop stage config must contain `source` if `value` is specified")
	}
	if c.Value != nil && c.Expression != nil {
		return nil, errors.New("drop stage config error, `value` and `expression` cannot both be defined at the same time")
	}
	switch {
	case c.Expression != nil:
		re, err := regexp.Compile(*c.Expression)
		if err != nil {
			return nil, fmt.Errorf("drop stage regex compilation error: %w", err)
		}
		st.regex = re
	case c.Value != nil:
		st.regex = regexp.MustCompile("^" + regexp.QuoteMeta(*c.Value) + "$")
	}
	if c.LongerThan != nil {
		var size datasize.ByteSize
		if err := size.UnmarshalText([]byte(strings.ToUpper(*c.LongerThan))); err != nil {
			return nil, fmt.Errorf("drop stage failed to parse longer_than to bytes: %w", err)
		}
		st.longerThan, st.checkLength = size.Bytes(), true
	}
	reason := DropReasonDrop
	if c.DropReason != nil && *c.DropReason != "" {
		reason = *c.DropReason
	}
	dm, err := NewDropMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	st.dropped = dm.Lines.WithLabelValues(reason)
	return st, nil
}

// dropSources turns the source field (a string or a list of strings) into a
// list. Promtail panics on a list item that is not a string; this is an error.
func dropSources(v any) ([]string, error) {
	switch s := v.(type) {
	case string:
		return []string{s}, nil
	case []string:
		return s, nil
	case []any:
		out := make([]string, len(s))
		for i, item := range s {
			str, ok := item.(string)
			if !ok {
				return nil, fmt.Errorf("drop stage source list item %d must be a string, got %T %v", i+1, item, item)
			}
			out[i] = str
		}
		return out, nil
	}
	return nil, fmt.Errorf("drop stage source invalid type should be string or list of strings, got %T", v)
}

type dropStage struct {
	sources     []string
	separator   string
	regex       *regexp.Regexp
	checkAge    bool
	olderThan   time.Duration
	checkLength bool
	longerThan  uint64
	dropped     prometheus.Counter
	joined      []byte // scratch for joining several source values
}

// Process implements Stage.
func (s *dropStage) Process(e *Entry, next func(*Entry)) {
	if s.shouldDrop(e) {
		s.dropped.Inc()
		return
	}
	next(e)
}

// shouldDrop tests the cheap conditions first and stops at the first one that
// does not hold.
func (s *dropStage) shouldDrop(e *Entry) bool {
	if s.checkLength && uint64(len(e.Line)) <= s.longerThan {
		return false
	}
	if s.checkAge && !e.Timestamp.Before(time.Now().Add(-s.olderThan)) {
		return false
	}
	switch {
	case s.sources != nil && s.regex == nil:
		for _, src := range s.sources {
			if _, ok := e.Extracted[src]; !ok {
				return false
			}
		}
	case s.sources == nil && s.regex != nil:
		return s.regex.MatchString(e.Line)
	case s.sources != nil:
		return s.sourcesMatch(e.Extracted)
	}
	return true
}

// sourcesMatch joins the values of the sources that are present and tests the
// regex on the result. A value without a text form keeps the entry.
func (s *dropStage) sourcesMatch(extracted map[string]any) bool {
	if len(s.sources) == 1 {
		v, ok := extracted[s.sources[0]]
		if !ok {
			return s.regex.MatchString("")
		}
		text, err := stringify(v)
		return err == nil && s.regex.MatchString(text)
	}
	s.joined = s.joined[:0]
	present := 0
	for _, src := range s.sources {
		v, ok := extracted[src]
		if !ok {
			continue
		}
		text, err := stringify(v)
		if err != nil {
			return false
		}
		if present > 0 {
			s.joined = append(s.joined, s.separator...)
		}
		s.joined = append(s.joined, text...)
		present++
	}
	return s.regex.Match(s.joined)
}
