package stages

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/go-logfmt/logfmt"
)

func init() {
	Register("logfmt", func() Config { return &LogfmtConfig{} })
}

// LogfmtConfig is the body of a logfmt stage: Mapping names the extracted keys
// to fill from logfmt keys of the line (or of the extracted value Source).
type LogfmtConfig struct {
	// Mapping maps an extracted name to a logfmt key; empty means the same name.
	Mapping map[string]string `yaml:"mapping"`
	Source  *string           `yaml:"source"`
}

// NewStage inverts the mapping once, so each key of a line is one lookup.
func (c *LogfmtConfig) NewStage(opts Options) (Stage, error) {
	if len(c.Mapping) == 0 {
		return nil, errors.New("logfmt mapping is required")
	}
	if c.Source != nil && *c.Source == "" {
		return nil, errors.New("empty source")
	}
	s := &logfmtStage{byKey: make(map[string]string, len(c.Mapping)), logger: loggerOf(opts)}
	for name, key := range c.Mapping {
		if key == "" {
			key = name
		}
		s.byKey[key] = name
	}
	if c.Source != nil {
		s.source, s.hasSource = *c.Source, true
	}
	return s, nil
}

type logfmtStage struct {
	byKey     map[string]string // logfmt key -> extracted name
	source    string
	hasSource bool
	logger    *slog.Logger
	reader    strings.Reader
}

func (s *logfmtStage) Process(e *Entry, next func(*Entry)) {
	input, ok := sourceText(e, s.source, s.hasSource)
	if !ok {
		next(e)
		return
	}
	extracted := writableExtracted(e)
	s.reader.Reset(input)
	dec := logfmt.NewDecoder(&s.reader)
	// Every record (line of the input) is read; a later value of a key wins.
	// Values read before a syntax error are kept, as in Promtail.
	for dec.ScanRecord() {
		for dec.ScanKeyval() {
			if name, ok := s.byKey[string(dec.Key())]; ok {
				extracted[name] = string(dec.Value())
			}
		}
	}
	if err := dec.Err(); err != nil {
		s.logger.Debug("failed to decode logfmt", "err", err)
	}
	next(e)
}
