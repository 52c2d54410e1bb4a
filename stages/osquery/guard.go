package osquery

import "unicode/utf8"

// maxInterned bounds the interning cache: hostile input full of distinct
// names must not grow it without end. When full it starts over.
const maxInterned = 4096

// interner returns one shared string per distinct byte sequence, so the
// label values that repeat on every line (query names, hosts, actions,
// decorations) cost no allocation after their first line. It remembers
// whether each one is valid UTF-8, which Loki requires of label values.
type interner struct {
	m map[string]interned
}

type interned struct {
	s     string
	valid bool
	box   any // s boxed once for the extracted map
}

func (in *interner) get(b []byte) interned {
	if v, ok := in.m[string(b)]; ok {
		return v
	}
	if in.m == nil || len(in.m) >= maxInterned {
		in.m = make(map[string]interned, 64)
	}
	s := string(b)
	v := interned{s: s, valid: utf8.Valid(b), box: s}
	in.m[s] = v
	return v
}

// maxTrackedValues bounds the memory of the cardinality guard across all
// scopes (about 100 bytes a value). Past it, values not yet seen are refused.
const maxTrackedValues = 1 << 17

// guard limits how many distinct values a label may take within a scope:
// a decoration on one host, a promoted column on one query. A decoration
// such as uptime, or a column such as pid, would otherwise make a new stream
// on every line. Values already seen keep being accepted, so the streams
// that exist stay stable; only new values are refused once the limit is hit.
type guard struct {
	limit   int
	tracked int
	scopes  map[string]*scope
	last    *scope // lines come in runs from one host and one query
}

type scope struct {
	key    string
	labels []*valueSet
}

type valueSet struct {
	label  string
	n      int
	values []string            // while n <= linearScanMax
	index  map[string]struct{} // after that
	warned bool
}

const linearScanMax = 8

// admit reports whether label=value may be set within scopeKey, and if not
// why; refusedFirst is true the first time a label is refused in a scope, for
// one log line instead of one per entry.
func (g *guard) admit(scopeKey, label, value string) (ok bool, reason dropReason, refusedFirst bool) {
	sc := g.last
	if sc == nil || sc.key != scopeKey {
		sc = g.scopes[scopeKey]
	}
	var vs *valueSet
	if sc != nil {
		g.last = sc
		for _, s := range sc.labels {
			if s.label == label {
				vs = s
				break
			}
		}
	}
	if vs != nil && vs.contains(value) {
		return true, 0, false
	}
	switch {
	case vs != nil && vs.n >= g.limit:
		first := !vs.warned
		vs.warned = true
		return false, dropTooManyValues, first
	case g.tracked >= maxTrackedValues:
		return false, dropGuardFull, false
	}
	if sc == nil {
		if g.scopes == nil {
			g.scopes = make(map[string]*scope)
		}
		sc = &scope{key: scopeKey}
		g.scopes[scopeKey] = sc
		g.last = sc
	}
	if vs == nil {
		vs = &valueSet{label: label}
		sc.labels = append(sc.labels, vs)
	}
	vs.add(value)
	g.tracked++
	return true, 0, false
}

func (vs *valueSet) contains(v string) bool {
	if vs.index != nil {
		_, ok := vs.index[v]
		return ok
	}
	for _, x := range vs.values {
		if x == v {
			return true
		}
	}
	return false
}

func (vs *valueSet) add(v string) {
	vs.n++
	if vs.index != nil {
		vs.index[v] = struct{}{}
		return
	}
	vs.values = append(vs.values, v)
	if len(vs.values) > linearScanMax {
		vs.index = make(map[string]struct{}, 2*len(vs.values))
		for _, x := range vs.values {
			vs.index[x] = struct{}{}
		}
		vs.values = nil
	}
}
