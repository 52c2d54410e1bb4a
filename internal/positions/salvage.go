package positions

import (
	"bytes"
	"errors"
	"strings"

	"gopkg.in/yaml.v2"
)

const (
	// headerLine is the first line of every positions file Promtail or this package writes, but
	// for an empty table, which is the single line emptyHeader.
	headerLine  = "positions:"
	emptyHeader = "positions: {}"
	// byteOrderMark is skipped by the YAML decoder, and so by the salvage (an editor may add it).
	byteOrderMark = "\ufeff"
)

// errCutShort is the damage reported for a file that decodes but whose last record has no line end:
// a plain value cut in the middle (a cursor, say) still decodes, so the line end is the only proof
// that the record is whole.
var errCutShort = errors.New("last line has no line end (file cut short)")

// decoded is what a positions file yields.
type decoded struct {
	entries map[string]string
	// damage is nil for a sound file. Otherwise the file was salvaged: entries holds the records
	// that were whole, dropped counts the records and stray lines that were not, and damage says why
	// the file as a whole was rejected.
	damage  error
	dropped int
}

// decode reads a positions file. A sound file gives its table. A damaged file whose first line is
// the positions header (or a piece of it) is salvaged record by record. Anything else is not a
// positions file at all and gives an error, which the caller treats as Promtail does.
func decode(data []byte) (decoded, error) {
	entries, err := parse(data)
	if err == nil && !endsInCutRecord(data) {
		return decoded{entries: entries}, nil
	}
	salvaged, ok := salvage(data)
	switch {
	case ok && err != nil:
		salvaged.damage = err
		return salvaged, nil
	case ok:
		salvaged.damage = errCutShort
		return salvaged, nil
	case err != nil:
		return decoded{}, err
	default:
		// Decodes, ends without a line end, but is not laid out as a written file (a hand-made flow
		// mapping, say): nothing tells a cut from a missing line end, so take it as Promtail does.
		return decoded{entries: entries}, nil
	}
}

// endsInCutRecord reports whether the last line is an indented, non-blank line without a line end:
// a record (or part of one) that the writer had not finished.
func endsInCutRecord(data []byte) bool {
	if len(data) == 0 || data[len(data)-1] == '\n' {
		return false
	}
	last := data[bytes.LastIndexByte(data, '\n')+1:]
	return last[0] == ' ' && !isBlank(last)
}

type line struct {
	text       []byte // without the line end
	terminated bool
}

func splitLines(data []byte) []line {
	var lines []line
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			lines = append(lines, line{text: data})
			break
		}
		lines = append(lines, line{text: data[:i], terminated: true})
		data = data[i+1:]
	}
	return lines
}

func isBlank(b []byte) bool {
	return len(bytes.Trim(b, " \t\r")) == 0
}

func indentOf(b []byte) int {
	return len(b) - len(bytes.TrimLeft(b, " "))
}

// isHeader accepts "positions:" followed by nothing but blanks or a comment.
func isHeader(b []byte) bool {
	rest, ok := bytes.CutPrefix(b, []byte(headerLine))
	if !ok {
		return false
	}
	rest = bytes.TrimLeft(rest, " \t")
	return len(bytes.TrimRight(rest, "\r")) == 0 || rest[0] == '#'
}

// isValueLine is the ": value" half of a "? key" record, written for keys YAML cannot put on one
// line (longer than 128 bytes, or holding line breaks).
func isValueLine(b []byte) bool {
	rest, ok := bytes.CutPrefix(bytes.TrimLeft(b, " "), []byte(":"))
	return ok && (len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\r')
}

// salvage recovers the whole records of a damaged file laid out as the writer lays it out: the
// header line, then one record per key at a common indentation, continued on deeper-indented lines.
// Each record is decoded on its own by the YAML decoder, so quoting and escaping are YAML's. ok is
// false when the file does not start like a positions file; it is true, with no entries, for a file
// cut inside its header.
func salvage(data []byte) (d decoded, ok bool) {
	lines := splitLines(bytes.TrimPrefix(data, []byte(byteOrderMark)))
	first := 0
	for first < len(lines) && lines[first].terminated && (isBlank(lines[first].text) || lines[first].text[0] == '#') {
		first++
	}
	if first == len(lines) {
		return decoded{}, false
	}
	header := lines[first]
	if !header.terminated && strings.HasPrefix(emptyHeader, string(bytes.TrimRight(header.text, "\r"))) {
		return decoded{entries: map[string]string{}}, true
	}
	if !header.terminated || !isHeader(header.text) {
		return decoded{}, false
	}

	s := salvager{entries: map[string]string{}, indent: recordIndent(lines[first+1:])}
	for _, l := range lines[first+1:] {
		s.add(l)
	}
	s.closeRecord()
	for key := range s.conflicts {
		delete(s.entries, key)
	}
	return decoded{entries: s.entries, dropped: s.dropped}, true
}

type salvager struct {
	entries map[string]string
	// conflicts are keys found twice with different values: neither can be trusted.
	conflicts map[string]struct{}
	dropped   int
	indent    int
	record    []line
}

// recordIndent is the indentation of the records: the smallest of the indented lines, since the
// lines that continue a record are indented deeper (or as deep, for the ": value" of a "? key").
// Taking the first indented line instead would let a damaged record's continuation set it.
func recordIndent(lines []line) int {
	indent := 0
	for _, l := range lines {
		if isBlank(l.text) {
			continue
		}
		if n := indentOf(l.text); n > 0 && (indent == 0 || n < indent) {
			indent = n
		}
	}
	return indent
}

func (s *salvager) add(l line) {
	switch {
	case isBlank(l.text):
		// Kept inside a record: a blank line is content in a multi-line scalar.
		if s.record != nil {
			s.record = append(s.record, l)
		}
		return
	case l.text[0] == '#':
		s.closeRecord()
		return
	}
	indent := indentOf(l.text)
	switch {
	case indent == 0 || indent < s.indent:
		s.closeRecord()
		s.dropped++
	case indent == s.indent && !isValueLine(l.text):
		s.closeRecord()
		s.record = []line{l}
	case s.record != nil:
		s.record = append(s.record, l)
	default:
		// A continuation with no record to continue: its start was damaged.
		s.dropped++
	}
}

func (s *salvager) closeRecord() {
	record := s.record
	s.record = nil
	if record == nil {
		return
	}
	var buf bytes.Buffer
	buf.WriteString(headerLine + "\n")
	for _, l := range record {
		if !l.terminated && !isBlank(l.text) {
			s.dropped++
			return
		}
		buf.Write(l.text)
		buf.WriteByte('\n')
	}
	var f readFormat
	if err := yaml.UnmarshalStrict(buf.Bytes(), &f); err != nil {
		s.dropped++
		return
	}
	for key, val := range f.Positions {
		if val == nil {
			s.dropped++
			continue
		}
		s.keep(key, *val)
	}
}

func (s *salvager) keep(key, val string) {
	if _, bad := s.conflicts[key]; bad {
		s.dropped++
		return
	}
	prev, seen := s.entries[key]
	switch {
	case !seen:
		s.entries[key] = val
	case prev != val:
		if s.conflicts == nil {
			s.conflicts = map[string]struct{}{}
		}
		s.conflicts[key] = struct{}{}
		s.dropped += 2
	}
}
