package stages

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/promtail-osquery/promtail-osquery/internal/jsonscan"
)

// Promtail parses JSON lines with json-iterator, not encoding/json, and the
// difference shows in output: strings keep invalid UTF-8 bytes as they are (so
// a label made from one is rejected as invalid), and re-encoded numbers use an
// exponent without zero trimming (1e-07). This small parser and encoder
// reproduce those rules for the values the json, docker and pack stages handle:
// objects decode to map[string]any, arrays to []any, numbers to float64.

var errJSONSyntax = errors.New("malformed json")

// maxJSONDepth bounds nesting so a hostile line cannot exhaust the stack.
const maxJSONDepth = 10000

type jsonParser struct {
	s     string
	i     int
	depth int
}

// parseJSONObject parses a document that must be an object or null (a nil map
// and no error), with only whitespace after it.
func parseJSONObject(s string) (map[string]any, error) {
	p := jsonParser{s: s}
	c := p.next()
	var m map[string]any
	switch c {
	case 'n':
		if !p.literal("ull") {
			return nil, errJSONSyntax
		}
	case '{':
		var err error
		if m, err = p.object(true); err != nil {
			return nil, err
		}
	default:
		return nil, errJSONSyntax
	}
	if p.next() != 0 {
		return nil, errJSONSyntax
	}
	return m, nil
}

// next skips whitespace and returns the next byte, consuming it; 0 at the end.
func (p *jsonParser) next() byte {
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case ' ', '\n', '\t', '\r':
			continue
		}
		return c
	}
	return 0
}

func (p *jsonParser) literal(rest string) bool {
	if len(p.s)-p.i < len(rest) || p.s[p.i:p.i+len(rest)] != rest {
		return false
	}
	p.i += len(rest)
	return true
}

// object parses after '{'. json-iterator reads every key but the first of a
// nested object with its string reader, which also accepts null (as ""); the
// top-level object reads all keys that way.
func (p *jsonParser) object(topLevel bool) (map[string]any, error) {
	p.depth++
	if p.depth > maxJSONDepth {
		return nil, errJSONSyntax
	}
	defer func() { p.depth-- }()
	m := make(map[string]any)
	c := p.next()
	if c == '}' {
		return m, nil
	}
	first := true
	for {
		var key string
		switch {
		case c == '"':
			k, err := p.str()
			if err != nil {
				return nil, err
			}
			key = k
		case c == 'n' && (topLevel || !first):
			if !p.literal("ull") {
				return nil, errJSONSyntax
			}
		default:
			return nil, errJSONSyntax
		}
		first = false
		if p.next() != ':' {
			return nil, errJSONSyntax
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		m[key] = v
		switch p.next() {
		case ',':
			c = p.next()
		case '}':
			return m, nil
		default:
			return nil, errJSONSyntax
		}
	}
}

func (p *jsonParser) array() ([]any, error) {
	p.depth++
	if p.depth > maxJSONDepth {
		return nil, errJSONSyntax
	}
	defer func() { p.depth-- }()
	a := []any{}
	if p.next() == ']' {
		return a, nil
	}
	p.i--
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		switch p.next() {
		case ',':
		case ']':
			return a, nil
		default:
			return nil, errJSONSyntax
		}
	}
}

func (p *jsonParser) value() (any, error) {
	c := p.next()
	switch {
	case c == '"':
		return p.str()
	case c == '{':
		return p.object(false)
	case c == '[':
		return p.array()
	case c == 't':
		if p.literal("rue") {
			return true, nil
		}
	case c == 'f':
		if p.literal("alse") {
			return false, nil
		}
	case c == 'n':
		if p.literal("ull") {
			return nil, nil
		}
	case c == '-':
		f, err := p.positiveNumber()
		return -f, err
	case c >= '0' && c <= '9':
		p.i--
		return p.positiveNumber()
	}
	return nil, errJSONSyntax
}

func isNumberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E'
}

