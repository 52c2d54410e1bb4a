package config

import (
	"strings"

	"github.com/c2h5oh/datasize"
)

// LimitsConfig is limits_config: read rate limiting, stream and line size caps.
type LimitsConfig struct {
	ReadlineRate        float64  `yaml:"readline_rate"`
	ReadlineBurst       int      `yaml:"readline_burst"`
	ReadlineRateEnabled bool     `yaml:"readline_rate_enabled,omitempty"`
	ReadlineRateDrop    bool     `yaml:"readline_rate_drop,omitempty"`
	MaxStreams          int      `yaml:"max_streams"`
	MaxLineSize         ByteSize `yaml:"max_line_size"`
	MaxLineSizeTruncate bool     `yaml:"max_line_size_truncate"`
}

// Promtail's limits defaults.
const (
	DefaultReadlineRate  = 10000
	DefaultReadlineBurst = 10000
)

// DefaultLimitsConfig returns the limits_config defaults (the -limit.* flag
// defaults): rate limiting off, but dropping once it is turned on.
func DefaultLimitsConfig() LimitsConfig {
	return LimitsConfig{
		ReadlineRate:     DefaultReadlineRate,
		ReadlineBurst:    DefaultReadlineBurst,
		ReadlineRateDrop: true,
	}
}

// ByteSize is a size in bytes written with an optional unit: "256kb", "2M",
// "1 megabyte". Units are case-insensitive and binary (1 KB = 1024 bytes), as
// in Promtail, which upper-cases the text before c2h5oh/datasize parses it.
type ByteSize uint64

// Set implements flag.Value.
func (b *ByteSize) Set(s string) error {
	var v datasize.ByteSize
	if err := v.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return err
	}
	*b = ByteSize(v.Bytes())
	return nil
}

// String prints the size with the largest exact unit, e.g. "256KB".
func (b *ByteSize) String() string { return datasize.ByteSize(*b).String() }

// UnmarshalYAML accepts the same text as the flag (a bare number is bytes).
func (b *ByteSize) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	return b.Set(s)
}

// MarshalYAML prints the size as text that decodes back to the same value.
func (b ByteSize) MarshalYAML() (any, error) { return datasize.ByteSize(b).String(), nil }
