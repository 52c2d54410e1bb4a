package config

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/moby"
	"github.com/prometheus/prometheus/model/relabel"
	"gopkg.in/yaml.v2"
)

// ScrapeConfig is one entry of scrape_configs: a job, its target kind, its
// relabeling and its pipeline.
type ScrapeConfig struct {
	JobName string `yaml:"job_name,omitempty"`
	// PipelineStages is kept as decoded YAML; stages.NewPipeline builds it when the
	// agent starts, as Promtail does (so -check-syntax does not build pipelines).
	PipelineStages []any `yaml:"pipeline_stages,omitempty"`

	// One block per target kind; Kind tells which one the job runs.
	Journal        *JournalConfig        `yaml:"journal,omitempty"`
	Syslog         *SyslogConfig         `yaml:"syslog,omitempty"`
	GCPLog         *GCPLogConfig         `yaml:"gcplog,omitempty"`
	PushAPI        *PushConfig           `yaml:"loki_push_api,omitempty"`
	WindowsEvents  *WindowsEventsConfig  `yaml:"windows_events,omitempty"`
	Kafka          *KafkaConfig          `yaml:"kafka,omitempty"`
	AzureEventHubs *AzureEventHubsConfig `yaml:"azure_event_hubs,omitempty"`
	GELF           *GELFConfig           `yaml:"gelf,omitempty"`
	Cloudflare     *CloudflareConfig     `yaml:"cloudflare,omitempty"`
	HerokuDrain    *HerokuDrainConfig    `yaml:"heroku_drain,omitempty"`
	// OsqueryTLS is not a Promtail kind: osqueryd's TLS logger sends here.
	OsqueryTLS *OsqueryTLSConfig `yaml:"osquery_tls,omitempty"`

	RelabelConfigs []*relabel.Config    `yaml:"relabel_configs,omitempty"`
	Encoding       string               `yaml:"encoding,omitempty"`
	Decompression  *DecompressionConfig `yaml:"decompression,omitempty"`
	// TailFromEnd starts files that have no saved position at their end instead
	// of their beginning. Not in Promtail (users asked for it: grafana/loki#4041).
	TailFromEnd bool `yaml:"tail_from_end,omitempty"`

	// ServiceDiscoveryConfigs holds the inline *_sd_configs and static_configs
	// (as one discovery.StaticConfig): any of them makes the job a file target
	// job. Static groups without targets have been given
	// __address__="localhost", as Promtail does.
	ServiceDiscoveryConfigs discovery.Configs `yaml:"-"`
	// DockerSDConfigs is docker_sd_configs: the containers whose logs are read
	// through the Docker API. Prometheus registers it as an ordinary SD, so it
	// is decoded with the others and moved here.
	DockerSDConfigs []*moby.DockerSDConfig `yaml:"-"`
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

// TargetKind is the kind of target a job runs.
type TargetKind int

// The target kinds, in the order Promtail picks the first one configured.
const (
	// KindNone: the job configures no target (only valid in stdin mode).
	KindNone TargetKind = iota
	// KindFile: static_configs or any *_sd_configs; files found by __path__.
	KindFile
	KindJournal
	KindSyslog
	KindGCPLog
	KindPushAPI
	KindWindowsEvents
	KindKafka
	KindAzureEventHubs
	KindGELF
	KindCloudflare
	KindDocker
	KindHerokuDrain
	// KindOsqueryTLS is ours, last so that Promtail's kinds keep their order.
	KindOsqueryTLS
)

var kindNames = [...]string{
	KindNone:           "none",
	KindFile:           "file",
	KindJournal:        "journal",
	KindSyslog:         "syslog",
	KindGCPLog:         "gcplog",
	KindPushAPI:        "loki_push_api",
	KindWindowsEvents:  "windows_events",
	KindKafka:          "kafka",
	KindAzureEventHubs: "azure_event_hubs",
	KindGELF:           "gelf",
	KindCloudflare:     "cloudflare",
	KindDocker:         "docker_sd_configs",
	KindHerokuDrain:    "heroku_drain",
	KindOsqueryTLS:     "osquery_tls",
}

// String is the YAML key that selects the kind. KindFile, which any of
// static_configs and the *_sd_configs selects, is "file"; KindNone is "none".
func (k TargetKind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return "unknown"
	}
	return kindNames[k]
}

