package config

import (
	"fmt"
	"time"

	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// Each target block below fills its defaults after decoding wherever the
// value is still zero, because Promtail's targets treat an explicit zero as
// "use the default" too; the decoded struct therefore holds the values the
// target runs with.

// JournalConfig is a job's journal: block (systemd journal reader).
type JournalConfig struct {
	// MaxAge is the oldest entry read on a first start, relative to now. It
	// stays text because Promtail only parses it when the target starts
	// (an invalid value passes -check-syntax); see MaxAgeDuration.
	MaxAge string         `yaml:"max_age"`
	JSON   bool           `yaml:"json"`
	Labels model.LabelSet `yaml:"labels"`
	// Path is the journal directory; empty reads the system journal
	// (/var/log/journal and /run/log/journal).
	Path string `yaml:"path"`
	// Matches is a space-separated list of FIELD=value filters, all of which
	// must hold.
	Matches string `yaml:"matches"`
}

// DefaultJournalMaxAge is journal.max_age when unset.
const DefaultJournalMaxAge = "7h"

// UnmarshalYAML decodes the block and fills the defaults.
func (c *JournalConfig) UnmarshalYAML(unmarshal func(any) error) error {
	type plain JournalConfig
	if err := unmarshal((*plain)(c)); err != nil {
		return err
	}
	if c.MaxAge == "" {
		c.MaxAge = DefaultJournalMaxAge
	}
	return nil
}

// MaxAgeDuration parses MaxAge with Go duration syntax.
func (c *JournalConfig) MaxAgeDuration() (time.Duration, error) {
	d, err := time.ParseDuration(c.MaxAge)
	if err != nil {
		return 0, fmt.Errorf("journal max_age: %w", err)
	}
	return d, nil
}

// SyslogFormat is syslog.syslog_format.
type SyslogFormat string

// The syslog formats Promtail accepts.
const (
	SyslogFormatRFC5424 SyslogFormat = "rfc5424"
	SyslogFormatRFC3164 SyslogFormat = "rfc3164"
)

// SyslogConfig is a job's syslog: block (syslog listener).
type SyslogConfig struct {
	ListenAddress string `yaml:"listen_address"`
	// ListenProtocol is "tcp" or "udp".
	ListenProtocol string `yaml:"listen_protocol"`
	// IdleTimeout closes TCP connections that stay silent this long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// LabelStructuredData turns RFC 5424 structured data into
	// __syslog_message_sd_* labels.
	LabelStructuredData  bool           `yaml:"label_structured_data"`
	Labels               model.LabelSet `yaml:"labels"`
	UseIncomingTimestamp bool           `yaml:"use_incoming_timestamp"`
	// UseRFC5424Message sends the whole message instead of its MSG part.
	UseRFC5424Message bool         `yaml:"use_rfc5424_message"`
	SyslogFormat      SyslogFormat `yaml:"syslog_format"`
	MaxMessageLength  int          `yaml:"max_message_length"`
	// TLSConfig turns TLS on for the TCP listener when a certificate is set.
	TLSConfig promconfig.TLSConfig `yaml:"tls_config,omitempty"`
}

// Syslog defaults.
const (
	DefaultSyslogProtocol         = "tcp"
	DefaultSyslogIdleTimeout      = 120 * time.Second
	DefaultSyslogMaxMessageLength = 8192
)

// UnmarshalYAML decodes the block and fills the defaults.
func (c *SyslogConfig) UnmarshalYAML(unmarshal func(any) error) error {
	type plain SyslogConfig
	if err := unmarshal((*plain)(c)); err != nil {
		return err
	}
	if c.ListenProtocol == "" {
		c.ListenProtocol = DefaultSyslogProtocol
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultSyslogIdleTimeout
	}
	if c.SyslogFormat == "" {
		c.SyslogFormat = SyslogFormatRFC5424
	}
	if c.MaxMessageLength == 0 {
		c.MaxMessageLength = DefaultSyslogMaxMessageLength
	}
	return nil
}

func (c *SyslogConfig) validate() error {
	switch c.ListenProtocol {
	case "tcp", "udp":
	default:
		return fmt.Errorf("syslog listen_protocol %q is not supported, use tcp or udp", c.ListenProtocol)
	}
	switch c.SyslogFormat {
	case SyslogFormatRFC5424, SyslogFormatRFC3164:
	default:
		return fmt.Errorf("syslog syslog_format %q is not supported, use rfc5424 or rfc3164", c.SyslogFormat)
	}
	return nil
}

// GCPLogConfig is a job's gcplog: block (Google Cloud Pub/Sub logs).
type GCPLogConfig struct {
	ProjectID            string         `yaml:"project_id"`
	Subscription         string         `yaml:"subscription"`
	Labels               model.LabelSet `yaml:"labels"`
	UseIncomingTimestamp bool           `yaml:"use_incoming_timestamp"`
	// SubscriptionType is "pull" or "push".
	SubscriptionType string `yaml:"subscription_type"`
	// PushTimeout bounds the handling of one pushed message (push only).
	PushTimeout time.Duration `yaml:"push_timeout"`
	// Server is the push listener (push only).
	Server ServerConfig `yaml:"server"`
	// UseFullLine sends the whole LogEntry JSON even when it has a textPayload.
	UseFullLine bool `yaml:"use_full_line"`
}

// DefaultGCPSubscriptionType is gcplog.subscription_type when unset.
const DefaultGCPSubscriptionType = "pull"

// UnmarshalYAML decodes the block over the dskit server defaults.
func (c *GCPLogConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = GCPLogConfig{Server: DefaultServerConfig()}
	type plain GCPLogConfig
	if err := unmarshal((*plain)(c)); err != nil {
		return err
	}
	if c.SubscriptionType == "" {
		c.SubscriptionType = DefaultGCPSubscriptionType
	}
	return nil
}

// PushConfig is a job's loki_push_api: block (a Loki push endpoint).
type PushConfig struct {
	Server               ServerConfig   `yaml:"server"`
	Labels               model.LabelSet `yaml:"labels"`
	UseIncomingTimestamp bool           `yaml:"use_incoming_timestamp"`
	// MaxSendMsgSize caps a request body in bytes.
	MaxSendMsgSize int `yaml:"max_send_msg_size"`
}

// DefaultPushMaxSendMsgSize is loki_push_api.max_send_msg_size when unset.
const DefaultPushMaxSendMsgSize = 100 << 20

// UnmarshalYAML decodes the block over the dskit server defaults.
func (c *PushConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = PushConfig{Server: DefaultServerConfig()}
	type plain PushConfig
	if err := unmarshal((*plain)(c)); err != nil {
		return err
	}
	if c.MaxSendMsgSize == 0 {
		c.MaxSendMsgSize = DefaultPushMaxSendMsgSize
	}
	return nil
}

// WindowsEventsConfig is a job's windows_events: block.
type WindowsEventsConfig struct {
	// Locale is the LCID events are rendered in; 0 is the system locale.
	Locale       uint32 `yaml:"locale"`
	EventlogName string `yaml:"eventlog_name"`
	// Query is an XPath query or an XML query list.
	Query                string `yaml:"xpath_query"`
	UseIncomingTimestamp bool   `yaml:"use_incoming_timestamp"`
	// BookmarkPath is the XML bookmark file that acts as the position.
	BookmarkPath        string         `yaml:"bookmark_path"`
	PollInterval        time.Duration  `yaml:"poll_interval"`
	ExcludeEventData    bool           `yaml:"exclude_event_data"`
	ExcludeEventMessage bool           `yaml:"exclude_event_message"`
	ExcludeUserData     bool           `yaml:"exclude_user_data"`
	Labels              model.LabelSet `yaml:"labels"`
}

// Windows events defaults.
const (
	DefaultWindowsQuery        = "*"
	DefaultWindowsPollInterval = 3 * time.Second
)

// UnmarshalYAML decodes the block and fills the defaults.
func (c *WindowsEventsConfig) UnmarshalYAML(unmarshal func(any) error) error {
	type plain WindowsEventsConfig
	if err := unmarshal((*plain)(c)); err != nil {
		return err
	}
	if c.Query == "" {
		c.Query = DefaultWindowsQuery
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultWindowsPollInterval
	}
	return nil
}

// KafkaConfig is a job's kafka: block.
type KafkaConfig struct {
	Labels               model.LabelSet `yaml:"labels"`
	UseIncomingTimestamp bool           `yaml:"use_incoming_timestamp"`
	Brokers              []string       `yaml:"brokers"`
	GroupID              string         `yaml:"group_id"`
	// Topics may hold regular expressions starting with "^".
	Topics []string `yaml:"topics"`
	// Version is the Kafka protocol version.
	Version string `yaml:"version"`
	// Assignor is the rebalancing strategy: range, sticky or roundrobin.
	Assignor       string              `yaml:"assignor"`
	Authentication KafkaAuthentication `yaml:"authentication"`
}

// KafkaAuthentication is kafka.authentication.
type KafkaAuthentication struct {
	// Type is none, ssl or sasl.
	Type       string               `yaml:"type"`
	TLSConfig  promconfig.TLSConfig `yaml:"tls_config,omitempty"`
	SASLConfig KafkaSASLConfig      `yaml:"sasl_config,omitempty"`
}

// KafkaSASLConfig is kafka.authentication.sasl_config.
type KafkaSASLConfig struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string            `yaml:"mechanism"`
	User      string            `yaml:"user"`
	Password  promconfig.Secret `yaml:"password"`
	UseTLS    bool              `yaml:"use_tls"`
	// TLSConfig is used with UseTLS.
	TLSConfig promconfig.TLSConfig `yaml:",inline"`
}

