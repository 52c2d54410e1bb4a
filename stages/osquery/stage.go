package osquery

import (
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/common/model"
	"github.com/valyala/fastjson"

	"github.com/promtail-osquery/promtail-osquery/stages"
)

// Stage is the osquery stage. Like every stage it is used by one goroutine
// at a time, which lets it keep its parser, caches and scratch buffers
// between lines without locks.
type Stage struct {
	log *slog.Logger
	ctr counters

	source        string
	split         bool
	lineColumns   bool
	dropMalformed bool
	maxLen        int
	dropLong      bool
	timestamp     string // calendarTime, unixTime, none, or "" with tsColumn set
	tsColumn      string // the column name of timestamp: columns_<name>
	glogLocation  *time.Location
	glogHost      interned // the host label of glog lines; empty for none

	// labels holds which record fields become labels.
	labelName, labelHost, labelAction, labelFormat, labelSeverity, labelEpoch, labelLogType bool

	decorationsAll   bool
	decorationNames  map[string]bool
	decorationPrefix string
	columnPrefix     string
	columns          map[string][]string
	anyQueryColumns  []string

	extractAll  bool
	extractList []string
	sm          []smField
	smSources   map[string]bool // extracted names sent as structured metadata, never as labels

	fast bool      // event lines may take the fast path (fast.go)
	ev   eventText // the fast path's record
	memo labelMemo
	// shareLabels: stages.Options.LabelsShared (see eventLabelSet).
	shareLabels bool
	parser      fastjson.Parser
	rec         record // the line's record (or a TLS body)
	item        record // a record inside a TLS body
	intern      interner
	names       nameCache

	decorationGuard guard
	columnGuard     guard
	decorationLabel map[string]model.LabelName // raw decoration key → label name, "" for a reserved one
	columnLabels    map[string][]columnLabel   // query name → its promoted columns

	// Per-record scratch, reused from line to line.
	recLabels  []labelPair
	flat       []flatField
	recFlat    int            // flat[:recFlat] are the record's own fields, the rest the row's
	lastValues []interned     // the previous record's flat values, by position
	extracted  map[string]any // reused; see freshExtracted
	fresh      bool           // the entry being filled already holds freshExtracted
	recTime    time.Time
	recTimeOK  bool
	query      string // the record's query name, "-" for none
	header     []byte // a split row's line up to its columns
	tmp        []byte
	arena      []byte
	lineBuf    []byte
	out        stages.Entry
}

type smField struct {
	name   model.LabelName
	source string
}

type labelPair struct {
	name  model.LabelName
	value string
}

type columnLabel struct {
	column string
	label  model.LabelName
}

// flatField is one value for the extracted map or structured metadata,
// named as LogQL's `| json` names it. Values that repeat from line to line
// (query, host, decorations, times) are boxed once, in the interner; a row's
// column values, which mostly do not, are boxed per entry from one arena.
type flatField struct {
	name       string
	box        any             // the value, ready for the extracted map
	v          *fastjson.Value // a column value still to box
	start, end int             // its bytes in the entry's arena
	kl         *keyList        // where to remember it for the next row
	slot       int
}

