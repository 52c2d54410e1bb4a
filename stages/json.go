package stages

import (
	"errors"
	"fmt"
	"slices"

	"github.com/jmespath/go-jmespath"
)

func init() {
	Register("json", func() Config { return &JSONConfig{} })
}

// JSONConfig is the body of a json stage: each expression is a JMESPath query
// over the parsed line (or over the extracted value named by Source), and its
// result is stored in the extracted map under the expression's name.
type JSONConfig struct {
	// Expressions maps an extracted name to a JMESPath expression; an empty
	// expression means the name itself.
	Expressions map[string]string `yaml:"expressions"`
	// Source is the extracted value to parse instead of the line.
	Source *string `yaml:"source"`
	// DropMalformed drops entries whose input is not a JSON object.
	DropMalformed bool `yaml:"drop_malformed"`
}

type jsonExpression struct {
	name  string
	query *jmespath.JMESPath
}

// NewStage compiles every expression once.
func (c *JSONConfig) NewStage(Options) (Stage, error) {
	if len(c.Expressions) == 0 {
		return nil, errors.New("JMES expression is required")
	}
	if c.Source != nil && *c.Source == "" {
		return nil, errors.New("empty source")
	}
	s := &jsonStage{dropMalformed: c.DropMalformed}
	if c.Source != nil {
		s.source, s.hasSource = *c.Source, true
	}
	names := make([]string, 0, len(c.Expressions))
	exprs := make([]string, 0, len(c.Expressions))
	for name := range c.Expressions {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		expr := c.Expressions[name]
		if expr == "" {
			expr = name
		}
		q, err := jmespath.Compile(expr)
		if err != nil {
			return nil, fmt.Errorf("could not compile JMES expression: %w", err)
		}
		s.expressions = append(s.expressions, jsonExpression{name: name, query: q})
		exprs = append(exprs, expr)
	}
	s.fields = newJSONFieldPaths(exprs)
	return s, nil
}

type jsonStage struct {
	expressions   []jsonExpression
	source        string
	hasSource     bool
	dropMalformed bool
	buf           []byte
	// fields is set when every expression is a plain field path; stages run
	// on one goroutine at a time, so its scratch values need no lock.
	fields *jsonFieldPaths
}

// ExtractedKeys implements ExtractedReader.
func (s *jsonStage) ExtractedKeys() ([]string, bool) {
	if !s.hasSource {
		return nil, false
	}
	return []string{s.source}, false
}

func (s *jsonStage) Process(e *Entry, next func(*Entry)) {
	input := e.Line
	if s.hasSource {
		v, ok := e.Extracted[s.source]
		if !ok {
			next(e)
			return
		}
		str, err := stringify(v)
		if err != nil {
			next(e)
			return
		}
		input = str
	}
	if s.fields != nil && s.fields.extract(input) {
		extracted := writableExtracted(e)
		for i, x := range s.expressions {
			storeJSONValue(extracted, x.name, s.fields.values[i], &s.buf)
		}
		next(e)
		return
	}
	data, err := parseJSONObject(input)
	if err != nil {
		if !s.dropMalformed {
			next(e)
		}
		return
	}
	extracted := writableExtracted(e)
	for _, x := range s.expressions {
		r, err := x.query.Search(data)
		if err != nil {
			continue
		}
		storeJSONValue(extracted, x.name, r, &s.buf)
	}
	next(e)
}

// writableExtracted returns e's extracted map, creating it for an entry that
// reached a stage without going through Pipeline.Process (nested pipelines,
// tests).
func writableExtracted(e *Entry) map[string]any {
	if e.Extracted == nil {
		e.Extracted = make(map[string]any)
	}
	return e.Extracted
}
