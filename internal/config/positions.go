package config

import "time"

// PositionsConfig is the positions: block.
type PositionsConfig struct {
	Filename          string        `yaml:"filename,omitempty"`
	SyncPeriod        time.Duration `yaml:"sync_period,omitempty"`
	IgnoreInvalidYaml bool          `yaml:"ignore_invalid_yaml,omitempty"`
	// ReadOnly is set by -dry-run: positions are read but never written.
	ReadOnly bool `yaml:"-"`
}

// Promtail's positions defaults.
const (
	DefaultPositionsFile       = "/var/log/positions.yaml"
	DefaultPositionsSyncPeriod = 10 * time.Second
)