func newStage(c *Config, m *Metrics, logger *slog.Logger) *Stage {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Stage{
		log:              logger,
		ctr:              counters{m: m},
		source:           c.Source,
		split:            c.Split,
		lineColumns:      c.Line == LineColumns,
		dropMalformed:    c.Malformed == MalformedDrop,
		maxLen:           c.MaxLabelValueLength,
		dropLong:         c.LongLabelValues == LongValuesDrop,
		timestamp:        c.Timestamp,
		glogLocation:     time.Local,
		decorationsAll:   c.Decorations.Mode == SelectAll,
		decorationPrefix: c.DecorationPrefix,
		columnPrefix:     c.ColumnPrefix,
		columns:          map[string][]string{},
		extractAll:       c.Extract.Mode == SelectAll,
		decorationGuard:  guard{limit: c.MaxLabelValues},
		columnGuard:      guard{limit: c.MaxLabelValues},
		decorationLabel:  map[string]model.LabelName{},
		columnLabels:     map[string][]columnLabel{},
		smSources:        map[string]bool{},
	}
	if col, ok := strings.CutPrefix(c.Timestamp, "columns_"); ok {
		s.timestamp, s.tsColumn = "", col
	}
	if c.Decorations.Mode == "" {
		s.decorationNames = map[string]bool{}
		for _, n := range c.Decorations.Names {
			s.decorationNames[n] = true
		}
	}
	if c.Extract.Mode == "" {
		s.extractList = slices.Clone(c.Extract.Names)
	}
	for name, src := range c.StructuredMetadata {
		if src == "" {
			src = name
		}
		s.sm = append(s.sm, smField{name: model.LabelName(name), source: src})
		s.smSources[src] = true
	}
	sort.Slice(s.sm, func(i, j int) bool { return s.sm[i].name < s.sm[j].name })
	for _, l := range c.Labels {
		switch l {
		case "name":
			s.labelName = !s.smSources["name"]
		case "host":
			s.labelHost = !s.smSources["hostIdentifier"]
		case "action":
			s.labelAction = !s.smSources["action"]
		case "format":
			s.labelFormat = true
		case "severity":
			s.labelSeverity = !s.smSources["severity"]
		case "epoch":
			s.labelEpoch = !s.smSources["epoch"]
		case "log_type":
			s.labelLogType = !s.smSources["log_type"]
		}
	}
	for q, cols := range c.Columns {
		if q == "*" {
			s.anyQueryColumns = slices.Clone(cols)
			continue
		}
		s.columns[q] = slices.Clone(cols)
	}
	s.fast = s.fastEvents()
	return s
}

// ExtractedKeys implements stages.ExtractedReader: the stage reads an
// extracted value only to find its source.
func (s *Stage) ExtractedKeys() ([]string, bool) {
	if s.source == "" {
		return nil, false
	}
	return []string{s.source}, false
}

// MakesLabelSets implements stages.LabelSetMaker: the fast path makes (or
// shares) each entry's label set, and the other paths copy the set an entry
// arrives with before they write into it.
func (s *Stage) MakesLabelSets() bool { return true }

// Process turns one line into zero, one or many entries.
func (s *Stage) Process(e *stages.Entry, next func(*stages.Entry)) {
	text, ok := e.Line, true
	if s.source != "" {
		text, ok = e.Extracted[s.source].(string)
	}
	if ok && s.fast && s.processEvent(e, text, next) {
		return
	}
	e.Labels = e.Labels.Clone()
	if !ok {
		s.malformed(e, next, failSourceMissing)
		return
	}
	if !looksLikeJSON(text) {
		if g, ok := parseGlog(text); ok {
			s.glog(e, text, &g, next)
			return
		}
		s.malformed(e, next, failNotJSON)
		return
	}
	v, err := s.parser.Parse(text)
	if err != nil {
		s.malformed(e, next, failInvalidJSON)
		return
	}
	o, err := v.Object()
	if err != nil {
		s.malformed(e, next, failNotObject)
		return
	}
	s.rec.read(o)
	f, ok := s.rec.shape()
	if !ok {
		s.malformed(e, next, failUnknownShape)
		return
	}
	s.ctr.record(f)
	switch {
	case f == formatTLS:
		s.envelope(e, next)
	case (f == formatSnapshot || f == formatBatch) && s.split:
		s.splitRecord(e, &s.rec, f, next)
	default:
		s.prepare(&s.rec, f, false)
		var cols *fastjson.Object
		if f == formatEvent {
			cols, _ = s.rec.columns.Object()
		}
		line := text
		if s.lineColumns && cols != nil {
			s.lineBuf = appendObject(s.lineBuf[:0], cols)
			line = string(s.lineBuf)
		}
		s.emit(e, &s.rec, f, cols, actionBytes(s.rec.action), line)
		next(e)
	}
}

// looksLikeJSON tells JSON objects and arrays from text lines (glog status
// lines, glog file headers, anything else).
func looksLikeJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
			continue
		case '{', '[':
			return true
		}
		return false
	}
	return false
}

