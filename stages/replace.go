package stages

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"text/template"
)

func init() {
	Register("replace", func() Config { return &ReplaceConfig{} })
}

// ReplaceConfig is the body of a replace stage: every capture group of every
// match of Expression, in the line or in the extracted value Source, is
// replaced by Replace rendered as a template (.Value is the captured text).
type ReplaceConfig struct {
	Expression string  `yaml:"expression"`
	Source     *string `yaml:"source"`
	Replace    string  `yaml:"replace"`
}

// NewStage compiles the expression and the replacement template once.
func (c *ReplaceConfig) NewStage(opts Options) (Stage, error) {
	if c.Expression == "" {
		return nil, errors.New("expression is required")
	}
	if c.Source != nil && *c.Source == "" {
		return nil, errors.New("empty source in replace stage")
	}
	re, err := regexp.Compile(c.Expression)
	if err != nil {
		return nil, fmt.Errorf("could not compile regular expression: %w", err)
	}
	s := &replaceStage{re: re, groups: namedGroups(re), data: make(map[string]any), logger: loggerOf(opts)}
	if c.Source != nil {
		s.source, s.hasSource = *c.Source, true
	}
	// Promtail parses the replacement for every matching line and, when it does
	// not parse, leaves the line alone; it still starts. Keep starting, but say
	// so once instead of failing silently forever.
	if s.tmpl, err = newStageTemplate(c.Replace); err != nil {
		s.logger.Warn("replace stage template does not parse; matching lines will be left unchanged", "err", err)
		s.tmpl = nil
	}
	return s, nil
}

type replaceStage struct {
	re        *regexp.Regexp
	groups    []namedGroup
	source    string
	hasSource bool
	tmpl      *template.Template
	logger    *slog.Logger

	// Reused for every entry.
	data     map[string]any
	rendered []capturedText
	buf      bytes.Buffer
	out      strings.Builder
}

// capturedText pairs a captured string with its rendered replacement.
type capturedText struct {
	captured, replacement string
}

func (s *replaceStage) Process(e *Entry, next func(*Entry)) {
	input, ok := sourceText(e, s.source, s.hasSource)
	if !ok {
		next(e)
		return
	}
	matches := s.re.FindAllStringSubmatchIndex(input, -1)
	if matches == nil || s.tmpl == nil {
		next(e)
		return
	}
	fillTemplateData(s.data, e.Extracted)
	result, err := s.replaceAll(input, matches)
	clear(s.data)
	if err != nil {
		s.logger.Debug("replace template failed", "err", err)
		next(e)
		return
	}
	extracted := writableExtracted(e)
	if s.hasSource {
		extracted[s.source] = result
	} else {
		e.Line = result
	}
	// A named group gets the replacement of the text it captured in the first
	// match (Promtail looks the first match's text up among all replacements).
	first := matches[0]
	for _, g := range s.groups {
		text := ""
		if first[2*g.index] >= 0 {
			text = input[first[2*g.index]:first[2*g.index+1]]
		}
		if r, ok := s.replacementOf(text); ok {
			extracted[g.name] = r
		}
	}
	next(e)
}

// replaceAll renders the template for every participating group of every match
// and splices the results into input. A group nested inside one already
// replaced is rendered but not spliced.
func (s *replaceStage) replaceAll(input string, matches [][]int) (string, error) {
	s.rendered = s.rendered[:0]
	s.out.Reset()
	prevEnd := 0
	for _, m := range matches {
		for i := 2; i < len(m); i += 2 {
			start, end := m[i], m[i+1]
			if start < 0 {
				continue
			}
			captured := input[start:end]
			s.data["Value"] = captured
			s.buf.Reset()
			if err := s.tmpl.Execute(&s.buf, s.data); err != nil {
				return "", err
			}
			replacement := s.buf.String()
			if prevEnd <= start {
				s.out.WriteString(input[prevEnd:start])
				s.out.WriteString(replacement)
				prevEnd = end
			}
			s.rendered = append(s.rendered, capturedText{captured: captured, replacement: replacement})
		}
	}
	s.out.WriteString(input[prevEnd:])
	return s.out.String(), nil
}

// replacementOf returns the last replacement rendered for text.
func (s *replaceStage) replacementOf(text string) (string, bool) {
	for i := len(s.rendered) - 1; i >= 0; i-- {
		if s.rendered[i].captured == text {
			return s.rendered[i].replacement, true
		}
	}
	return "", false
}
