package stages

import (
	"crypto/sha256"
	"crypto/sha3"
	"encoding/hex"
	"regexp"
	"strings"
	"sync"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

// templateFuncs is the function map of template and replace stages: Sprig's
// text functions plus the names Promtail adds. Built once; text/template copies
// it into each template.
var templateFuncs = sync.OnceValue(func() template.FuncMap {
	m := sprig.TxtFuncMap()
	m["ToLower"] = strings.ToLower
	m["ToUpper"] = strings.ToUpper
	m["Replace"] = strings.Replace
	m["Trim"] = strings.Trim
	m["TrimLeft"] = strings.TrimLeft
	m["TrimRight"] = strings.TrimRight
	m["TrimPrefix"] = strings.TrimPrefix
	m["TrimSuffix"] = strings.TrimSuffix
	m["TrimSpace"] = strings.TrimSpace
	m["Hash"] = func(salt, input string) string {
		sum := sha3.Sum256([]byte(salt + input))
		return hex.EncodeToString(sum[:])
	}
	m["Sha2Hash"] = func(salt, input string) string {
		sum := sha256.Sum256([]byte(salt + input))
		return hex.EncodeToString(sum[:])
	}
	return m
})

// maxCachedTemplateRegexes bounds the per-stage cache of patterns given to
// regexReplaceAll; a template that builds patterns from line content would
// otherwise grow it without end.
const maxCachedTemplateRegexes = 64

// templateRegexes compiles the patterns a template passes to regexReplaceAll
// and regexReplaceAllLiteral once per stage instead of once per line.
type templateRegexes struct {
	cache map[string]*regexp.Regexp
}

func (c *templateRegexes) compile(pattern string) (*regexp.Regexp, error) {
	if re, ok := c.cache[pattern]; ok {
		return re, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	if c.cache == nil {
		c.cache = make(map[string]*regexp.Regexp)
	}
	if len(c.cache) < maxCachedTemplateRegexes {
		c.cache[pattern] = re
	}
	return re, nil
}

// newStageTemplate parses text with the stage function map. The regex helpers
// are bound to a cache owned by this template; stages run on one goroutine at a
// time, so it needs no lock.
func newStageTemplate(text string) (*template.Template, error) {
	c := &templateRegexes{}
	return template.New("pipeline_template").
		Funcs(templateFuncs()).
		Funcs(template.FuncMap{
			"regexReplaceAll": func(pattern, s, repl string) (string, error) {
				re, err := c.compile(pattern)
				if err != nil {
					return "", err
				}
				return re.ReplaceAllString(s, repl), nil
			},
			"regexReplaceAllLiteral": func(pattern, s, repl string) (string, error) {
				re, err := c.compile(pattern)
				if err != nil {
					return "", err
				}
				return re.ReplaceAllLiteralString(s, repl), nil
			},
		}).
		Parse(text)
}
