package stages

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/prometheus/common/model"
)

func init() {
	Register("eventlogmessage", func() Config { return &EventLogMessageConfig{} })
}

// EventLogMessageConfig is the body of an eventlogmessage stage, which splits a
// Windows event message ("Key: Value" lines joined by CRLF) into extracted
// values.
type EventLogMessageConfig struct {
	// Source is the extracted key holding the message; "message" when unset.
	Source *string `yaml:"source"`
	// DropInvalidLabels skips keys that are not valid label names instead of
	// replacing their invalid characters with "_".
	DropInvalidLabels bool `yaml:"drop_invalid_labels"`
	// OverwriteExisting lets a key replace an extracted value of the same name;
	// otherwise the key gets the suffix "_extracted".
	OverwriteExisting bool `yaml:"overwrite_existing"`
}

// NewStage implements Config.
func (c *EventLogMessageConfig) NewStage(opts Options) (Stage, error) {
	source := "message"
	if c.Source != nil {
		if !model.LegacyValidation.IsValidLabelName(*c.Source) {
			return nil, fmt.Errorf("invalid label name: %s", *c.Source)
		}
		source = *c.Source
	}
	return &eventLogMessageStage{
		source:    source,
		dropBad:   c.DropInvalidLabels,
		overwrite: c.OverwriteExisting,
		logger:    opts.Logger,
	}, nil
}

type eventLogMessageStage struct {
	source    string
	dropBad   bool
	overwrite bool
	logger    *slog.Logger
}

// Process implements Stage. An entry whose message has no text form (a map, a
// list, a JSON null) is dropped, as Promtail drops it.
func (s *eventLogMessageStage) Process(e *Entry, next func(*Entry)) {
	v, ok := e.Extracted[s.source]
	if !ok {
		next(e)
		return
	}
	msg, err := stringify(v)
	if err != nil {
		s.logger.Warn("eventlogmessage source has no text form, dropping the entry", "source", s.source, "err", err)
		return
	}
	for rest := msg; ; {
		line, more, found := strings.Cut(rest, "\r\n")
		s.extractLine(e.Extracted, line)
		if !found {
			break
		}
		rest = more
	}
	next(e)
}

// extractLine stores one "Key: Value" line; lines without a colon are ignored.
func (s *eventLogMessageStage) extractLine(extracted map[string]any, line string) {
	key, value, ok := strings.Cut(line, ":")
	if !ok {
		return
	}
	if !model.LegacyValidation.IsValidLabelName(key) {
		if s.dropBad {
			return
		}
		key = sanitizeLabelName(key)
	}
	if _, exists := extracted[key]; exists && !s.overwrite {
		key += "_extracted"
	}
	value = strings.TrimSpace(value)
	if !model.LabelValue(value).IsValid() {
		return
	}
	extracted[key] = value
}

// sanitizeLabelName replaces every character that a legacy label name cannot
// hold (and a leading digit) with "_". One "_" stands for each invalid rune.
func sanitizeLabelName(name string) string {
	if name == "" {
		return "_"
	}
	var b strings.Builder
	b.Grow(len(name))
	for i, r := range name {
		valid := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if valid {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
