package stages

import "github.com/promtail-osquery/promtail-osquery/internal/jsonscan"

// Most json stages only pull a few fields out by name (osquery's name,
// hostIdentifier, decorations.host_uuid). For those, building the whole
// document as map[string]any and running JMESPath over it costs far more than
// the extraction itself. jsonFieldPaths walks the line once with the same
// parser rules as parseJSONObject, decodes only the values the expressions
// reach, and validates everything else without allocating. Any document it
// rejects is handed to the general path, which has the final say.

// jsonPathNode is one object key on the way to the extracted values.
type jsonPathNode struct {
	key      string
	depth    int
	children []*jsonPathNode
	// ends lists the expressions whose path ends at this key.
	ends []int
	// under lists every expression that ends at or below this key: a later
	// duplicate key replaces all of their values.
	under []int
}

func (n *jsonPathNode) child(key string) *jsonPathNode {
	for _, c := range n.children {
		if c.key == key {
			return c
		}
	}
	return nil
}

type jsonFieldPaths struct {
	root   jsonPathNode
	paths  [][]string
	values []any
}

// newJSONFieldPaths builds the walker for exprs, or returns nil when one of
// them is more than a chain of identifiers.
func newJSONFieldPaths(exprs []string) *jsonFieldPaths {
	f := &jsonFieldPaths{values: make([]any, len(exprs))}
	for i, expr := range exprs {
		path, ok := parseJMESFieldPath(expr)
		if !ok {
			return nil
		}
		f.paths = append(f.paths, path)
		node := &f.root
		for depth, key := range path {
			next := node.child(key)
			if next == nil {
				next = &jsonPathNode{key: key, depth: depth + 1}
				node.children = append(node.children, next)
			}
			next.under = append(next.under, i)
			node = next
		}
		node.ends = append(node.ends, i)
	}
	return f
}

// parseJMESFieldPath splits a JMESPath expression made only of identifiers
// joined by dots, with no whitespace. Quoted identifiers are accepted when
// they hold no escape sequence, so their text is the key itself.
func parseJMESFieldPath(expr string) ([]string, bool) {
	var path []string
	for i := 0; ; {
		if i >= len(expr) {
			return nil, false
		}
		start := i
		if expr[i] == '"' {
			i++
			for i < len(expr) && expr[i] != '"' {
				if expr[i] == '\\' || expr[i] < ' ' {
					return nil, false
				}
				i++
			}
			if i >= len(expr) || i == start+1 {
				return nil, false
			}
			path = append(path, expr[start+1:i])
			i++
		} else {
			if !isJMESIdentStart(expr[i]) {
				return nil, false
			}
			for i < len(expr) && (isJMESIdentStart(expr[i]) || (expr[i] >= '0' && expr[i] <= '9')) {
				i++
			}
			path = append(path, expr[start:i])
		}
		if i == len(expr) {
			return path, true
		}
		if expr[i] != '.' {
			return nil, false
		}
		i++
	}
}

func isJMESIdentStart(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
}

// extract fills f.values from the document s, with nil for paths it lacks,
// exactly as JMESPath would over parseJSONObject's result. It reports false
// when s is not a document it accepts.
func (f *jsonFieldPaths) extract(s string) bool {
	clear(f.values)
	p := jsonParser{s: s}
	switch p.next() {
	case 'n':
		if !p.literal("ull") {
			return false
		}
	case '{':
		if f.object(&p, &f.root, true) != nil {
			return false
		}
	default:
		return false
	}
	return p.next() == 0
}

// object mirrors jsonParser.object, key rules included, after '{'.
func (f *jsonFieldPaths) object(p *jsonParser, node *jsonPathNode, topLevel bool) error {
	p.depth++
	if p.depth > maxJSONDepth {
		return errJSONSyntax
	}
	defer func() { p.depth-- }()
	c := p.next()
	if c == '}' {
		return nil
	}
	first := true
	for {
		var key string
		switch {
		case c == '"':
			k, err := p.str()
			if err != nil {
				return err
			}
			key = k
		case c == 'n' && (topLevel || !first):
			if !p.literal("ull") {
				return errJSONSyntax
			}
		default:
			return errJSONSyntax
		}
		first = false
		if p.next() != ':' {
			return errJSONSyntax
		}
		var err error
		if child := node.child(key); child != nil {
			err = f.member(p, child)
		} else {
			err = p.skipValue()
		}
		if err != nil {
			return err
		}
		switch p.next() {
		case ',':
			c = p.next()
		case '}':
			return nil
		default:
			return errJSONSyntax
		}
	}
}

