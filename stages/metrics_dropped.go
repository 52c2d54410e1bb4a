package stages

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Drop reasons used by the stock stages, as Promtail reports them.
const (
	DropReasonMatch      = "match_stage"
	DropReasonDrop       = "drop_stage"
	DropReasonSampling   = "sampling_stage"
	DropReasonRateLimit  = "ratelimit_drop_stage"
	DropReasonGlobalRate = "global_rate_limiter_drop"
)

// DropMetrics counts the lines that pipelines discard on purpose. There is one
// pair of counters per Registerer, shared by every stage and every pipeline
// registered on it, so that rebuilding pipelines (config reload) keeps counting
// into the same series.
type DropMetrics struct {
	// Lines is logentry_dropped_lines_total{reason}.
	Lines *prometheus.CounterVec
	// LinesByLabel is logentry_dropped_lines_by_label_total{label_name,label_value}.
	LinesByLabel *prometheus.CounterVec
}

// NewDropMetrics returns the drop counters registered on reg, registering them
// the first time. With a nil reg the counters exist but are not exported, which
// is what tests and tools such as -dry-run want.
func NewDropMetrics(reg prometheus.Registerer) (*DropMetrics, error) {
	lines, err := registerCounterVec(reg, prometheus.CounterOpts{
		Namespace: "logentry",
		Name:      "dropped_lines_total",
		Help:      "A count of all log lines dropped as a result of a pipeline stage",
	}, []string{"reason"})
	if err != nil {
		return nil, err
	}
	byLabel, err := registerCounterVec(reg, prometheus.CounterOpts{
		Namespace: "logentry",
		Name:      "dropped_lines_by_label_total",
		Help:      "A count of all log lines dropped as a result of a pipeline stage",
	}, []string{"label_name", "label_value"})
	if err != nil {
		return nil, err
	}
	return &DropMetrics{Lines: lines, LinesByLabel: byLabel}, nil
}

// registerCounterVec registers a new CounterVec on reg or, when an identical one
// is already there, returns that one instead.
func registerCounterVec(reg prometheus.Registerer, opts prometheus.CounterOpts, labelNames []string) (*prometheus.CounterVec, error) {
	vec := prometheus.NewCounterVec(opts, labelNames)
	if reg == nil {
		return vec, nil
	}
	err := reg.Register(vec)
	if err == nil {
		return vec, nil
	}
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing, nil
		}
	}
	return nil, fmt.Errorf("registering metric %s_%s: %w", opts.Namespace, opts.Name, err)
}
