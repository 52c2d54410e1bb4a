package stages

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// The match stage's selector is the part of LogQL that Promtail understands:
//
//	{name="value", name!="value", name=~"regex", name!~"regex"} |= "text" != "text" |~ "regex" !~ "regex"
//
// At least one label matcher is required; any number of line filters may
// follow. Strings are double-quoted with Go escapes. Label regexes are anchored
// (as in Prometheus), line filter regexes are not (as in LogQL).

// selector is a parsed match selector.
type selector struct {
	matchers []*labels.Matcher
	filters  []lineFilter
}

type filterOp int

const (
	filterContains filterOp = iota
	filterNotContains
	filterMatches
	filterNotMatches
)

type lineFilter struct {
	op   filterOp
	text string
	re   *regexp.Regexp
}

func (f *lineFilter) keeps(line string) bool {
	switch f.op {
	case filterContains:
		return strings.Contains(line, f.text)
	case filterNotContains:
		return !strings.Contains(line, f.text)
	case filterMatches:
		return f.re.MatchString(line)
	default:
		return !f.re.MatchString(line)
	}
}

// matches reports whether an entry with these labels and this line is selected.
// A label the entry lacks has the empty value, as in Prometheus.
func (s *selector) matches(ls model.LabelSet, line string) bool {
	for _, m := range s.matchers {
		if !m.Matches(string(ls[model.LabelName(m.Name)])) {
			return false
		}
	}
	for i := range s.filters {
		if !s.filters[i].keeps(line) {
			return false
		}
	}
	return true
}

// selectorError is a syntax error at a position of the selector text.
type selectorError struct {
	line, col int
	msg       string
}

func (e *selectorError) Error() string {
	return fmt.Sprintf("parse error at line %d, col %d: %s", e.line, e.col, e.msg)
}

type tokenKind int

const (
	tokEOF tokenKind = iota
	tokLeftBrace
	tokRightBrace
	tokComma
	tokEq       // =
	tokNotEq    // !=
	tokRegexEq  // =~
	tokNotRegex // !~
	tokPipeEq   // |=
	tokPipeRe   // |~
	tokIdent
	tokString
	tokRawString
)

var tokenNames = [...]string{
	tokEOF:        "end of input",
	tokLeftBrace:  "{",
	tokRightBrace: "}",
	tokComma:      ",",
	tokEq:         "=",
	tokNotEq:      "!=",
	tokRegexEq:    "=~",
	tokNotRegex:   "!~",
	tokPipeEq:     "|=",
	tokPipeRe:     "|~",
	tokIdent:      "IDENTIFIER",
	tokString:     "STRING",
	tokRawString:  "`raw string` (Promtail's match selector takes only double-quoted strings)",
}

type token struct {
	kind      tokenKind
	text      string // identifier name or unquoted string value
	line, col int
}

// selectorLexer cuts the selector into tokens, tracking line and column (in
// characters, from 1) for error messages.
type selectorLexer struct {
	input     string
	pos       int
	line, col int
}

func (l *selectorLexer) errorf(line, col int, format string, args ...any) error {
	return &selectorError{line: line, col: col, msg: fmt.Sprintf(format, args...)}
}

// advance moves past n bytes that hold no newline.
func (l *selectorLexer) advance(n int) {
	l.col += utf8.RuneCountInString(l.input[l.pos : l.pos+n])
	l.pos += n
}

