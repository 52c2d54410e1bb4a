// Package osquery is the pipeline stage for osquery's logs: result lines in
// event, batch and snapshot format, status logs as JSON or glog text, and the
// TLS logger's request bodies, from osquery 2.x to 5.x.
//
// It registers itself as "osquery", so importing it for its side effect makes
// `- osquery: {}` usable in any pipeline_stages list. README.md in this folder
// documents every configuration key.
package osquery

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/stages"
)

func init() {
	stages.Register("osquery", func() stages.Config { return DefaultConfig() })
}

// Values of the string-valued options.
const (
	// SelectAll and SelectNone are the scalar forms of a Selection.
	SelectAll  = "all"
	SelectNone = "none"

	TimestampCalendarTime = "calendarTime"
	TimestampUnixTime     = "unixTime"
	TimestampNone         = "none"

	LineEvent   = "event"
	LineColumns = "columns"

	MalformedPass = "pass"
	MalformedDrop = "drop"

	LongValuesTruncate = "truncate"
	LongValuesDrop     = "drop"

	GlogHostNone     = "none"
	GlogHostHostname = "hostname"
)

// labelFields are the record fields that the labels option accepts. Fields
// whose values change on every line (counter, unixTime, calendarTime) are
// deliberately absent: as labels they would create a stream per line.
var labelFields = []string{"name", "host", "action", "format", "severity", "epoch", "log_type"}

// Config is the body of an `osquery` pipeline stage. The zero value of a
// field is not its default: DefaultConfig holds the defaults and the YAML body
// overrides only the keys it names.
type Config struct {
	// Source is an extracted key holding the osquery text to parse instead
	// of the line.
	Source string `yaml:"source"`
	// Labels lists the record fields that become stream labels.
	Labels []string `yaml:"labels"`
	// Decorations selects the decorations that become labels: all, none or
	// a list of decoration names.
	Decorations Selection `yaml:"decorations"`
	// DecorationPrefix is put before a decoration's name to form its label.
	DecorationPrefix string `yaml:"decoration_prefix"`
	// Columns maps a query name ("*" for every query) to the columns that
	// become labels on that query's rows.
	Columns map[string][]string `yaml:"columns"`
	// ColumnPrefix is put before a column's name to form its label.
	ColumnPrefix string `yaml:"column_prefix"`
	// StructuredMetadata maps a structured metadata name to the extracted
	// field name that gives its value (empty: the same name). A field sent as
	// structured metadata is not also made a label.
	StructuredMetadata map[string]string `yaml:"structured_metadata"`
	// Timestamp is where the entry time comes from: calendarTime, unixTime,
	// columns_<column> or none.
	Timestamp string `yaml:"timestamp"`
	// Split turns snapshot and batch results into one entry per row.
	Split bool `yaml:"split"`
	// Line is what an entry's line becomes: event or columns.
	Line string `yaml:"line"`
	// Extract selects the values written to the extracted map: all, none or
	// a list of extracted names.
	Extract Selection `yaml:"extract"`
	// Malformed is what happens to a line that is not osquery output: pass
	// or drop.
	Malformed string `yaml:"malformed"`
	// MaxLabelValueLength is the longest label value the stage sets, in bytes.
	MaxLabelValueLength int `yaml:"max_label_value_length"`
	// LongLabelValues is what happens to a longer value: truncate or drop.
	LongLabelValues string `yaml:"long_label_values"`
	// MaxLabelValues is how many distinct values one decoration label may
	// take on one host, and one column label on one query, before new values
	// are no longer promoted.
	MaxLabelValues int `yaml:"max_label_values"`
	// GlogHost is the host of glog status text lines, which name none:
	// none, or hostname for the machine the agent runs on.
	GlogHost string `yaml:"glog_host"`
}

// DefaultConfig is the configuration of `- osquery: {}`.
func DefaultConfig() *Config {
	return &Config{
		Labels:              []string{"name", "host", "action"},
		Decorations:         Selection{Mode: SelectAll},
		ColumnPrefix:        "columns_",
		Timestamp:           TimestampCalendarTime,
		Split:               true,
		Line:                LineEvent,
		Extract:             Selection{Mode: SelectAll},
		Malformed:           MalformedPass,
		MaxLabelValueLength: 256,
		LongLabelValues:     LongValuesTruncate,
		MaxLabelValues:      32,
		GlogHost:            GlogHostNone,
	}
}

// Selection is an option that takes "all", "none" or a list of names.
type Selection struct {
	Mode  string // "all", "none", or "" when Names is the selection
	Names []string
}

// UnmarshalYAML accepts a scalar (all, none, or a boolean for either) or a
// list of names.
func (s *Selection) UnmarshalYAML(unmarshal func(any) error) error {
	var list []string
	if err := unmarshal(&list); err == nil {
		*s = Selection{Names: list}
		return nil
	}
	var b bool
	if err := unmarshal(&b); err == nil {
		*s = Selection{Mode: SelectNone}
		if b {
			s.Mode = SelectAll
		}
		return nil
	}
	var mode string
	if err := unmarshal(&mode); err != nil {
		return errors.New(`must be "all", "none" or a list of names`)
	}
	*s = Selection{Mode: mode}
	return nil
}

