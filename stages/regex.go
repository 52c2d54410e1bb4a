package stages

import (
	"errors"
	"fmt"
	"regexp"
)

func init() {
	Register("regex", func() Config { return &RegexConfig{} })
}

// RegexConfig is the body of a regex stage: the named capture groups of
// Expression, matched against the line or the extracted value Source, become
// extracted values.
type RegexConfig struct {
	Expression string  `yaml:"expression"`
	Source     *string `yaml:"source"`
}

// NewStage compiles the expression once.
func (c *RegexConfig) NewStage(Options) (Stage, error) {
	if c.Expression == "" {
		return nil, errors.New("expression is required")
	}
	if c.Source != nil && *c.Source == "" {
		return nil, errors.New("empty source")
	}
	re, err := regexp.Compile(c.Expression)
	if err != nil {
		return nil, fmt.Errorf("could not compile regular expression: %w", err)
	}
	s := &regexStage{re: re, groups: namedGroups(re)}
	if c.Source != nil {
		s.source, s.hasSource = *c.Source, true
	}
	return s, nil
}

type namedGroup struct {
	index int
	name  string
}

// namedGroups lists the named capture groups of re with their submatch index.
func namedGroups(re *regexp.Regexp) []namedGroup {
	var groups []namedGroup
	for i, name := range re.SubexpNames() {
		if i > 0 && name != "" {
			groups = append(groups, namedGroup{index: i, name: name})
		}
	}
	return groups
}

type regexStage struct {
	re        *regexp.Regexp
	groups    []namedGroup
	source    string
	hasSource bool
}

func (s *regexStage) Process(e *Entry, next func(*Entry)) {
	input, ok := sourceText(e, s.source, s.hasSource)
	if !ok {
		next(e)
		return
	}
	loc := s.re.FindStringSubmatchIndex(input)
	if loc == nil {
		next(e)
		return
	}
	extracted := writableExtracted(e)
	for _, g := range s.groups {
		// A group that took no part in the match yields "", as in Promtail.
		start, end := loc[2*g.index], loc[2*g.index+1]
		if start < 0 {
			extracted[g.name] = ""
			continue
		}
		extracted[g.name] = input[start:end]
	}
	next(e)
}
