package osquery

import (
	"github.com/valyala/fastjson"
)

// record holds the top-level fields of one osquery JSON object, read in a
// single pass over its keys. The values point into the stage's parser and
// are valid until its next Parse.
type record struct {
	obj *fastjson.Object

	name, host, calendarTime, unixTime, epoch, counter, numerics, action *fastjson.Value
	decorations, columns, snapshot, diffResults                          *fastjson.Value
	severity, message, logType, data, nodeKey                            *fastjson.Value

	hostKey     string // "hostIdentifier", or "hostname" in the obsolete layout
	numericsKey string // "numerics" (4.1.1+) or "logNumericsAsNumbers" (3.4-4.1.0)

	// topDecorations are string fields osquery does not define: decorations
	// flattened by --decorations_top_level.
	topDecorations []field

	// envelopeLogType is the log_type of the TLS logger body the record came
	// in, when it has none of its own.
	envelopeLogType []byte
}

type field struct {
	key []byte
	v   *fastjson.Value
}

func (r *record) read(o *fastjson.Object) {
	*r = record{obj: o, topDecorations: r.topDecorations[:0]}
	hostname := -1
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "name":
			r.name = v
		case "hostIdentifier":
			r.host, r.hostKey = v, "hostIdentifier"
		case "calendarTime":
			r.calendarTime = v
		case "unixTime":
			r.unixTime = v
		case "epoch":
			r.epoch = v
		case "counter":
			r.counter = v
		case "numerics":
			r.numerics, r.numericsKey = v, "numerics"
		case "logNumericsAsNumbers":
			r.numerics, r.numericsKey = v, "logNumericsAsNumbers"
		case "action":
			r.action = v
		case "decorations":
			r.decorations = v
		case "columns":
			r.columns = v
		case "snapshot":
			r.snapshot = v
		case "diffResults":
			r.diffResults = v
		case "severity":
			r.severity = v
		case "message":
			r.message = v
		case "log_type":
			r.logType = v
		case "data":
			r.data = v
		case "node_key":
			r.nodeKey = v
		default:
			if !knownKey(string(k)) && v.Type() == fastjson.TypeString {
				if string(k) == "hostname" {
					hostname = len(r.topDecorations)
				}
				r.topDecorations = append(r.topDecorations, field{key: k, v: v})
			}
		}
	})
	// Old osquery docs show a "hostname" key where hostIdentifier now is;
	// with a hostIdentifier present, "hostname" is a top-level decoration.
	if r.host == nil && hostname >= 0 {
		r.host, r.hostKey = r.topDecorations[hostname].v, "hostname"
		r.topDecorations = append(r.topDecorations[:hostname], r.topDecorations[hostname+1:]...)
	}
}

// knownKey tells the keys osquery writes from those it does not, which with
// --decorations_top_level are decorations. record.read and the fast path's
// scanEvent hold only the known keys they use.
func knownKey(k string) bool {
	switch k {
	case "name", "hostIdentifier", "calendarTime", "unixTime", "epoch", "counter",
		"numerics", "logNumericsAsNumbers", "action", "decorations", "columns",
		"snapshot", "diffResults", "severity", "message", "log_type", "data",
		"node_key", "filename", "line", "version":
		return true
	}
	return false
}

// shape tells which osquery output the record is. ok is false when the
// record has a format's key with the wrong JSON type, or none at all.
func (r *record) shape() (f format, ok bool) {
	switch {
	case r.columns != nil:
		return formatEvent, r.columns.Type() == fastjson.TypeObject
	case r.snapshot != nil:
		return formatSnapshot, r.snapshot.Type() == fastjson.TypeArray
	case r.diffResults != nil:
		return formatBatch, r.diffResults.Type() == fastjson.TypeObject
	case r.data != nil && (r.nodeKey != nil || r.logType != nil):
		return formatTLS, r.data.Type() == fastjson.TypeArray
	case r.severity != nil && r.message != nil:
		return formatStatus, true
	}
	return 0, false
}

// scalar returns the text of a string, number or boolean value: a JSON
// string's contents, a number's digits as written. ok is false for objects,
// arrays, null and a nil value. The text is valid until the next call.
func (s *Stage) scalar(v *fastjson.Value) (b []byte, ok bool) {
	if v == nil {
		return nil, false
	}
	switch v.Type() {
	case fastjson.TypeString:
		return v.GetStringBytes(), true
	case fastjson.TypeNumber, fastjson.TypeTrue, fastjson.TypeFalse:
		s.tmp = v.MarshalTo(s.tmp[:0])
		return s.tmp, true
	}
	return nil, false
}

// isZero reports whether a counter's text is zero ("0", or "0.0" from a
// re-serialising logger).
func isZero(b []byte) bool {
	if len(b) == 0 || b[0] != '0' {
		return false
	}
	for _, c := range b[1:] {
		if c != '0' && c != '.' {
			return false
		}
	}
	return true
}