// MarshalYAML writes the selection back in the form it was read.
func (s Selection) MarshalYAML() (any, error) {
	if s.Mode != "" {
		return s.Mode, nil
	}
	return s.Names, nil
}

func (s Selection) validate(key string) error {
	switch s.Mode {
	case SelectAll, SelectNone:
		return nil
	case "":
		for _, n := range s.Names {
			if n == "" {
				return fmt.Errorf("%s: empty name in the list", key)
			}
		}
		return nil
	}
	return fmt.Errorf("%s: %q is not all, none or a list of names", key, s.Mode)
}

// NewStage validates the configuration and builds the stage.
func (c *Config) NewStage(opts stages.Options) (stages.Stage, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	effective := *c
	// Flattening every column costs more than the rest of the stage; skip it
	// when no later stage can read it.
	if opts.ExtractedUnread {
		effective.Extract = Selection{Mode: SelectNone}
	}
	st := newStage(&effective, NewMetrics(opts.Registerer), opts.Logger)
	st.shareLabels = opts.LabelsShared
	if c.GlogHost == GlogHostHostname && st.labelHost {
		host, err := hostname()
		if err == nil && host == "" {
			err = errors.New("it is empty")
		}
		if err != nil {
			return nil, fmt.Errorf("glog_host: reading this machine's host name: %w", err)
		}
		st.glogHost = st.intern.get([]byte(host))
	}
	return st, nil
}

func (c *Config) validate() error {
	for _, l := range c.Labels {
		if !slices.Contains(labelFields, l) {
			return fmt.Errorf("labels: %q cannot be a label (choose from %s; per-line values such as counter or unixTime would make one stream per line)", l, strings.Join(labelFields, ", "))
		}
	}
	if err := c.Decorations.validate("decorations"); err != nil {
		return err
	}
	if err := c.Extract.validate("extract"); err != nil {
		return err
	}
	if err := validPrefix("decoration_prefix", c.DecorationPrefix); err != nil {
		return err
	}
	if err := validPrefix("column_prefix", c.ColumnPrefix); err != nil {
		return err
	}
	queries := make([]string, 0, len(c.Columns))
	for q := range c.Columns {
		queries = append(queries, q)
	}
	sort.Strings(queries)
	for _, q := range queries {
		if q == "" {
			return errors.New(`columns: empty query name (use "*" for every query)`)
		}
		for _, col := range c.Columns[q] {
			if sanitizeName(col) == "" {
				return fmt.Errorf("columns: query %q: empty column name", q)
			}
		}
	}
	for name := range c.StructuredMetadata {
		if !model.LegacyValidation.IsValidLabelName(string(name)) {
			return fmt.Errorf("structured_metadata: %q is not a valid name (letters, digits and _, not starting with a digit)", name)
		}
		if strings.HasPrefix(name, "__") {
			return fmt.Errorf("structured_metadata: %q: names starting with __ are reserved", name)
		}
	}
	switch {
	case c.Timestamp == TimestampCalendarTime, c.Timestamp == TimestampUnixTime, c.Timestamp == TimestampNone:
	case strings.HasPrefix(c.Timestamp, "columns_") && len(c.Timestamp) > len("columns_"):
	default:
		return fmt.Errorf("timestamp: %q is not calendarTime, unixTime, columns_<column> or none", c.Timestamp)
	}
	if c.Line != LineEvent && c.Line != LineColumns {
		return fmt.Errorf("line: %q is not event or columns", c.Line)
	}
	if c.Malformed != MalformedPass && c.Malformed != MalformedDrop {
		return fmt.Errorf("malformed: %q is not pass or drop", c.Malformed)
	}
	if c.LongLabelValues != LongValuesTruncate && c.LongLabelValues != LongValuesDrop {
		return fmt.Errorf("long_label_values: %q is not truncate or drop", c.LongLabelValues)
	}
	if c.MaxLabelValueLength < 1 {
		return fmt.Errorf("max_label_value_length: %d must be at least 1", c.MaxLabelValueLength)
	}
	if c.MaxLabelValues < 1 {
		return fmt.Errorf("max_label_values: %d must be at least 1", c.MaxLabelValues)
	}
	if c.GlogHost != GlogHostNone && c.GlogHost != GlogHostHostname {
		return fmt.Errorf("glog_host: %q is not none or hostname", c.GlogHost)
	}
	return nil
}

// hostname is os.Hostname, replaced in tests.
var hostname = os.Hostname

func validPrefix(key, p string) error {
	if p == "" {
		return nil
	}
	if !model.LegacyValidation.IsValidLabelName(string(p+"x")) || strings.HasPrefix(p, "__") {
		return fmt.Errorf("%s: %q cannot start a label name (letters, digits and _, not a digit first, not __)", key, p)
	}
	return nil
}
