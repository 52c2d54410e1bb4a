package osquery

import (
	"bytes"
	"encoding/binary"
	"slices"
	"unsafe"

	"github.com/promtail-osquery/promtail-osquery/stages"
)

// Most lines of a results log are event-format results, and with the
// stage's defaults at the end of a pipeline nothing reads their columns or
// extracted values: only labels and the time are wanted. Building fastjson's
// tree of the whole line, columns included, is then most of the stage's
// cost. The fast path reads such a line's top level with a scanner of its
// own, keeps the few texts labels and the time need, and steps over
// everything else. Whatever it is not sure of (an escaped string it would
// keep, a record without hostIdentifier, another format, JSON it reads
// differently from fastjson) goes to the full parse, so both paths give the
// same entries; FuzzFastPath holds them to it.

// eventText is what the fast path keeps of an event line. Every text is a
// slice of the line itself, which it must never write to.
type eventText struct {
	name, host, calendarTime, unixTime, epoch, action []byte
	hasName, hasHostKey, hasHost, hasUnix, hasEpoch   bool
	hasColumns, columnsObject                         bool
	decorations, topDecorations                       []decorationText
}

type decorationText struct {
	key, value []byte
	scalar     bool
}

// fastEvents reports whether a stage built from these options can take the
// fast path: nothing it produces needs more than the record's top level.
func (s *Stage) fastEvents() bool {
	return !s.extractAll && len(s.extractList) == 0 && len(s.sm) == 0 &&
		len(s.columns) == 0 && len(s.anyQueryColumns) == 0 &&
		!s.lineColumns && s.tsColumn == "" && !s.labelLogType
}

// processEvent handles text if it is an event line the fast path can read,
// and reports whether it did.
func (s *Stage) processEvent(e *stages.Entry, text string, next func(*stages.Entry)) bool {
	ev := &s.ev
	if !scanEvent(text, ev) {
		return false
	}
	s.ctr.record(formatEvent)
	s.eventLabels(ev)
	s.flat, s.recFlat = s.flat[:0], 0
	s.recTime, s.recTimeOK = s.timeFrom(ev.calendarTime, ev.unixTime, ev.hasUnix)
	s.emit(e, nil, formatEvent, nil, ev.action, text)
	next(e)
	return true
}

// labelMemo remembers the record labels of recent event lines by the texts
// they were made from: lines come from a few hosts and queries over and
// over, and one lookup then replaces a dozen (names, interned values, the
// guard). Only labels made without a value dropped or cut are kept, so that
// such drops are counted on every line; the guard never forgets a value it
// admitted, so admitting it again changes nothing. Bounded like the interner.
type labelMemo struct {
	m   map[string][]labelPair
	key []byte
}

// memoKey is the texts ev's record labels depend on, each written as its
// length plus one (0: absent) and its bytes, so that no two inputs share a
// key.
func (m *labelMemo) memoKey(ev *eventText) []byte {
	k := m.key[:0]
	field := func(b []byte, present bool) {
		if !present {
			k = append(k, 0)
			return
		}
		k = binary.AppendUvarint(k, uint64(len(b))+1)
		k = append(k, b...)
	}
	field(ev.name, ev.hasName)
	field(ev.host, ev.hasHost)
	field(ev.epoch, ev.hasEpoch)
	k = binary.AppendUvarint(k, uint64(len(ev.decorations)))
	for _, d := range ev.decorations {
		field(d.key, true)
		field(d.value, d.scalar)
	}
	k = binary.AppendUvarint(k, uint64(len(ev.topDecorations)))
	for _, d := range ev.topDecorations {
		field(d.key, true)
		field(d.value, true)
	}
	m.key = k
	return k
}

// eventLabels sets s.recLabels for a scanned event line.
func (s *Stage) eventLabels(ev *eventText) {
	key := s.memo.memoKey(ev)
	if labels, ok := s.memo.m[string(key)]; ok {
		s.recLabels = append(s.recLabels[:0], labels...)
		return
	}
	changes := s.ctr.changes
	s.recLabels = s.recLabels[:0]
	s.makeEventLabels(ev)
	if s.ctr.changes != changes {
		return
	}
	if s.memo.m == nil || len(s.memo.m) >= maxInterned {
		s.memo.m = make(map[string][]labelPair, 64)
	}
	s.memo.m[string(key)] = slices.Clone(s.recLabels)
}

