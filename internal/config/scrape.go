package config

import (
	"time"

	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/model/relabel"
)

// ScrapeConfig is one entry of scrape_configs: a job, its target kind, its
// relabeling and its pipeline.
type ScrapeConfig struct {
	JobName string `yaml:"job_name,omitempty"`
	// PipelineStages is kept as decoded YAML; stages.NewPipeline builds it when the
	// agent starts, as Promtail does (so -check-syntax does not build pipelines).
	PipelineStages []any                `yaml:"pipeline_stages,omitempty"`
	RelabelConfigs []*relabel.Config    `yaml:"relabel_configs,omitempty"`
	Encoding       string               `yaml:"encoding,omitempty"`
	Decompression  *DecompressionConfig `yaml:"decompression,omitempty"`
	// TailFromEnd starts files that have no saved position at their end instead
	// of their beginning. Not in Promtail (users asked for it: grafana/loki#4041).
	TailFromEnd bool `yaml:"tail_from_end,omitempty"`

	// ServiceDiscoveryConfigs holds the inline *_sd_configs and static_configs:
	// any of them makes the job a file target job.
	ServiceDiscoveryConfigs discovery.Configs `yaml:"-"`
}

// DecompressionConfig is a file job's decompression: block.
type DecompressionConfig struct {
	Enabled      bool          `yaml:"enabled,omitempty"`
	InitialDelay time.Duration `yaml:"initial_delay,omitempty"`
	Format       string        `yaml:"format,omitempty"`
}

// WatchConfig is global.file_watch_config: how often an idle file is polled.
type WatchConfig struct {
	MinPollFrequency time.Duration `yaml:"min_poll_frequency,omitempty"`
	MaxPollFrequency time.Duration `yaml:"max_poll_frequency,omitempty"`
}

// TargetConfig is target_config.
type TargetConfig struct {
	SyncPeriod time.Duration `yaml:"sync_period,omitempty"`
	Stdin      bool          `yaml:"stdin,omitempty"`
}

// Promtail's file target defaults.
const (
	DefaultMinPollFrequency = 250 * time.Millisecond
	DefaultMaxPollFrequency = 250 * time.Millisecond
	DefaultTargetSyncPeriod = 10 * time.Second
)
