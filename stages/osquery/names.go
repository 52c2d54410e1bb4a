package osquery

import (
	"strings"
	"unicode/utf8"
)

// sanitizeName turns a JSON key into the name LogQL's `| json` gives it:
// surrounding spaces trimmed, every character other than an ASCII letter,
// digit or underscore replaced by one underscore, and, for a key that starts
// a name, an underscore put in front of a leading digit. An already valid key
// is returned as is.
func sanitizeName(key string) string { return sanitize(key, true) }

func sanitize(key string, first bool) string {
	key = strings.TrimSpace(key)
	if key == "" {
		return ""
	}
	if validNamePart(key, first) {
		return key
	}
	var b strings.Builder
	b.Grow(len(key) + 1)
	if first && isDigit(key[0]) {
		b.WriteByte('_')
	}
	for _, r := range key {
		if r < utf8.RuneSelf && isNameByte(byte(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func validNamePart(s string, first bool) bool {
	if s == "" || (first && isDigit(s[0])) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

func isNameByte(c byte) bool {
	return c == '_' || isDigit(c) || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// nameCache remembers the extracted name of each nested key, so that the
// keys every line repeats (decorations_host_uuid, columns_username, ...) are
// built once. Objects of one kind (the top level, a host's decorations, a
// query's columns) list their keys in the same order line after line, so a
// key is first compared with the one at the same position last time, which
// costs less than a map lookup. Bounded like the interner.
type nameCache struct {
	m     map[string]string
	key   []byte
	lists map[listKey]*keyList
}

type listKey struct{ prefix, scope string }

// keyList is the last object's keys in order, with their names and, for
// rows, their values: a query's rows repeat many values (a login's type,
// tty, user) that then need no new allocation.
type keyList struct {
	prefix string
	raw    []string
	names  []string
	values []string
	boxes  []any
}

// recall returns the boxed value of position i if it was b last time.
func (kl *keyList) recall(i int, b []byte) (any, bool) {
	if i < len(kl.values) && kl.boxes[i] != nil && kl.values[i] == string(b) {
		return kl.boxes[i], true
	}
	return nil, false
}

// remember keeps the value of position i for the next row.
func (kl *keyList) remember(i int, v string, box any) {
	if i >= len(kl.raw) {
		return
	}
	for len(kl.values) < len(kl.raw) {
		kl.values = append(kl.values, "")
		kl.boxes = append(kl.boxes, nil)
	}
	kl.values[i], kl.boxes[i] = v, box
}

// list returns the positional cache for objects named prefix within scope
// (a query name for columns, "" otherwise).
func (c *nameCache) list(prefix, scope string) *keyList {
	k := listKey{prefix, scope}
	if kl, ok := c.lists[k]; ok {
		return kl
	}
	if c.lists == nil || len(c.lists) >= maxInterned {
		c.lists = make(map[listKey]*keyList, 16)
	}
	kl := &keyList{prefix: prefix}
	c.lists[k] = kl
	return kl
}

// at returns the name of key k, the i-th key of an object kl caches.
func (c *nameCache) at(kl *keyList, i int, k []byte) string {
	if i < len(kl.raw) && kl.raw[i] == string(k) {
		return kl.names[i]
	}
	n := c.get(kl.prefix, k)
	if i <= len(kl.raw) {
		kl.raw = append(kl.raw[:i], string(k))
		kl.names = append(kl.names[:i], n)
		if len(kl.values) > i {
			kl.values, kl.boxes = kl.values[:i], kl.boxes[:i]
		}
	}
	return n
}

// get returns the name `| json` gives key k inside the object named prefix
// ("" at the top level), or "" when the key has no usable name.
func (c *nameCache) get(prefix string, k []byte) string {
	c.key = append(append(append(c.key[:0], prefix...), 0), k...)
	if n, ok := c.m[string(c.key)]; ok {
		return n
	}
	var n string
	if part := sanitize(string(k), prefix == ""); part != "" {
		n = part
		if prefix != "" {
			n = prefix + "_" + part
		}
	}
	if c.m == nil || len(c.m) >= maxInterned {
		c.m = make(map[string]string, 64)
	}
	c.m[string(c.key)] = n
	return n
}