// makeEventLabels is recordLabels for a scanned event line, in the same
// order: decorations first, then the record's own labels.
func (s *Stage) makeEventLabels(ev *eventText) {
	var host interned
	if ev.hasHost {
		host = s.intern.get(ev.host)
	}
	if s.decorationsAll || len(s.decorationNames) > 0 {
		for _, d := range ev.decorations {
			s.decorationLabelPair("decorations", d.key, d.value, d.scalar, host.s)
		}
		for _, d := range ev.topDecorations {
			s.decorationLabelPair("", d.key, d.value, true, host.s)
		}
	}
	if s.labelName && ev.hasName {
		s.pushLabel("name", s.intern.get(ev.name))
	}
	if s.labelHost && host.s != "" {
		s.pushLabel("host", host)
	}
	if s.labelFormat {
		s.pushLabel("format", interned{s: formatNames[formatEvent], valid: true})
	}
	if s.labelEpoch && ev.hasEpoch {
		s.pushLabel("epoch", s.intern.get(ev.epoch))
	}
}

// scanEvent reads the top level of an event line into ev, reusing its
// slices. A duplicated key counts once, its last value, as record.read
// reads it.
func scanEvent(text string, ev *eventText) bool {
	*ev = eventText{decorations: ev.decorations[:0], topDecorations: ev.topDecorations[:0]}
	sc := jsonScan{b: unsafe.Slice(unsafe.StringData(text), len(text))}
	sc.ws()
	if sc.i == len(sc.b) || sc.b[sc.i] != '{' {
		return false
	}
	ok := sc.container(1, func(key []byte, escaped bool) bool {
		if escaped {
			return false
		}
		var k kind
		switch string(key) {
		case "name":
			ev.name, k = sc.scalar()
			ev.hasName = k >= kindOther
		case "hostIdentifier":
			ev.host, k = sc.scalar()
			ev.hasHostKey, ev.hasHost = true, k >= kindOther
		case "calendarTime":
			ev.calendarTime, k = sc.scalar()
			if k != kindString {
				ev.calendarTime = nil
			}
		case "unixTime":
			ev.unixTime, k = sc.scalar()
			ev.hasUnix = k >= kindOther
		case "epoch":
			ev.epoch, k = sc.scalar()
			ev.hasEpoch = k >= kindOther
		case "action":
			ev.action, k = sc.scalar()
			if k != kindString {
				ev.action = nil
			}
		case "decorations":
			ev.decorations = ev.decorations[:0]
			if sc.peek() != '{' {
				return sc.skip(1)
			}
			return sc.container(2, func(dkey []byte, escaped bool) bool {
				if escaped {
					return false
				}
				v, k := sc.scalar()
				ev.decorations = append(ev.decorations, decorationText{key: dkey, value: v, scalar: k >= kindOther})
				return k != kindFailed
			})
		case "columns":
			ev.hasColumns, ev.columnsObject = true, sc.peek() == '{'
			return sc.skip(1)
		case "counter", "numerics", "logNumericsAsNumbers", "snapshot", "diffResults",
			"severity", "message", "log_type", "data", "node_key", "filename", "line", "version":
			return sc.skip(1)
		default:
			// osquery defines no other key: with --decorations_top_level,
			// a string here is a decoration.
			if sc.peek() != '"' {
				return sc.skip(1)
			}
			var v []byte
			v, k = sc.scalar()
			ev.topDecorations = append(ev.topDecorations, decorationText{key: key, value: v, scalar: true})
		}
		return k != kindFailed
	})
	if !ok {
		return false
	}
	sc.ws()
	return sc.i == len(sc.b) && ev.hasColumns && ev.columnsObject && ev.hasHostKey
}

// kind is what a value read for its text turned out to be.
type kind int

const (
	kindFailed kind = iota // not read: the caller gives up
	kindNone               // null, an object or an array: no text
	kindOther              // a number, true or false, as written
	kindString             // a string without escapes, its contents
)

// scanMaxDepth bounds nesting; fastjson allows deeper, and such lines go to
// it.
const scanMaxDepth = 64