// Kafka defaults.
const (
	DefaultKafkaGroupID  = "promtail"
	DefaultKafkaVersion  = "2.2.1"
	DefaultKafkaAssignor = "range"
	DefaultKafkaAuth     = "none"
)

// UnmarshalYAML decodes the block and fills the defaults.
func (c *KafkaConfig) UnmarshalYAML(unmarshal func(any) error) error {
	type plain KafkaConfig
	if err := unmarshal((*plain)(c)); err != nil {
		return err
	}
	if c.GroupID == "" {
		c.GroupID = DefaultKafkaGroupID
	}
	if c.Version == "" {
		c.Version = DefaultKafkaVersion
	}
	if c.Assignor == "" {
		c.Assignor = DefaultKafkaAssignor
	}
	if c.Authentication.Type == "" {
		c.Authentication.Type = DefaultKafkaAuth
	}
	return nil
}

// AzureEventHubsConfig is a job's azure_event_hubs: block.
type AzureEventHubsConfig struct {
	// FullyQualifiedNamespace is "<namespace>.servicebus.windows.net:9093".
	FullyQualifiedNamespace string            `yaml:"fully_qualified_namespace"`
	EventHubs               []string          `yaml:"event_hubs"`
	ConnectionString        promconfig.Secret `yaml:"connection_string"`
	GroupID                 string            `yaml:"group_id"`
	UseIncomingTimestamp    bool              `yaml:"use_incoming_timestamp"`
	// DisallowCustomMessages drops messages that are not Azure resource logs.
	DisallowCustomMessages bool           `yaml:"disallow_custom_messages"`
	Labels                 model.LabelSet `yaml:"labels"`
}