func (s *Stage) malformed(e *stages.Entry, next func(*stages.Entry), why failure) {
	s.ctr.failure(why)
	if !s.dropMalformed {
		next(e)
	}
}

func actionBytes(v *fastjson.Value) []byte {
	if v == nil {
		return nil
	}
	return v.GetStringBytes()
}

// envelope splits a TLS logger body, {"node_key","log_type","data":[...]},
// into its records. The node key is a credential: it is never copied
// anywhere.
func (s *Stage) envelope(e *stages.Entry, next func(*stages.Entry)) {
	logType := actionBytes(s.rec.logType)
	for _, it := range s.rec.data.GetArray() {
		o, err := it.Object()
		if err != nil {
			s.ctr.failure(failBadRow)
			continue
		}
		s.item.read(o)
		s.item.envelopeLogType = logType
		f, ok := s.item.shape()
		if !ok || f == formatTLS {
			s.ctr.failure(failBadRow)
			continue
		}
		s.ctr.record(f)
		if (f == formatSnapshot || f == formatBatch) && s.split {
			s.splitRecord(e, &s.item, f, next)
			continue
		}
		s.prepare(&s.item, f, false)
		var cols *fastjson.Object
		if f == formatEvent {
			cols, _ = s.item.columns.Object()
		}
		if s.lineColumns && cols != nil {
			s.lineBuf = appendObject(s.lineBuf[:0], cols)
		} else {
			s.lineBuf = appendObject(s.lineBuf[:0], o)
		}
		out := s.startOutput(e)
		s.emit(out, &s.item, f, cols, actionBytes(s.item.action), string(s.lineBuf))
		s.ctr.split(formatTLS)
		next(out)
	}
}

// splitRecord makes one entry per row of a snapshot or batch result, each
// line in osquery's event format; batch rows removed before added, as
// osquery writes them.
func (s *Stage) splitRecord(e *stages.Entry, r *record, f format, next func(*stages.Entry)) {
	s.prepare(r, f, true)
	emitRows := func(rows []*fastjson.Value, act string) {
		for _, row := range rows {
			cols, err := row.Object()
			if err != nil {
				s.ctr.failure(failBadRow)
				continue
			}
			if s.lineColumns {
				s.lineBuf = appendObject(s.lineBuf[:0], cols)
			} else {
				s.lineBuf = appendRowTail(append(s.lineBuf[:0], s.header...), r, cols, act)
			}
			out := s.startOutput(e)
			s.emit(out, r, f, cols, []byte(act), string(s.lineBuf))
			s.ctr.split(f)
			next(out)
		}
	}
	if f == formatSnapshot {
		emitRows(r.snapshot.GetArray(), "snapshot")
		return
	}
	emitRows(r.diffResults.GetArray("removed"), "removed")
	emitRows(r.diffResults.GetArray("added"), "added")
}

// startOutput readies the stage's reusable entry as a copy of the input
// entry, for one of several entries made from it. Each gets its own labels
// (the client keeps them) and a fresh copy of the input's extracted values
// in the stage's reused map (later stages may write into it).
func (s *Stage) startOutput(e *stages.Entry) *stages.Entry {
	o := &s.out
	o.Labels = make(model.LabelSet, len(e.Labels)+len(s.recLabels)+2)
	maps.Copy(o.Labels, e.Labels)
	o.Extracted = s.freshExtracted(e.Extracted)
	s.fresh = true
	o.Timestamp = e.Timestamp
	o.Line = e.Line
	o.StructuredMetadata = slices.Clone(e.StructuredMetadata)
	o.Ack = e.Ack
	return o
}

