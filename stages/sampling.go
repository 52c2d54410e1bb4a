package stages

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func init() {
	Register("sampling", func() Config { return &SamplingConfig{} })
}

// SamplingConfig is the body of a sampling stage, which keeps each entry with
// probability Rate and drops the rest.
type SamplingConfig struct {
	Rate       float64 `yaml:"rate"`
	DropReason *string `yaml:"drop_counter_reason"`
}

// Promtail decodes sampling bodies weakly (`rate: "0.5"` is a number).
func (*SamplingConfig) weaklyTyped() {}

// NewStage implements Config.
func (c *SamplingConfig) NewStage(opts Options) (Stage, error) {
	return c.newStage(opts, rand.NewPCG(uint64(time.Now().UnixNano()), rand.Uint64()))
}

// newStage builds the stage with the given random source, so tests can seed it.
func (c *SamplingConfig) newStage(opts Options, src rand.Source) (*samplingStage, error) {
	rate := c.Rate
	if !(rate >= 0 && rate <= 1) { // also refuses NaN
		return nil, fmt.Errorf("sampling stage failed to parse rate, Sampling Rate must be between 0.0 and 1.0, received %f", rate)
	}
	reason := DropReasonSampling
	if c.DropReason != nil && *c.DropReason != "" {
		reason = *c.DropReason
	}
	dm, err := NewDropMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &samplingStage{
		rate:    rate,
		rng:     rand.New(src),
		dropped: dm.Lines.WithLabelValues(reason),
	}, nil
}

type samplingStage struct {
	rate    float64
	rng     *rand.Rand
	dropped prometheus.Counter
}

// Process implements Stage. Rate 1 keeps everything and rate 0 drops
// everything; in between, a draw in [0,1) below the rate keeps the entry.
func (s *samplingStage) Process(e *Entry, next func(*Entry)) {
	if s.rate >= 1 || (s.rate > 0 && s.rng.Float64() < s.rate) {
		next(e)
		return
	}
	s.dropped.Inc()
}
