package osquery

import (
	"github.com/valyala/fastjson"
)

// appendJSON writes v as compact JSON. fastjson's own MarshalTo quotes
// strings with strconv.AppendQuote once they have been read, which writes Go
// escapes (\x01) that are not JSON; this writer escapes the way osquery's
// JSON library does: the two-character forms for \b \f \n \r \t, \u00XX for
// the other control characters, everything else (including non-ASCII UTF-8)
// as is.
func appendJSON(dst []byte, v *fastjson.Value) []byte {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		return appendObject(dst, o)
	case fastjson.TypeArray:
		dst = append(dst, '[')
		for i, item := range v.GetArray() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSON(dst, item)
		}
		return append(dst, ']')
	case fastjson.TypeString:
		return appendString(dst, v.GetStringBytes())
	case fastjson.TypeNumber:
		// The parser also takes 01, 1., nan and inf, which are not JSON:
		// written as strings, the line stays JSON.
		start := len(dst)
		dst = v.MarshalTo(dst)
		if !validNumber(dst[start:]) {
			n := append([]byte(nil), dst[start:]...)
			dst = appendString(dst[:start], n)
		}
		return dst
	default: // true, false and null
		return v.MarshalTo(dst)
	}
}

// validNumber reports whether b is a number as JSON (RFC 8259) writes one.
func validNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i == len(b) || !isDigit(b[i]) {
			return false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i == len(b) || !isDigit(b[i]) {
			return false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i == len(b)
}

func appendObject(dst []byte, o *fastjson.Object) []byte {
	dst = append(dst, '{')
	first := true
	o.Visit(func(k []byte, v *fastjson.Value) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendJSON(dst, v)
	})
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

func appendString[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendHeader writes the start of a split row's line: osquery's event
// format keys before columns, in osquery's order (name, hostIdentifier,
// calendarTime, unixTime, epoch, counter, numerics, decorations), each only
// if the record has it and with the JSON type it has there, so that a row
// reads like the event lines of the same osquery version. Top-level
// decorations stay at the top level, where that host puts them.
func appendHeader(dst []byte, r *record) []byte {
	dst = append(dst, '{')
	add := func(key string, v *fastjson.Value) {
		if v == nil {
			return
		}
		if len(dst) > 1 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, key)
		dst = append(dst, ':')
		dst = appendJSON(dst, v)
	}
	add("name", r.name)
	add(r.hostKey, r.host)
	add("calendarTime", r.calendarTime)
	add("unixTime", r.unixTime)
	add("epoch", r.epoch)
	add("counter", r.counter)
	add(r.numericsKey, r.numerics)
	add("decorations", r.decorations)
	for _, d := range r.topDecorations {
		add(string(d.key), d.v)
	}
	return dst
}

// appendRowTail ends a split row's line: its columns, its action and the
// log_type a re-serialising logger appended.
func appendRowTail(dst []byte, r *record, cols *fastjson.Object, act string) []byte {
	if len(dst) > 1 {
		dst = append(dst, ',')
	}
	dst = append(dst, `"columns":`...)
	dst = appendObject(dst, cols)
	dst = append(dst, `,"action":`...)
	dst = appendString(dst, act)
	if r.logType != nil {
		dst = append(dst, `,"log_type":`...)
		dst = appendJSON(dst, r.logType)
	}
	return append(dst, '}')
}