// prepare computes what every entry of record r shares: labels, the
// record's own extracted fields, the timestamp and, for split rows, the
// start of the line.
func (s *Stage) prepare(r *record, f format, header bool) {
	s.recLabels = s.recLabels[:0]
	s.recordLabels(r, f)
	s.flat = s.flat[:0]
	if s.extractAll {
		s.flattenRecord(r)
		if f != formatStatus {
			s.flat = append(s.flat, flatField{name: "first_run", box: "false"})
		}
	}
	s.recFlat = len(s.flat)
	s.recTime, s.recTimeOK = s.recordTime(r)
	if s.extractAll || len(s.columns) > 0 || len(s.anyQueryColumns) > 0 {
		s.query = s.queryName(r)
	}
	if header {
		s.header = appendHeader(s.header[:0], r)
	}
}

// emit fills out for one row (cols, nil for records without rows) of r,
// out's labels being its own (Process copied them, startOutput made them).
func (s *Stage) emit(out *stages.Entry, r *record, f format, cols *fastjson.Object, act []byte, line string) {
	s.writeLabels(out.Labels, cols, act)
	s.finish(out, r, f, cols, act, line)
}

// writeLabels writes the labels of one row into ls. Later labels win:
// columns, then decorations, then the record's own.
func (s *Stage) writeLabels(ls model.LabelSet, cols *fastjson.Object, act []byte) {
	if cols != nil {
		s.columnLabelsFor(ls, cols)
	}
	for _, l := range s.recLabels {
		ls[l.name] = model.LabelValue(l.value)
	}
	if s.labelAction && len(act) > 0 {
		s.setLabel(ls, "action", s.intern.get(act), nil, "")
	}
}

// finish fills out with everything of one row but its labels.
func (s *Stage) finish(out *stages.Entry, r *record, f format, cols *fastjson.Object, act []byte, line string) {
	switch {
	case s.extractAll:
		s.flat = s.flat[:s.recFlat]
		if len(act) > 0 {
			s.flat = append(s.flat, flatField{name: "action", box: s.intern.get(act).box})
		}
		if f != formatStatus && s.firstRun(r, f, act) {
			// replaces the record's "false": the later entry wins
			s.flat = append(s.flat, flatField{name: "first_run", box: "true"})
		}
		if cols != nil {
			s.flattenObject("columns", cols, s.query)
		}
		s.writeFlat(out)
	case len(s.extractList) > 0 || len(s.sm) > 0:
		s.writeSelected(out, r, f, cols, act)
	}
	switch {
	case s.tsColumn != "" && cols != nil:
		if t, ok := parseUnixSeconds(s.columnText(cols, s.tsColumn)); ok {
			out.Timestamp = t
		} else if s.recTimeOK {
			out.Timestamp = s.recTime
		}
	case s.recTimeOK:
		out.Timestamp = s.recTime
	}
	out.Line = line
	s.fresh = false
	s.ctr.entry(f, actionOf(act))
}

// firstRun is osquery's initial dump of a differential query (counter 0):
// every row it already had, all "added". Snapshots always carry counter 0
// and are never a first run.
func (s *Stage) firstRun(r *record, f format, act []byte) bool {
	if f == formatSnapshot || string(act) == "snapshot" {
		return false
	}
	b, ok := s.scalar(r.counter)
	return ok && isZero(b)
}

func (s *Stage) recordTime(r *record) (time.Time, bool) {
	if s.timestamp == TimestampNone {
		return time.Time{}, false
	}
	var cal []byte
	if r.calendarTime != nil {
		cal = r.calendarTime.GetStringBytes()
	}
	if s.timestamp != TimestampUnixTime {
		if t, ok := parseCalendarTime(cal); ok {
			return t, true
		}
	}
	// unixTime's text is needed now: formatting a number costs a copy.
	unix, unixOK := s.scalar(r.unixTime)
	return s.timeFrom(cal, unix, unixOK)
}

// timeFrom picks the entry time from a record's calendarTime text and
// unixTime text (unixOK: it has one), as the timestamp option says.
func (s *Stage) timeFrom(cal, unix []byte, unixOK bool) (time.Time, bool) {
	if s.timestamp == TimestampNone {
		return time.Time{}, false
	}
	fromUnix := func() (time.Time, bool) {
		if !unixOK {
			return time.Time{}, false
		}
		return parseUnixSeconds(unix)
	}
	if s.timestamp == TimestampUnixTime {
		if t, ok := fromUnix(); ok {
			return t, true
		}
		return parseCalendarTime(cal)
	}
	if t, ok := parseCalendarTime(cal); ok {
		return t, true
	}
	return fromUnix()
}