// UnmarshalYAML decodes the block and fills the defaults.
func (c *AzureEventHubsConfig) UnmarshalYAML(unmarshal func(any) error) error {
	type plain AzureEventHubsConfig
	if err := unmarshal((*plain)(c)); err != nil {
		return err
	}
	if c.GroupID == "" {
		c.GroupID = DefaultKafkaGroupID
	}
	return nil
}

// GELFConfig is a job's gelf: block (GELF over UDP).
type GELFConfig struct {
	ListenAddress        string         `yaml:"listen_address"`
	Labels               model.LabelSet `yaml:"labels"`
	UseIncomingTimestamp bool           `yaml:"use_incoming_timestamp"`
}

// DefaultGELFListenAddress is gelf.listen_address when unset.
const DefaultGELFListenAddress = ":12201"

// UnmarshalYAML decodes the block and fills the defaults.
func (c *GELFConfig) UnmarshalYAML(unmarshal func(any) error) error {
	type plain GELFConfig
	if err := unmarshal((*plain)(c)); err != nil {
		return err
	}
	if c.ListenAddress == "" {
		c.ListenAddress = DefaultGELFListenAddress
	}
	return nil
}

// CloudflareConfig is a job's cloudflare: block (Logpull API).
type CloudflareConfig struct {
	APIToken promconfig.Secret `yaml:"api_token"`
	ZoneID   string            `yaml:"zone_id"`
	Labels   model.LabelSet    `yaml:"labels"`
	Workers  int               `yaml:"workers"`
	// PullRange is a Prometheus duration: unlike the other durations it
	// accepts d, w and y.
	PullRange model.Duration `yaml:"pull_range"`
	// FieldsType is default, minimal, extended, all or custom.
	FieldsType       string   `yaml:"fields_type"`
	AdditionalFields []string `yaml:"additional_fields"`
}

// Cloudflare defaults.
const (
	DefaultCloudflareWorkers    = 3
	DefaultCloudflarePullRange  = model.Duration(time.Minute)
	DefaultCloudflareFieldsType = "default"
)

// UnmarshalYAML decodes the block and fills the defaults.
func (c *CloudflareConfig) UnmarshalYAML(unmarshal func(any) error) error {
	type plain CloudflareConfig
	if err := unmarshal((*plain)(c)); err != nil {
		return err
	}
	if c.Workers == 0 {
		c.Workers = DefaultCloudflareWorkers
	}
	if c.PullRange == 0 {
		c.PullRange = DefaultCloudflarePullRange
	}
	if c.FieldsType == "" {
		c.FieldsType = DefaultCloudflareFieldsType
	}
	return nil
}

// HerokuDrainConfig is a job's heroku_drain: block (Heroku HTTPS drain).
type HerokuDrainConfig struct {
	Server               ServerConfig   `yaml:"server"`
	Labels               model.LabelSet `yaml:"labels"`
	UseIncomingTimestamp bool           `yaml:"use_incoming_timestamp"`
}

// UnmarshalYAML decodes the block over the dskit server defaults.
func (c *HerokuDrainConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = HerokuDrainConfig{Server: DefaultServerConfig()}
	type plain HerokuDrainConfig
	return unmarshal((*plain)(c))
}