// Kind is the target kind the job runs. When several blocks are configured
// the first in Promtail's order wins and the others are ignored, as in
// Promtail.
func (c *ScrapeConfig) Kind() TargetKind {
	switch {
	case len(c.ServiceDiscoveryConfigs) > 0:
		return KindFile
	case c.Journal != nil:
		return KindJournal
	case c.Syslog != nil:
		return KindSyslog
	case c.GCPLog != nil:
		return KindGCPLog
	case c.PushAPI != nil:
		return KindPushAPI
	case c.WindowsEvents != nil:
		return KindWindowsEvents
	case c.Kafka != nil:
		return KindKafka
	case c.AzureEventHubs != nil:
		return KindAzureEventHubs
	case c.GELF != nil:
		return KindGELF
	case c.Cloudflare != nil:
		return KindCloudflare
	case len(c.DockerSDConfigs) > 0:
		return KindDocker
	case c.HerokuDrain != nil:
		return KindHerokuDrain
	case c.OsqueryTLS != nil:
		return KindOsqueryTLS
	}
	return KindNone
}

// UnmarshalYAML decodes a job with its inline service discovery configs and
// applies what Promtail does while decoding: job_name must be set, static
// groups without targets target localhost.
func (c *ScrapeConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = ScrapeConfig{}
	err := discovery.UnmarshalYAMLWithInlineConfigs(c, func(v any) error {
		return renameScrapeType(unmarshal(v))
	})
	if err != nil {
		return err
	}
	if c.JobName == "" {
		return errors.New("job_name is empty")
	}
	sd := c.ServiceDiscoveryConfigs[:0]
	for _, cfg := range c.ServiceDiscoveryConfigs {
		switch cfg := cfg.(type) {
		case *moby.DockerSDConfig:
			c.DockerSDConfigs = append(c.DockerSDConfigs, cfg)
			continue
		case discovery.StaticConfig:
			for _, group := range cfg {
				if len(group.Targets) == 0 {
					group.Targets = []model.LabelSet{{model.AddressLabel: "localhost"}}
				}
			}
		}
		sd = append(sd, cfg)
	}
	c.ServiceDiscoveryConfigs = sd
	for _, rc := range c.RelabelConfigs {
		// relabel.Process needs a scheme; Promtail 3 validates label names as UTF-8.
		if rc != nil && rc.NameValidationScheme == model.UnsetValidation {
			rc.NameValidationScheme = model.UTF8Validation
		}
	}
	return nil
}

// MarshalYAML prints the job with its service discovery configs inline.
func (c ScrapeConfig) MarshalYAML() (any, error) {
	all := make(discovery.Configs, 0, len(c.ServiceDiscoveryConfigs)+len(c.DockerSDConfigs))
	all = append(all, c.ServiceDiscoveryConfigs...)
	for _, d := range c.DockerSDConfigs {
		all = append(all, d)
	}
	c.ServiceDiscoveryConfigs = all
	c.DockerSDConfigs = nil
	return discovery.MarshalYAMLWithInlineConfigs(&c)
}

// scrapeDecodeType is the Go type string of the struct that
// UnmarshalYAMLWithInlineConfigs builds at run time for ScrapeConfig; YAML
// type errors name it, which is unreadable.
var scrapeDecodeType = sync.OnceValue(func() string {
	var name string
	_ = discovery.UnmarshalYAMLWithInlineConfigs(&ScrapeConfig{}, func(v any) error {
		name = reflect.TypeOf(v).Elem().String()
		return nil
	})
	return name
})

// renameScrapeType rewrites YAML type errors to say config.ScrapeConfig
// instead of the generated struct type. It keeps the *yaml.TypeError so that
// the decoder goes on collecting errors, as it does everywhere else.
func renameScrapeType(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	name := scrapeDecodeType()
	for i, msg := range te.Errors {
		te.Errors[i] = strings.ReplaceAll(msg, name, "config.ScrapeConfig")
	}
	return err
}

// StaticLabels merges the labels of the job's static_configs, less the
// reserved ones (__path__ and the like steer targets; they are not stream
// labels): what -stdin gives every entry, and what every file of the job
// carries before relabeling.
func (c *ScrapeConfig) StaticLabels() model.LabelSet {
	labels := model.LabelSet{}
	for _, sd := range c.ServiceDiscoveryConfigs {
		static, ok := sd.(discovery.StaticConfig)
		if !ok {
			continue
		}
		for _, group := range static {
			for name, value := range group.Labels {
				if !strings.HasPrefix(string(name), model.ReservedLabelPrefix) {
					labels[name] = value
				}
			}
		}
	}
	return labels
}
