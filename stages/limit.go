package stages

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"golang.org/x/time/rate"
)

func init() {
	Register("limit", func() Config { return &LimitConfig{} })
}

// minDistinctLabels is the smallest max_distinct_labels Promtail accepts; lower
// values are raised to it (a limiter costs about 80 bytes).
const minDistinctLabels = 10000

// LimitConfig is the body of a limit stage: a token bucket of Rate lines per
// second with Burst tokens.
type LimitConfig struct {
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
	// Drop discards lines over the limit; otherwise the stage waits for a
	// token, which slows the input down.
	Drop bool `yaml:"drop"`
	// ByLabelName gives every value of this stream label its own bucket.
	ByLabelName       string `yaml:"by_label_name"`
	MaxDistinctLabels int    `yaml:"max_distinct_labels"`
}

// Promtail decodes limit bodies weakly (`rate: "10"` is a number).
func (*LimitConfig) weaklyTyped() {}

// NewStage implements Config.
func (c *LimitConfig) NewStage(opts Options) (Stage, error) {
	if !(c.Rate > 0) || c.Burst <= 0 {
		return nil, errors.New("limit stage failed to parse rate or burst: both must be greater than zero")
	}
	if c.ByLabelName != "" && !c.Drop {
		return nil, errors.New("When ratelimiting by label, drop must be true") //nolint:staticcheck // Promtail's text.
	}
	dm, err := NewDropMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	st := &limitStage{
		rate:    rate.Limit(c.Rate),
		burst:   c.Burst,
		drop:    c.Drop,
		dropped: dm.Lines.WithLabelValues(DropReasonRateLimit),
	}
	if c.ByLabelName == "" {
		st.limiter = rate.NewLimiter(st.rate, st.burst)
		return st, nil
	}
	maxDistinct := c.MaxDistinctLabels
	if maxDistinct < minDistinctLabels {
		opts.Logger.Warn("max_distinct_labels raised to the smallest reasonable value", "max_distinct_labels", minDistinctLabels)
		maxDistinct = minDistinctLabels
	}
	st.byLabel = model.LabelName(c.ByLabelName)
	st.droppedByLabel = dm.LinesByLabel
	st.limiters = newLimiterGenerations(maxDistinct)
	return st, nil
}

type limitStage struct {
	rate    rate.Limit
	burst   int
	drop    bool
	limiter *rate.Limiter
	dropped prometheus.Counter

	// With by_label_name: one limiter per label value.
	byLabel        model.LabelName
	limiters       *limiterGenerations
	droppedByLabel *prometheus.CounterVec
}

// Process implements Stage.
func (s *limitStage) Process(e *Entry, next func(*Entry)) {
	if s.byLabel == "" {
		switch {
		case !s.drop:
			// Without a way to be cancelled, Wait only returns an error when
			// the wait would exceed a deadline, and Background has none.
			_ = s.limiter.Wait(context.Background())
		case !s.limiter.Allow():
			s.dropped.Inc()
			return
		}
		next(e)
		return
	}
	value, ok := e.Labels[s.byLabel]
	if !ok {
		next(e)
		return
	}
	l, rotated := s.limiters.get(value, s.rate, s.burst)
	if rotated {
		// The values of the old generation are forgotten; so are their series.
		s.droppedByLabel.DeletePartialMatch(prometheus.Labels{"label_name": string(s.byLabel)})
	}
	if l.Allow() {
		next(e)
		return
	}
	s.dropped.Inc()
	s.droppedByLabel.WithLabelValues(string(s.byLabel), string(value)).Inc()
}

// limiterGenerations bounds the number of per-value limiters: values go into
// the current generation; when it is full it becomes the old one and the
// previous old one is forgotten. A value found in the old generation moves back
// to the current one with its bucket.
type limiterGenerations struct {
	max      int
	current  map[model.LabelValue]*rate.Limiter
	previous map[model.LabelValue]*rate.Limiter
}

func newLimiterGenerations(limit int) *limiterGenerations {
	return &limiterGenerations{max: limit, current: make(map[model.LabelValue]*rate.Limiter)}
}

// get returns the limiter of v, creating it if needed; rotated reports that
// the generations turned over.
func (g *limiterGenerations) get(v model.LabelValue, r rate.Limit, burst int) (l *rate.Limiter, rotated bool) {
	if l, ok := g.current[v]; ok {
		return l, false
	}
	l, ok := g.previous[v]
	if !ok {
		l = rate.NewLimiter(r, burst)
	}
	g.current[v] = l
	if len(g.current) >= g.max {
		g.previous, g.current = g.current, make(map[model.LabelValue]*rate.Limiter, g.max)
		return l, true
	}
	return l, false
}
