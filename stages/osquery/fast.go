package osquery

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"reflect"
	"slices"
	"unsafe"

	"github.com/prometheus/common/model"

	"github.com/promtail-osquery/promtail-osquery/internal/jsonscan"
	"github.com/promtail-osquery/promtail-osquery/stages"
)

// Most lines of a results log are event-format results, and with the
// stage's defaults at the end of a pipeline nothing reads their columns or
// extracted values: only labels and the time are wanted. Building fastjson's
// tree of the whole line, columns included, is then most of the stage's
// cost. The fast path reads such a line's top level with a scanner of its
// own, keeps the few texts labels and the time need, and steps over
// everything else. Whatever it is not sure of (an escaped string it would
// keep, a record without hostIdentifier, another format, JSON that is not
// strictly valid) goes to the full parse, so both paths give the same
// entries; FuzzFastPath holds them to it. The scanner is the one the
// osquery_tls target splits request bodies with (internal/jsonscan).

// eventText is what the fast path keeps of an event line. Every text is a
// slice of the line itself, which it must never write to.
type eventText struct {
	name, host, calendarTime, unixTime, epoch, action []byte
	hasName, hasHostKey, hasHost, hasUnix, hasEpoch   bool
	columnsObject                                     bool
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
	e.Labels = s.eventLabelSet(ev, e.Labels)
	s.recTime, s.recTimeOK = s.timeFrom(ev.calendarTime, ev.unixTime, ev.hasUnix)
	s.finish(e, nil, formatEvent, nil, ev.action, text)
	next(e)
	return true
}

// eventLabelSet returns the label set of a scanned event line: the labels
// in, which it never writes into, with the record's labels and the action
// over them. Under stages.Options.LabelsShared, the sets made from a memo
// entry are kept in it, one per arriving label set and action, and handed to
// every line of that kind: lines from a few hosts and queries share a few
// sets instead of each getting a new map, and a client finds a stream by the
// set itself. A set holding a value dropped or cut is never kept, so that
// every such drop is counted.
func (s *Stage) eventLabelSet(ev *eventText, in model.LabelSet) model.LabelSet {
	m := s.eventLabels(ev)
	if m != nil && s.shareLabels {
		for _, v := range m.sets {
			if v.action == string(ev.action) && sameLabels(v.in, in) {
				return v.set
			}
		}
	}
	if m != nil {
		s.recLabels = append(s.recLabels[:0], m.labels...)
	}
	changes := s.ctr.changes
	ls := make(model.LabelSet, len(in)+len(s.recLabels)+1)
	maps.Copy(ls, in)
	s.writeLabels(ls, nil, ev.action)
	if m != nil && s.shareLabels && s.ctr.changes == changes && len(m.sets) < maxSetsPerRecord {
		m.sets = append(m.sets, sharedSet{in: in, action: s.intern.get(ev.action).s, set: ls})
	}
	return ls
}

// sameLabels tells whether two label sets hold the same labels, at once when
// they are one map (a target's, handed with each of its lines).
func sameLabels(a, b model.LabelSet) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer() || maps.Equal(a, b)
}

// labelMemo remembers the record labels of recent event lines by the texts
// they were made from: lines come from a few hosts and queries over and
// over, and one lookup then replaces a dozen (names, interned values, the
// guard). Only labels made without a value dropped or cut are kept, so that
// such drops are counted on every line; the guard never forgets a value it
// admitted, so admitting it again changes nothing. Bounded like the interner.
type labelMemo struct {
	m   map[string]*memoEntry
	key []byte
}

// memoEntry is what the memo keeps for one kind of record: its labels and,
// under LabelsShared, the label sets made from them.
type memoEntry struct {
	labels []labelPair
	sets   []sharedSet
}

// sharedSet is a label set made for lines that arrived with in and carried
// action. A few per record: the arriving labels are a target's.
type sharedSet struct {
	in     model.LabelSet
	action string
	set    model.LabelSet
}

// maxSetsPerRecord bounds the sets one memo entry keeps; lines of further
// kinds get a set each.
const maxSetsPerRecord = 8

// memoKey is the texts the record labels of ev depend on under this
// stage's options, each written as its length plus one (0: absent) and its
// bytes, each list of decorations ended by a 0 (a key is never absent), so
// that no two inputs share a key. Texts no label is made from (a decoration
// not promoted, the name or epoch when not labels) stay out, so that a value
// changing on every line does not defeat the memo.
func (s *Stage) memoKey(ev *eventText) []byte {
	k := s.memo.key[:0]
	field := func(b []byte, present bool) {
		if !present {
			k = append(k, 0)
			return
		}
		k = binary.AppendUvarint(k, uint64(len(b))+1)
		k = append(k, b...)
	}
	field(ev.host, ev.hasHost)
	field(ev.name, s.labelName && ev.hasName)
	field(ev.epoch, s.labelEpoch && ev.hasEpoch)
	decorations := func(ds []decorationText) {
		for _, d := range ds {
			if s.promoted(d.key) {
				field(d.key, true)
				field(d.value, d.scalar)
			}
		}
		k = append(k, 0)
	}
	decorations(ev.decorations)
	decorations(ev.topDecorations)
	s.memo.key = k
	return k
}