// positiveNumber reads a number without its leading minus sign. Short decimals
// are computed as mantissa / 10^decimals, like json-iterator's fast path, so the
// last bit agrees with Promtail even where that differs from ParseFloat.
func (p *jsonParser) positiveNumber() (float64, error) {
	start := p.i
	for p.i < len(p.s) && isNumberByte(p.s[p.i]) {
		p.i++
	}
	num := p.s[start:p.i]
	if num == "" || num[0] == '.' || num[0] == '-' {
		return 0, errJSONSyntax
	}
	if num[0] == '0' && len(num) > 1 && num[1] >= '0' && num[1] <= '9' {
		return 0, errJSONSyntax
	}
	if p.i < len(p.s) && endsFastNumber(p.s[p.i]) {
		if f, ok := fastDecimal(num); ok {
			return f, nil
		}
	}
	for i := 0; i < len(num); i++ {
		if num[i] == '.' {
			if i == len(num)-1 || num[i+1] < '0' || num[i+1] > '9' {
				return 0, errJSONSyntax
			}
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, errJSONSyntax
	}
	return f, nil
}

// endsFastNumber lists the bytes after which json-iterator takes its fast path.
func endsFastNumber(c byte) bool {
	switch c {
	case ',', ']', '}', ' ', '\t', '\n':
		return true
	}
	return false
}

var decimalPowers = [...]float64{1, 10, 100, 1000, 10000, 100000, 1000000}

const mantissaSafeToMultiply = math.MaxUint64/10 - 1

func fastDecimal(num string) (float64, bool) {
	var mant uint64
	i := 0
	for ; i < len(num) && num[i] >= '0' && num[i] <= '9'; i++ {
		if i > 0 && mant > mantissaSafeToMultiply {
			return 0, false
		}
		mant = mant*10 + uint64(num[i]-'0')
	}
	if i == len(num) {
		return float64(mant), true
	}
	if num[i] != '.' {
		return 0, false
	}
	decimals := 0
	for i++; i < len(num); i++ {
		if num[i] < '0' || num[i] > '9' {
			return 0, false
		}
		if mant > mantissaSafeToMultiply {
			return 0, false
		}
		mant = mant*10 + uint64(num[i]-'0')
		decimals++
	}
	if decimals == 0 || decimals >= len(decimalPowers) {
		return 0, false
	}
	return float64(mant) / decimalPowers[decimals], true
}

// str reads a string after its opening quote. Bytes are copied as they are,
// valid UTF-8 or not. A raw control character is an error only before the
// first escape sequence, a json-iterator quirk kept for fidelity.
func (p *jsonParser) str() (string, error) {
	start := p.i
	j := jsonscan.IndexSpecial(p.s, p.i)
	if j == len(p.s) {
		return "", errJSONSyntax
	}
	switch p.s[j] {
	case '"':
		p.i = j + 1
		return p.s[start:j], nil
	case '\\':
	default:
		return "", errJSONSyntax
	}
	var b []byte
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case '"':
			return string(b), nil
		case '\\':
			var err error
			if b, err = p.escape(b); err != nil {
				return "", err
			}
		default:
			b = append(b, c)
		}
	}
	return "", errJSONSyntax
}

func (p *jsonParser) escape(b []byte) ([]byte, error) {
	if p.i >= len(p.s) {
		return nil, errJSONSyntax
	}
	c := p.s[p.i]
	p.i++
	switch c {
	case '"', '\\', '/':
		return append(b, c), nil
	case 'b':
		return append(b, '\b'), nil
	case 'f':
		return append(b, '\f'), nil
	case 'n':
		return append(b, '\n'), nil
	case 'r':
		return append(b, '\r'), nil
	case 't':
		return append(b, '\t'), nil
	case 'u':
		r, ok := p.hex4()
		if !ok {
			return nil, errJSONSyntax
		}
		if !utf16.IsSurrogate(r) {
			return utf8.AppendRune(b, r), nil
		}
		if p.i >= len(p.s) || p.s[p.i] != '\\' {
			return utf8.AppendRune(b, r), nil
		}
		if p.i+1 >= len(p.s) || p.s[p.i+1] != 'u' {
			// A lone surrogate followed by another escape: keep the
			// replacement character and read that escape normally.
			p.i++
			return p.escape(utf8.AppendRune(b, r))
		}
		p.i += 2
		r2, ok := p.hex4()
		if !ok {
			return nil, errJSONSyntax
		}
		if combined := utf16.DecodeRune(r, r2); combined != utf8.RuneError {
			return utf8.AppendRune(b, combined), nil
		}
		return utf8.AppendRune(utf8.AppendRune(b, r), r2), nil
	}
	return nil, errJSONSyntax
}

func (p *jsonParser) hex4() (rune, bool) {
	if len(p.s)-p.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range []byte(p.s[p.i : p.i+4]) {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}

// appendJSON encodes v the way Promtail's json-iterator does with its default
// config: HTML-sensitive characters escaped, invalid UTF-8 replaced by U+FFFD,
// floats in exponent form below 1e-6 and from 1e21. Object keys are sorted
// (json-iterator leaves them in map order, which is random).
func appendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendJSONString(b, x), nil
	case float64:
		return appendJSONFloat(b, x)
	case bool:
		return strconv.AppendBool(b, x), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendJSON(b, x[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	return appendJSONReflect(b, reflect.ValueOf(v))
}

// appendJSONReflect covers the other types JMESPath functions can return
// (ints from length-like helpers, typed slices).
func appendJSONReflect(b []byte, v reflect.Value) ([]byte, error) {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		return appendJSONFloat(b, v.Float())
	case reflect.String:
		return appendJSONString(b, v.String()), nil
	case reflect.Bool:
		return strconv.AppendBool(b, v.Bool()), nil
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i := range v.Len() {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, v.Index(i).Interface()); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("unsupported map key type %s", v.Type().Key())
		}
		m := make(map[string]any, v.Len())
		iter := v.MapRange()
		for iter.Next() {
			m[iter.Key().String()] = iter.Value().Interface()
		}
		return appendJSON(b, m)
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return append(b, "null"...), nil
		}
		return appendJSON(b, v.Elem().Interface())
	}
	return nil, fmt.Errorf("unsupported value type %s", v.Type())
}

func appendJSONFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("unsupported value: %v", f)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(b, f, format, -1, 64), nil
}

const hexDigits = "0123456789abcdef"

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// storeJSONValue puts a JSON value into extracted: scalars as they are, objects
// and arrays encoded back to JSON text. A value that cannot be encoded is
// skipped. buf is scratch space kept between calls.
func storeJSONValue(extracted map[string]any, name string, v any, buf *[]byte) {
	switch v.(type) {
	case float64, string, bool, nil:
		extracted[name] = v
		return
	}
	b, err := appendJSON((*buf)[:0], v)
	if err != nil {
		return
	}
	*buf = b
	extracted[name] = string(b)
}