// recordLabels collects the labels every entry of r gets: decorations
// first, so that a decoration named like a record label cannot override it.
func (s *Stage) recordLabels(r *record, f format) {
	var host interned
	if b, ok := s.scalar(r.host); ok {
		host = s.intern.get(b)
	}
	if s.decorationsAll || len(s.decorationNames) > 0 {
		if r.decorations != nil {
			if d, err := r.decorations.Object(); err == nil {
				d.Visit(func(k []byte, v *fastjson.Value) {
					b, ok := s.scalar(v)
					s.decorationLabelPair("decorations", k, b, ok, host.s)
				})
			}
		}
		for _, td := range r.topDecorations {
			b, ok := s.scalar(td.v)
			s.decorationLabelPair("", td.key, b, ok, host.s)
		}
	}
	if s.labelName && r.name != nil {
		s.addLabel("name", r.name)
	}
	if s.labelHost && host.s != "" {
		s.pushLabel("host", host)
	}
	if s.labelFormat {
		s.pushLabel("format", interned{s: formatNames[f], valid: true})
	}
	if s.labelSeverity && f == formatStatus {
		if b, ok := s.scalar(r.severity); ok {
			if name := severityName(b); name != "" {
				s.pushLabel("severity", interned{s: name, valid: true})
			}
		}
	}
	if s.labelEpoch {
		s.addLabel("epoch", r.epoch)
	}
	if s.labelLogType {
		if r.logType != nil {
			s.addLabel("log_type", r.logType)
		} else if len(r.envelopeLogType) > 0 {
			s.pushLabel("log_type", s.intern.get(r.envelopeLogType))
		}
	}
}

func severityName(b []byte) string {
	switch string(b) {
	case "0":
		return "info"
	case "1":
		return "warning"
	case "2":
		return "error"
	case "3":
		return "fatal"
	}
	return ""
}

func (s *Stage) addLabel(name model.LabelName, v *fastjson.Value) {
	if b, ok := s.scalar(v); ok {
		s.pushLabel(name, s.intern.get(b))
	}
}

// pushLabel records a record-level label after the value checks.
func (s *Stage) pushLabel(name model.LabelName, v interned) {
	if value, ok := s.checkValue(v); ok {
		s.recLabels = append(s.recLabels, labelPair{name: name, value: value})
	}
}

// setLabel sets a row-level label after the value checks and, with g, the
// cardinality guard for scope.
func (s *Stage) setLabel(ls model.LabelSet, name model.LabelName, v interned, g *guard, scope string) {
	value, ok := s.checkValue(v)
	if !ok {
		return
	}
	if g != nil && !s.admit(g, scope, name, value) {
		return
	}
	ls[name] = model.LabelValue(value)
}

// checkValue applies the rules every label value passes: not empty (an
// empty value is no label in Loki), valid UTF-8, at most maxLen bytes.
func (s *Stage) checkValue(v interned) (string, bool) {
	switch {
	case v.s == "":
		return "", false
	case !v.valid:
		s.ctr.drop(dropInvalidUTF8)
		return "", false
	case len(v.s) > s.maxLen:
		if s.dropLong {
			s.ctr.drop(dropTooLong)
			return "", false
		}
		s.ctr.truncated()
		return truncateUTF8(v.s, s.maxLen), true
	}
	return v.s, true
}

func (s *Stage) admit(g *guard, scope string, name model.LabelName, value string) bool {
	ok, reason, first := g.admit(scope, string(name), value)
	if ok {
		return true
	}
	s.ctr.drop(reason)
	if first {
		s.log.Warn("label has too many distinct values; new values are no longer promoted", "label", string(name), "scope", scope, "limit", g.limit)
	}
	return false
}

