package stages

import (
	"bytes"
	"errors"
	"text/template"
)

func init() {
	Register("template", func() Config { return &TemplateConfig{} })
}

// TemplateConfig is the body of a template stage: Template (Go text/template)
// is rendered with the extracted values and the result stored under Source.
type TemplateConfig struct {
	Source   string `yaml:"source"`
	Template string `yaml:"template"`
}

// NewStage parses the template once.
func (c *TemplateConfig) NewStage(Options) (Stage, error) {
	if c.Source == "" {
		return nil, errors.New("template source value is required")
	}
	t, err := newStageTemplate(c.Template)
	if err != nil {
		return nil, err
	}
	return &templateStage{source: c.Source, tmpl: t, data: make(map[string]any)}, nil
}

type templateStage struct {
	source string
	tmpl   *template.Template
	data   map[string]any // reused for every entry
	buf    bytes.Buffer
}

func (s *templateStage) Process(e *Entry, next func(*Entry)) {
	fillTemplateData(s.data, e.Extracted)
	if v, ok := s.data[s.source]; ok {
		s.data["Value"] = v
	}
	s.data["Entry"] = e.Line
	s.buf.Reset()
	err := s.tmpl.Execute(&s.buf, s.data)
	clear(s.data)
	if err != nil {
		next(e)
		return
	}
	// An empty result removes the value, which lets a template unset a key.
	if s.buf.Len() == 0 {
		delete(e.Extracted, s.source)
	} else {
		writableExtracted(e)[s.source] = s.buf.String()
	}
	next(e)
}

// fillTemplateData puts every extracted value that has a text form into data,
// as text: templates compare and print strings, whatever the value's type was.
func fillTemplateData(data map[string]any, extracted map[string]any) {
	for k, v := range extracted {
		if s, err := stringify(v); err == nil {
			data[k] = s
		}
	}
}