func (l *selectorLexer) next() (token, error) {
	for l.pos < len(l.input) {
		c := l.input[l.pos]
		if c == '\n' {
			l.pos++
			l.line++
			l.col = 1
			continue
		}
		if c != ' ' && c != '\t' && c != '\r' {
			break
		}
		l.advance(1)
	}
	tok := token{line: l.line, col: l.col}
	if l.pos >= len(l.input) {
		tok.kind = tokEOF
		return tok, nil
	}
	rest := l.input[l.pos:]
	for _, op := range [...]struct {
		text string
		kind tokenKind
	}{
		{"!=", tokNotEq}, {"!~", tokNotRegex}, {"=~", tokRegexEq}, {"|=", tokPipeEq}, {"|~", tokPipeRe},
		{"=", tokEq}, {"{", tokLeftBrace}, {"}", tokRightBrace}, {",", tokComma},
	} {
		if strings.HasPrefix(rest, op.text) {
			tok.kind = op.kind
			l.advance(len(op.text))
			return tok, nil
		}
	}
	switch c := rest[0]; {
	case c == '"':
		return l.quoted(tok)
	case c == '`':
		tok.kind = tokRawString
		return tok, nil
	case isIdentStart(c):
		n := 1
		for n < len(rest) && isIdentPart(rest[n]) {
			n++
		}
		tok.kind, tok.text = tokIdent, rest[:n]
		l.advance(n)
		return tok, nil
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return tok, l.errorf(tok.line, tok.col, "syntax error: unexpected character %q", r)
}

// quoted reads a double-quoted string with Go escapes.
func (l *selectorLexer) quoted(tok token) (token, error) {
	rest := l.input[l.pos:]
	end := 1
	for ; end < len(rest); end++ {
		switch rest[end] {
		case '\\':
			end++
			continue
		case '\n':
			return tok, l.errorf(tok.line, tok.col, "syntax error: newline in string")
		case '"':
			value, err := strconv.Unquote(rest[:end+1])
			if err != nil {
				return tok, l.errorf(tok.line, tok.col, "syntax error: invalid string %s: %v", rest[:end+1], err)
			}
			tok.kind, tok.text = tokString, value
			l.advance(end + 1)
			return tok, nil
		}
	}
	return tok, l.errorf(tok.line, tok.col, "syntax error: unterminated string")
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentPart(c byte) bool {
	return isIdentStart(c) || (c >= '0' && c <= '9')
}

// selectorParser reads one token ahead.
type selectorParser struct {
	lex *selectorLexer
	tok token
}

func (p *selectorParser) advance() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *selectorParser) unexpected(expecting string) error {
	return p.lex.errorf(p.tok.line, p.tok.col, "syntax error: unexpected %s, expecting %s", tokenNames[p.tok.kind], expecting)
}

// expect checks the current token's kind and moves past it.
func (p *selectorParser) expect(kind tokenKind) (token, error) {
	t := p.tok
	if t.kind != kind {
		return t, p.unexpected(tokenNames[kind])
	}
	return t, p.advance()
}

// parseSelector parses a match stage selector and compiles its regexes.
func parseSelector(input string) (*selector, error) {
	p := &selectorParser{lex: &selectorLexer{input: input, line: 1, col: 1}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if _, err := p.expect(tokLeftBrace); err != nil {
		return nil, err
	}
	sel := &selector{}
	for {
		m, err := p.matcher()
		if err != nil {
			return nil, err
		}
		sel.matchers = append(sel.matchers, m)
		if p.tok.kind == tokRightBrace {
			if err := p.advance(); err != nil {
				return nil, err
			}
			break
		}
		if p.tok.kind != tokComma {
			return nil, p.unexpected(", or }")
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	for p.tok.kind != tokEOF {
		f, err := p.filter()
		if err != nil {
			return nil, err
		}
		sel.filters = append(sel.filters, f)
	}
	return sel, nil
}

func (p *selectorParser) matcher() (*labels.Matcher, error) {
	name, err := p.expect(tokIdent)
	if err != nil {
		return nil, err
	}
	var mt labels.MatchType
	switch p.tok.kind {
	case tokEq:
		mt = labels.MatchEqual
	case tokNotEq:
		mt = labels.MatchNotEqual
	case tokRegexEq:
		mt = labels.MatchRegexp
	case tokNotRegex:
		mt = labels.MatchNotRegexp
	default:
		return nil, p.unexpected("=, !=, =~ or !~")
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	value, err := p.expect(tokString)
	if err != nil {
		return nil, err
	}
	m, err := labels.NewMatcher(mt, name.text, value.text)
	if err != nil {
		return nil, p.lex.errorf(value.line, value.col, "invalid regex in label matcher %s: %v", name.text, err)
	}
	return m, nil
}

func (p *selectorParser) filter() (lineFilter, error) {
	var f lineFilter
	switch p.tok.kind {
	case tokPipeEq:
		f.op = filterContains
	case tokNotEq:
		f.op = filterNotContains
	case tokPipeRe:
		f.op = filterMatches
	case tokNotRegex:
		f.op = filterNotMatches
	default:
		return f, p.unexpected("|=, !=, |~, !~ or end of input")
	}
	op := p.tok
	if err := p.advance(); err != nil {
		return f, err
	}
	value, err := p.expect(tokString)
	if err != nil {
		return f, err
	}
	f.text = value.text
	if f.op == filterMatches || f.op == filterNotMatches {
		re, err := regexp.Compile(value.text)
		if err != nil {
			return f, p.lex.errorf(value.line, value.col, "invalid regex in line filter %s: %v", tokenNames[op.kind], err)
		}
		f.re = re
	}
	return f, nil
}