// decorationLabelPair adds the label of decoration k, whose value has the
// text b when it is a scalar.
func (s *Stage) decorationLabelPair(prefix string, k, b []byte, scalar bool, host string) {
	if !s.promoted(k) {
		return
	}
	if len(s.smSources) > 0 && s.smSources[s.names.get(prefix, k)] {
		return
	}
	name, ok := s.decorationLabel[string(k)]
	if !ok {
		name = model.LabelName(s.decorationPrefix + sanitizeName(string(k)))
		if name == model.LabelName(s.decorationPrefix) || (len(name) >= 2 && name[:2] == "__") {
			name = "" // empty, or reserved for Loki and the agent's internal labels
		}
		if len(s.decorationLabel) >= maxInterned {
			clear(s.decorationLabel)
		}
		s.decorationLabel[string(k)] = name
	}
	if name == "" {
		s.ctr.drop(dropInvalidName)
		return
	}
	if !scalar {
		return
	}
	value, ok := s.checkValue(s.intern.get(b))
	if !ok || !s.admit(&s.decorationGuard, host, name, value) {
		return
	}
	s.recLabels = append(s.recLabels, labelPair{name: name, value: value})
}

// columnLabelsFor promotes the configured columns of the record's query.
func (s *Stage) columnLabelsFor(ls model.LabelSet, cols *fastjson.Object) {
	if len(s.columns) == 0 && len(s.anyQueryColumns) == 0 {
		return
	}
	query := s.query
	promoted, ok := s.columnLabels[query]
	if !ok {
		for _, c := range append(slices.Clone(s.columns[query]), s.anyQueryColumns...) {
			flat := "columns_" + sanitize(c, false)
			if s.smSources[flat] {
				continue
			}
			promoted = append(promoted, columnLabel{column: c, label: model.LabelName(s.columnPrefix + sanitize(c, s.columnPrefix == ""))})
		}
		if len(s.columnLabels) >= maxInterned {
			clear(s.columnLabels)
		}
		s.columnLabels[query] = promoted
	}
	for _, c := range promoted {
		if b, ok := s.scalar(cols.Get(c.column)); ok {
			s.setLabel(ls, c.label, s.intern.get(b), &s.columnGuard, query)
		}
	}
}

// queryName is r's name, or "-" when it has none, so that a query name is
// never mistaken for the record-level scope "".
func (s *Stage) queryName(r *record) string {
	if b, ok := s.scalar(r.name); ok && len(b) > 0 {
		return s.intern.get(b).s
	}
	return "-"
}

// columnText is the text of the column whose extracted name is
// columns_<name>.
func (s *Stage) columnText(cols *fastjson.Object, name string) []byte {
	b, _ := s.scalar(findKey(cols, name, false))
	return b
}

// flattenRecord lists the record's own fields the way `| json` names them.
// Rows (columns, snapshot, diffResults), the TLS body's data and node key,
// and the action (which split rows set themselves) are left out.
func (s *Stage) flattenRecord(r *record) {
	kl := s.names.list("", "")
	i := 0
	r.obj.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "columns", "snapshot", "diffResults", "data", "node_key", "action":
			return
		}
		s.flattenValue(kl, i, k, v, "")
		i++
	})
	if r.logType == nil && len(r.envelopeLogType) > 0 {
		s.flat = append(s.flat, flatField{name: "log_type", box: s.intern.get(r.envelopeLogType).box})
	}
}

// flattenValue adds v, the i-th key k of an object whose names kl caches.
// A record's own values are boxed at once through the interner, trying
// first the value at the same place in the previous record; row values
// (scope is their query) are boxed later, from the entry's arena.
func (s *Stage) flattenValue(kl *keyList, i int, k []byte, v *fastjson.Value, scope string) {
	switch v.Type() {
	case fastjson.TypeObject:
		if name := s.names.at(kl, i, k); name != "" {
			o, _ := v.Object()
			s.flattenObject(name, o, scope)
		}
	case fastjson.TypeString, fastjson.TypeNumber, fastjson.TypeTrue, fastjson.TypeFalse:
		name := s.names.at(kl, i, k)
		switch {
		case name == "":
		case scope != "":
			b, _ := s.scalar(v)
			if box, ok := kl.recall(i, b); ok {
				s.flat = append(s.flat, flatField{name: name, box: box})
			} else {
				s.flat = append(s.flat, flatField{name: name, v: v, kl: kl, slot: i})
			}
		default:
			b, _ := s.scalar(v)
			s.flat = append(s.flat, flatField{name: name, box: s.internAt(len(s.flat), b).box})
		}
	}
}

