package syslog

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the syslog target's counters, with Promtail's names. They are
// created once per process and shared by every syslog target, since a
// config reload rebuilds the targets.
type Metrics struct {
	entries       prometheus.Counter
	parsingErrors prometheus.Counter
	emptyMessages prometheus.Counter
}

// NewMetrics creates the syslog metrics and registers them on reg. A nil
// reg registers nothing.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		entries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "promtail_syslog_target_entries_total",
			Help: "Syslog messages handed to the job's pipeline.",
		}),
		parsingErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "promtail_syslog_target_parsing_errors_total",
			Help: "Syslog messages or streams that could not be framed or parsed.",
		}),
		emptyMessages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "promtail_syslog_empty_messages_total",
			Help: "Syslog messages dropped because they had no MSG part.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.entries, m.parsingErrors, m.emptyMessages)
	}
	return m
}