// promoted tells whether decoration key becomes a label.
func (s *Stage) promoted(key []byte) bool {
	return s.decorationsAll || s.decorationNames[string(key)]
}

// eventLabels returns the memo entry of a scanned event line's record
// labels, or nil when they were made with a value dropped or cut (they are
// then in s.recLabels, and such labels are never memoized, so that every
// drop is counted).
func (s *Stage) eventLabels(ev *eventText) *memoEntry {
	key := s.memoKey(ev)
	if m, ok := s.memo.m[string(key)]; ok {
		return m
	}
	changes := s.ctr.changes
	s.recLabels = s.recLabels[:0]
	s.makeEventLabels(ev)
	if s.ctr.changes != changes {
		return nil
	}
	if s.memo.m == nil || len(s.memo.m) >= maxInterned {
		s.memo.m = make(map[string]*memoEntry, 64)
	}
	m := &memoEntry{labels: slices.Clone(s.recLabels)}
	s.memo.m[string(key)] = m
	return m
}

// makeEventLabels is recordLabels for a scanned event line, in the same
// order: decorations first, then the record's own labels.
func (s *Stage) makeEventLabels(ev *eventText) {
	var host interned
	if ev.hasHost {
		host = s.intern.get(ev.host)
	}
	for _, d := range ev.decorations {
		s.decorationLabelPair("decorations", d.key, d.value, d.scalar, host.s)
	}
	for _, d := range ev.topDecorations {
		s.decorationLabelPair("", d.key, d.value, true, host.s)
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
	sc := jsonscan.Scanner{B: unsafe.Slice(unsafe.StringData(text), len(text)), MaxDepth: scanMaxDepth}
	sc.WS()
	if sc.Peek() != '{' {
		return false
	}
	err := sc.Object(func(quoted []byte) error {
		key, ok := unescaped(quoted)
		if !ok {
			return errUnsure
		}
		var k kind
		switch string(key) {
		case "name":
			ev.name, k = scalar(&sc)
			ev.hasName = k >= kindOther
		case "hostIdentifier":
			ev.host, k = scalar(&sc)
			ev.hasHostKey, ev.hasHost = true, k >= kindOther
		case "calendarTime":
			ev.calendarTime, k = scalar(&sc)
			if k != kindString {
				ev.calendarTime = nil
			}
		case "unixTime":
			ev.unixTime, k = scalar(&sc)
			ev.hasUnix = k >= kindOther
		case "epoch":
			ev.epoch, k = scalar(&sc)
			ev.hasEpoch = k >= kindOther
		case "action":
			ev.action, k = scalar(&sc)
			if k != kindString {
				ev.action = nil
			}
		case "decorations":
			ev.decorations = ev.decorations[:0]
			if sc.Peek() != '{' {
				return sc.Value()
			}
			return sc.Object(func(quoted []byte) error {
				dkey, ok := unescaped(quoted)
				if !ok {
					return errUnsure
				}
				v, k := scalar(&sc)
				if k == kindFailed {
					return errUnsure
				}
				ev.decorations = append(ev.decorations, decorationText{key: dkey, value: v, scalar: k >= kindOther})
				return nil
			})
		case "columns":
			ev.columnsObject = sc.Peek() == '{'
			return sc.Value()
		default:
			// A key osquery does not write, holding a string, is a
			// decoration (--decorations_top_level).
			if knownKey(string(key)) || sc.Peek() != '"' {
				return sc.Value()
			}
			var v []byte
			v, k = scalar(&sc)
			ev.topDecorations = append(ev.topDecorations, decorationText{key: key, value: v, scalar: true})
		}
		if k == kindFailed {
			return errUnsure
		}
		return nil
	})
	return err == nil && sc.AtEnd() && ev.columnsObject && ev.hasHostKey
}

// errUnsure stops the scan of a line the fast path leaves to fastjson.
var errUnsure = errors.New("left to the full parse")

// kind is what a value read for its text turned out to be.
type kind int

const (
	kindFailed kind = iota // not read: the caller gives up
	kindNone               // null, an object or an array: no text
	kindOther              // a number, true or false, as written
	kindString             // a string without escapes, its contents
)

// scanMaxDepth bounds nesting below fastjson's limit (300), so that what the
// scanner accepts fastjson accepts too.
const scanMaxDepth = 64

// scalar reads the value at sc.I for its text: a string's contents when it
// has no escapes (fastjson would unescape them; such lines take the full
// parse), a number, true or false as written.
func scalar(sc *jsonscan.Scanner) ([]byte, kind) {
	switch sc.Peek() {
	case '"':
		quoted, err := sc.String()
		if err != nil {
			return nil, kindFailed
		}
		text, ok := unescaped(quoted)
		if !ok {
			return nil, kindFailed
		}
		return text, kindString
	case '{', '[', 'n':
		if sc.Value() != nil {
			return nil, kindFailed
		}
		return nil, kindNone
	}
	start := sc.I
	if sc.Value() != nil {
		return nil, kindFailed
	}
	return sc.B[start:sc.I], kindOther
}

// unescaped returns the contents of a quoted string, and false when it holds
// an escape.
func unescaped(quoted []byte) ([]byte, bool) {
	text := quoted[1 : len(quoted)-1]
	return text, bytes.IndexByte(text, '\\') < 0
}