func (s *Stage) flattenObject(prefix string, o *fastjson.Object, scope string) {
	kl := s.names.list(prefix, scope)
	i := 0
	o.Visit(func(k []byte, v *fastjson.Value) {
		s.flattenValue(kl, i, k, v, scope)
		i++
	})
}

// internAt interns b, the record value at position slot of the flat list,
// checking first the value the previous record had there.
func (s *Stage) internAt(slot int, b []byte) interned {
	if slot < len(s.lastValues) && s.lastValues[slot].s == string(b) {
		return s.lastValues[slot]
	}
	v := s.intern.get(b)
	if slot < maxInterned {
		for len(s.lastValues) <= slot {
			s.lastValues = append(s.lastValues, interned{})
		}
		s.lastValues[slot] = v
	}
	return v
}

// writeFlat copies the listed values into the entry's extracted map and
// structured metadata. A row's values not seen at their place in the query's
// previous row share one allocation for their bytes.
func (s *Stage) writeFlat(out *stages.Entry) {
	s.arena = s.arena[:0]
	for i := range s.flat {
		if f := &s.flat[i]; f.box == nil {
			b, _ := s.scalar(f.v)
			f.start = len(s.arena)
			s.arena = append(s.arena, b...)
			f.end = len(s.arena)
		}
	}
	if len(s.arena) > 0 {
		text := string(s.arena)
		for i := range s.flat {
			if f := &s.flat[i]; f.box == nil {
				v := text[f.start:f.end]
				f.box = v
				f.kl.remember(f.slot, v, f.box)
			}
		}
	}
	switch {
	case s.extractAll:
		if !s.fresh {
			out.Extracted = s.freshExtracted(out.Extracted)
		}
		for _, f := range s.flat {
			out.Extracted[f.name] = f.box
		}
	case len(s.extractList) > 0:
		if out.Extracted == nil {
			out.Extracted = make(map[string]any, len(s.extractList))
		}
		for _, name := range s.extractList {
			if i := s.lastFlat(name); i >= 0 {
				out.Extracted[name] = s.flat[i].box
			}
		}
	}
	for _, m := range s.sm {
		if i := s.lastFlat(m.source); i >= 0 {
			value, _ := s.flat[i].box.(string)
			out.StructuredMetadata = append(out.StructuredMetadata, push.LabelAdapter{Name: string(m.name), Value: value})
		}
	}
}

// maxReusedMap is the size past which the extracted map is not kept for
// the next line: clearing a map costs in proportion to its capacity.
const maxReusedMap = 256

// freshExtracted returns the stage's extracted map holding a copy of base
// (what the target and earlier stages put there) and nothing else.
//
// The map is reused from entry to entry. That is safe because a stage owns
// an entry only until Process returns (a stage that keeps one keeps a
// Clone, which copies the map) and because extracted values never leave the
// pipeline (the job pipeline drops the map before the clients). Refilling a
// ready map costs a fraction of growing the small one the pipeline made for
// the target's labels, or of making a new one per entry.
func (s *Stage) freshExtracted(base map[string]any) map[string]any {
	m := s.extracted
	if m == nil || len(m) > maxReusedMap {
		m = make(map[string]any, len(base)+32)
		s.extracted = m
	} else {
		clear(m)
	}
	maps.Copy(m, base)
	return m
}