// member reads the value of a key some expression goes through.
func (f *jsonFieldPaths) member(p *jsonParser, node *jsonPathNode) error {
	if len(node.ends) > 0 {
		v, err := p.value()
		if err != nil {
			return err
		}
		for _, i := range node.under {
			f.values[i] = lookupJSONPath(v, f.paths[i][node.depth:])
		}
		return nil
	}
	for _, i := range node.under {
		f.values[i] = nil
	}
	if p.peek() == '{' {
		p.i++
		return f.object(p, node, false)
	}
	return p.skipValue()
}

// lookupJSONPath follows keys through decoded objects; like JMESPath, a key
// of anything but an object yields nil.
func lookupJSONPath(v any, path []string) any {
	for _, key := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[key]
	}
	return v
}

// peek returns the next non-whitespace byte without consuming it; 0 at the end.
func (p *jsonParser) peek() byte {
	for ; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; c {
		case ' ', '\n', '\t', '\r':
		default:
			return c
		}
	}
	return 0
}

// skipValue accepts exactly what value accepts, without building anything.
func (p *jsonParser) skipValue() error {
	c := p.next()
	switch {
	case c == '"':
		return p.skipStr()
	case c == '{':
		return p.skipObject()
	case c == '[':
		return p.skipArray()
	case c == 't':
		if p.literal("rue") {
			return nil
		}
	case c == 'f':
		if p.literal("alse") {
			return nil
		}
	case c == 'n':
		if p.literal("ull") {
			return nil
		}
	case c == '-':
		_, err := p.positiveNumber()
		return err
	case c >= '0' && c <= '9':
		p.i--
		_, err := p.positiveNumber()
		return err
	}
	return errJSONSyntax
}

// skipObject mirrors object for a nested object, after '{'.
func (p *jsonParser) skipObject() error {
	p.depth++
	if p.depth > maxJSONDepth {
		return errJSONSyntax
	}
	defer func() { p.depth-- }()
	c := p.next()
	if c == '}' {
		return nil
	}
	first := true
	for {
		switch {
		case c == '"':
			if err := p.skipStr(); err != nil {
				return err
			}
		case c == 'n' && !first:
			if !p.literal("ull") {
				return errJSONSyntax
			}
		default:
			return errJSONSyntax
		}
		first = false
		if p.next() != ':' {
			return errJSONSyntax
		}
		if err := p.skipValue(); err != nil {
			return err
		}
		switch p.next() {
		case ',':
			c = p.next()
		case '}':
			return nil
		default:
			return errJSONSyntax
		}
	}
}

// skipArray mirrors array, after '['.
func (p *jsonParser) skipArray() error {
	p.depth++
	if p.depth > maxJSONDepth {
		return errJSONSyntax
	}
	defer func() { p.depth-- }()
	if p.next() == ']' {
		return nil
	}
	p.i--
	for {
		if err := p.skipValue(); err != nil {
			return err
		}
		switch p.next() {
		case ',':
		case ']':
			return nil
		default:
			return errJSONSyntax
		}
	}
}

// skipStr mirrors str after the opening quote: raw control characters are
// rejected only before the first escape, and escapes are checked by escape
// itself into a scratch buffer.
func (p *jsonParser) skipStr() error {
	p.i = jsonscan.IndexSpecial(p.s, p.i)
	if p.i == len(p.s) {
		return errJSONSyntax
	}
	switch p.s[p.i] {
	case '"':
		p.i++
		return nil
	case '\\':
	default:
		return errJSONSyntax
	}
	var scratch [8]byte
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case '"':
			return nil
		case '\\':
			if _, err := p.escape(scratch[:0]); err != nil {
				return err
			}
		}
	}
	return errJSONSyntax
}
