// Package config is Promtail 3.6's configuration: the YAML schema (decoded
// strictly, with the checks Promtail makes while decoding), the loader with
// -config.expand-env, the command-line flags and the start-time validation.
//
// The order in which a configuration is built is Promtail's:
//
//	opts, flags, err := config.ParseArgs(fs, args) // flag syntax; exit 2 on error
//	cfg, file, err := config.Load(opts.ConfigFile, opts.ExpandEnv) // defaults, then the file
//	warnings := flags.Apply(cfg)                   // explicit flags win; client: merged into clients:
//	err = cfg.Validate()                           // start-time checks (not for -check-syntax)
//
// (*Flags).Load does the middle two steps, e.g. for a reload.
package config

import (
	"fmt"
	"maps"
	"time"

	"gopkg.in/yaml.v2"
)

// Config is the whole configuration file.
type Config struct {
	Global GlobalConfig     `yaml:"global,omitempty"`
	Server MainServerConfig `yaml:"server,omitempty"`
	// Client is the deprecated single client: block. Setup appends it to
	// Clients when it has a URL.
	Client        ClientConfig    `yaml:"client,omitempty"`
	Clients       []ClientConfig  `yaml:"clients,omitempty"`
	Positions     PositionsConfig `yaml:"positions,omitempty"`
	ScrapeConfigs []ScrapeConfig  `yaml:"scrape_configs,omitempty"`
	TargetConfig  TargetConfig    `yaml:"target_config,omitempty"`
	LimitsConfig  LimitsConfig    `yaml:"limits_config,omitempty"`
	Options       OptionsConfig   `yaml:"options,omitempty"`
	Tracing       TracingConfig   `yaml:"tracing"`
	WAL           WALConfig       `yaml:"wal"`
}

// GlobalConfig is global: settings shared by all targets.
type GlobalConfig struct {
	FileWatch WatchConfig `yaml:"file_watch_config"`
}

// OptionsConfig is options: Promtail accepts the block but it has no keys.
type OptionsConfig struct{}

// TracingConfig is tracing:. Promtail reads its Jaeger settings from JAEGER_*
// variables; this agent does no tracing and only keeps the key.
type TracingConfig struct {
	Enabled bool `yaml:"enabled"`
}

// WALConfig is the wal: block. Promtail's was experimental and undocumented,
// with camelCase keys unlike the rest of the file; ours is the durable spool
// and keeps those names. enabled and dir mean what they did; the last four
// keys are ours.
type WALConfig struct {
	Enabled bool   `yaml:"enabled"`
	Dir     string `yaml:"dir"`
	// MaxSegmentAge and WatchConfig are accepted so Promtail configs load;
	// the spool deletes segments once Loki acknowledged them, and its reader
	// is woken by writes instead of polling.
	MaxSegmentAge time.Duration  `yaml:"cleanSegmentsOlderThan"`
	WatchConfig   WALWatchConfig `yaml:"watchConfig"`
	// MaxSize caps each client's spool on disk.
	MaxSize ByteSize `yaml:"maxSize"`
	// SegmentSize is the size of one segment file.
	SegmentSize ByteSize `yaml:"segmentSize"`
	// WhenFull is block (readers wait: backpressure) or drop_oldest.
	WhenFull string `yaml:"whenFull"`
	// Sync is batch (fsync every group of entries before their positions
	// may advance) or none (survives a crash of the agent, not of the host).
	Sync string `yaml:"sync"`
}

// Values of WALConfig.WhenFull and WALConfig.Sync.
const (
	WALWhenFullBlock      = "block"
	WALWhenFullDropOldest = "drop_oldest"
	WALSyncBatch          = "batch"
	WALSyncNone           = "none"
)

// WALWatchConfig is wal.watchConfig.
type WALWatchConfig struct {
	MinReadFrequency time.Duration `yaml:"minReadFrequency"`
	MaxReadFrequency time.Duration `yaml:"maxReadFrequency"`
}

// WAL defaults.
const (
	DefaultWALMaxSegmentAge    = time.Hour
	DefaultWALMinReadFrequency = 250 * time.Millisecond
	DefaultWALMaxReadFrequency = time.Second
	DefaultWALMaxSize          = ByteSize(1 << 30)
	DefaultWALSegmentSize      = ByteSize(8 << 20)
)

// DefaultConfig is the configuration before any file or flag is applied: the
// flag defaults, which are Promtail's defaults.
func DefaultConfig() *Config {
	return &Config{
		Global: GlobalConfig{FileWatch: WatchConfig{
			MinPollFrequency: DefaultMinPollFrequency,
			MaxPollFrequency: DefaultMaxPollFrequency,
		}},
		Server: DefaultMainServerConfig(),
		Client: DefaultClientConfig(),
		Positions: PositionsConfig{
			Filename:   DefaultPositionsFile,
			SyncPeriod: DefaultPositionsSyncPeriod,
		},
		TargetConfig: TargetConfig{SyncPeriod: DefaultTargetSyncPeriod},
		LimitsConfig: DefaultLimitsConfig(),
		Tracing:      TracingConfig{Enabled: true},
		WAL: WALConfig{
			MaxSize:       DefaultWALMaxSize,
			SegmentSize:   DefaultWALSegmentSize,
			WhenFull:      WALWhenFullBlock,
			Sync:          WALSyncBatch,
			MaxSegmentAge: DefaultWALMaxSegmentAge,
			WatchConfig: WALWatchConfig{
				MinReadFrequency: DefaultWALMinReadFrequency,
				MaxReadFrequency: DefaultWALMaxReadFrequency,
			},
		},
	}
}

// UnmarshalYAML decodes the file over the values already in c and checks
// that job names are unique.
func (c *Config) UnmarshalYAML(unmarshal func(any) error) error {
	// The type is named plain so that errors read like Promtail's
	// ("field x not found in type config.plain").
	type plain Config
	if err := unmarshal((*plain)(c)); err != nil {
		return err
	}
	seen := make(map[string]struct{}, len(c.ScrapeConfigs))
	for _, job := range c.ScrapeConfigs {
		if _, dup := seen[job.JobName]; dup {
			return fmt.Errorf("found multiple scrape configs with job name %q", job.JobName)
		}
		seen[job.JobName] = struct{}{}
	}
	return nil
}

// Setup finishes the configuration as Promtail does before starting: the
// deprecated client: block (or -client.url) becomes one more entry of
// Clients, its external labels are merged into every client (a client's own
// labels win), and each loki_push_api server logs like the main one. It
// returns warnings to log. Apply calls it; calling it again changes nothing.
func (c *Config) Setup() []string {
	var warnings []string
	if c.Client.URL.URL != nil {
		warnings = append(warnings, "use of CLI client.* and config file client block are both deprecated in favour of the config file clients block")
		c.Clients = append(c.Clients, c.Client)
		c.Client.URL.URL = nil
	}
	if len(c.Client.ExternalLabels) > 0 {
		for i := range c.Clients {
			merged := c.Client.ExternalLabels.Clone()
			maps.Copy(merged, c.Clients[i].ExternalLabels)
			c.Clients[i].ExternalLabels = merged
		}
	}
	for i := range c.ScrapeConfigs {
		if push := c.ScrapeConfigs[i].PushAPI; push != nil {
			push.Server.LogLevel = c.Server.LogLevel
			push.Server.LogFormat = c.Server.LogFormat
		}
	}
	return warnings
}

// String is the effective configuration as YAML, secrets masked.
func (c *Config) String() string {
	b, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Sprintf("<error creating config string: %s>", err)
	}
	return string(b)
}