// writeSelected writes the extracted values and structured metadata a
// list names, each looked up on its own: a few values cost a few lookups,
// not the flattening of the whole record.
func (s *Stage) writeSelected(out *stages.Entry, r *record, f format, cols *fastjson.Object, act []byte) {
	if len(s.extractList) > 0 && out.Extracted == nil {
		out.Extracted = make(map[string]any, len(s.extractList))
	}
	for _, name := range s.extractList {
		if v, ok := s.lookupField(r, f, cols, act, name); ok {
			out.Extracted[name] = v
		}
	}
	for _, m := range s.sm {
		if v, ok := s.lookupField(r, f, cols, act, m.source); ok {
			value, _ := v.(string)
			out.StructuredMetadata = append(out.StructuredMetadata, push.LabelAdapter{Name: string(m.name), Value: value})
		}
	}
}

// lookupField finds the value `extract: all` would give name: first_run,
// action, columns_<column>, decorations_<decoration>, or a top-level field
// (a top-level decoration included).
func (s *Stage) lookupField(r *record, f format, cols *fastjson.Object, act []byte, name string) (any, bool) {
	switch name {
	case "first_run":
		if f == formatStatus {
			return nil, false
		}
		if s.firstRun(r, f, act) {
			return "true", true
		}
		return "false", true
	case "action":
		if len(act) == 0 {
			return nil, false
		}
		return s.intern.get(act).box, true
	case "log_type":
		if r.logType == nil && len(r.envelopeLogType) > 0 {
			return s.intern.get(r.envelopeLogType).box, true
		}
	case "columns", "snapshot", "diffResults", "data", "node_key", "decorations":
		return nil, false
	}
	var v *fastjson.Value
	if col, ok := strings.CutPrefix(name, "columns_"); ok && cols != nil {
		v = findKey(cols, col, false)
	} else if dec, ok := strings.CutPrefix(name, "decorations_"); ok && r.decorations != nil {
		if d, err := r.decorations.Object(); err == nil {
			v = findKey(d, dec, false)
		}
	} else {
		v = findKey(r.obj, name, true)
	}
	b, ok := s.scalar(v)
	if !ok {
		return nil, false
	}
	return string(b), true
}

// findKey returns the value of the key of o whose extracted name is name
// (first: the key starts the name, as at the top level).
func findKey(o *fastjson.Object, name string, first bool) *fastjson.Value {
	if v := o.Get(name); v != nil {
		return v
	}
	var found *fastjson.Value
	o.Visit(func(k []byte, v *fastjson.Value) {
		if found == nil && sanitize(string(k), first) == name {
			found = v
		}
	})
	return found
}

// lastFlat finds name in the flat list; the last one wins, as in a map.
func (s *Stage) lastFlat(name string) int {
	for i := len(s.flat) - 1; i >= 0; i-- {
		if s.flat[i].name == name {
			return i
		}
	}
	return -1
}

// glog handles a status line of the filesystem logger's osqueryd.INFO,
// .WARNING and .ERROR files. It has no host and no year; the time is the
// host's local time, placed in the year nearest to when it was read.
func (s *Stage) glog(e *stages.Entry, text string, g *glogLine, next func(*stages.Entry)) {
	s.ctr.record(formatStatus)
	if s.labelFormat {
		e.Labels["format"] = "status"
	}
	if s.labelSeverity {
		e.Labels["severity"] = model.LabelValue(severityName([]byte{g.severity}))
	}
	if s.labelHost {
		if host, ok := s.checkValue(s.glogHost); ok {
			e.Labels["host"] = model.LabelValue(host)
		}
	}
	if s.extractAll || len(s.extractList) > 0 || len(s.sm) > 0 {
		s.flat = append(s.flat[:0],
			flatField{name: "severity", box: severityDigits[g.severity-'0']},
			flatField{name: "filename", box: g.file},
			flatField{name: "line", box: g.line},
			flatField{name: "message", box: g.message},
			flatField{name: "thread", box: g.thread},
		)
		s.writeFlat(e)
	}
	if s.timestamp != TimestampNone {
		if t, ok := g.time(e.Timestamp, s.glogLocation); ok {
			e.Timestamp = t
		}
	}
	e.Line = text
	s.ctr.entry(formatStatus, actionNone)
	next(e)
}

var severityDigits = [4]string{"0", "1", "2", "3"}