// jsonScan steps through JSON text the way fastjson's parser does, so that
// what it accepts fastjson accepts too. Where being exact would take more
// (escapes in texts it keeps, numbers fastjson reads loosely, deep nesting)
// it fails instead, and the line goes to fastjson.
type jsonScan struct {
	b []byte
	i int
}

func (sc *jsonScan) ws() {
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

func (sc *jsonScan) peek() byte {
	if sc.i < len(sc.b) {
		return sc.b[sc.i]
	}
	return 0
}

// container reads the object or array at sc.i. An object's members are
// read key first; value, when not nil, is then called at the member's value
// with the raw key and must step over the value. Without value, and for an
// array's elements, values are stepped over here.
func (sc *jsonScan) container(depth int, value func(key []byte, escaped bool) bool) bool {
	if depth > scanMaxDepth {
		return false
	}
	object := sc.b[sc.i] == '{'
	end := byte(']')
	if object {
		end = '}'
	}
	sc.i++
	sc.ws()
	if sc.peek() == end {
		sc.i++
		return true
	}
	for {
		sc.ws()
		ok := true
		if object {
			if sc.peek() != '"' {
				return false
			}
			var key []byte
			var escaped bool
			if key, escaped, ok = sc.str(); !ok {
				return false
			}
			sc.ws()
			if sc.peek() != ':' {
				return false
			}
			sc.i++
			sc.ws()
			if value != nil {
				ok = value(key, escaped)
			} else {
				ok = sc.skip(depth)
			}
		} else {
			ok = sc.skip(depth)
		}
		if !ok {
			return false
		}
		sc.ws()
		switch sc.peek() {
		case ',':
			sc.i++
		case end:
			sc.i++
			return true
		default:
			return false
		}
	}
}

// str reads the string at sc.i and returns its raw contents, and whether
// they hold an escape.
func (sc *jsonScan) str() (raw []byte, escaped, ok bool) {
	start := sc.i + 1
	if escaped, ok = sc.skipString(); !ok {
		return nil, false, false
	}
	return sc.b[start : sc.i-1], escaped, true
}

// skipString steps over the string at sc.i and reports whether it holds an
// escape. A backslash escapes the byte after it, which ends the string where
// fastjson ends it: at the first quote after an even run of backslashes.
// Escapes themselves are left to whoever needs the contents. Most strings
// here are short keys and values, for which this loop costs less than a
// call to bytes.IndexByte.
func (sc *jsonScan) skipString() (escaped, ok bool) {
	for i := sc.i + 1; i < len(sc.b); i++ {
		switch sc.b[i] {
		case '"':
			sc.i = i + 1
			return escaped, true
		case '\\':
			escaped = true
			i++
		}
	}
	return false, false
}

// scalar reads the value at sc.i for its text.
func (sc *jsonScan) scalar() ([]byte, kind) {
	switch sc.peek() {
	case '"':
		raw, escaped, ok := sc.str()
		if !ok || escaped {
			return nil, kindFailed
		}
		return raw, kindString
	case '{', '[', 'n':
		if !sc.skip(1) {
			return nil, kindFailed
		}
		return nil, kindNone
	}
	start := sc.i
	if !sc.skip(1) {
		return nil, kindFailed
	}
	return sc.b[start:sc.i], kindOther
}

// skip steps over the value at sc.i.
func (sc *jsonScan) skip(depth int) bool {
	switch sc.peek() {
	case '{', '[':
		return sc.container(depth+1, nil)
	case '"':
		_, ok := sc.skipString()
		return ok
	case 't':
		return sc.literal("true")
	case 'f':
		return sc.literal("false")
	case 'n':
		return sc.literal("null")
	}
	start := sc.i
	for sc.i < len(sc.b) && isNumberByte(sc.b[sc.i]) {
		sc.i++
	}
	return validNumber(sc.b[start:sc.i])
}

func (sc *jsonScan) literal(word string) bool {
	if !bytes.HasPrefix(sc.b[sc.i:], []byte(word)) {
		return false
	}
	sc.i += len(word)
	return true
}

// isNumberByte is what fastjson reads as part of a number; validNumber then
// holds the run to JSON's grammar.
func isNumberByte(c byte) bool {
	return isDigit(c) || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E'
}
