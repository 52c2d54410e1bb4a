package stages

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v2"
)

// Stage bodies are decoded the way Promtail decodes them, which is not the way
// yaml.v2 decodes a struct: Promtail hands the raw YAML value to mapstructure.
// The differences users can see:
//
//   - types are strict: a number or a boolean where a string is expected is an
//     error (`static_labels: {replicas: 3}`, a YAML 1.1 `y:` map key turning into
//     true), where yaml.v2 would quietly take the text;
//   - a float is truncated into an int field, where yaml.v2 refuses;
//   - keys match field names case-insensitively, and unknown keys are ignored;
//   - a null body or value leaves the field untouched.
//
// A few stages (cri, multiline, pack) decode weakly: "5" fills an int, 3 fills a
// string, "false" fills a bool, a single value fills a list.
//
// Field names come from `yaml` tags so configs read like the rest of the
// project. A type that implements yaml.Unmarshaler decodes itself from the YAML
// of its value.

// weaklyTyped is implemented by stage configs that Promtail decodes weakly.
type weaklyTyped interface {
	weaklyTyped()
}

var (
	yamlUnmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	durationType        = reflect.TypeFor[time.Duration]()
	mapSliceType        = reflect.TypeFor[yaml.MapSlice]()
)

// bodyDecoder fills a stage config from the value yaml.v2 produced for its body.
type bodyDecoder struct {
	weak bool
	// unused collects keys that matched no field, for a typo warning.
	unused []string
}

// decodeBody decodes body into cfg, which must be a non-nil pointer.
func decodeBody(body any, cfg any) (unused []string, err error) {
	_, weak := cfg.(weaklyTyped)
	d := &bodyDecoder{weak: weak}
	if err := d.decode("", body, reflect.ValueOf(cfg).Elem()); err != nil {
		return nil, err
	}
	return d.unused, nil
}

func (d *bodyDecoder) decode(name string, in any, out reflect.Value) error {
	if in == nil {
		return nil
	}
	if out.CanAddr() && out.Addr().Type().Implements(yamlUnmarshalerType) {
		raw, err := yaml.Marshal(in)
		if err != nil {
			return fmt.Errorf("'%s': %w", name, err)
		}
		if err := yaml.Unmarshal(raw, out.Addr().Interface()); err != nil {
			return fmt.Errorf("'%s': %w", name, err)
		}
		return nil
	}
	if out.Type() == mapSliceType {
		return d.decodeMapSlice(name, in, out)
	}
	if out.Type() == durationType {
		if s, ok := in.(string); ok {
			dur, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("'%s': %w", name, err)
			}
			out.SetInt(int64(dur))
			return nil
		}
	}
	switch out.Kind() {
	case reflect.Interface:
		v := reflect.ValueOf(in)
		if !v.Type().AssignableTo(out.Type()) {
			return fmt.Errorf("'%s' expected type '%s', got '%T'", name, out.Type(), in)
		}
		out.Set(v)
		return nil
	case reflect.Pointer:
		elem := reflect.New(out.Type().Elem())
		if !out.IsNil() {
			elem.Elem().Set(out.Elem())
		}
		if err := d.decode(name, in, elem.Elem()); err != nil {
			return err
		}
		out.Set(elem)
		return nil
	case reflect.String:
		return d.decodeString(name, in, out)
	case reflect.Bool:
		return d.decodeBool(name, in, out)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return d.decodeInt(name, in, out)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return d.decodeUint(name, in, out)
	case reflect.Float32, reflect.Float64:
		return d.decodeFloat(name, in, out)
	case reflect.Map:
		return d.decodeMap(name, in, out)
	case reflect.Slice:
		return d.decodeSlice(name, in, out)
	case reflect.Struct:
		return d.decodeStruct(name, in, out)
	default:
		return fmt.Errorf("'%s': unsupported config field type %s", name, out.Type())
	}
}

func unconvertible(name string, out reflect.Value, in any) error {
	return fmt.Errorf("'%s' expected type '%s', got unconvertible type '%T', value: '%v'", name, out.Type(), in, in)
}

func (d *bodyDecoder) decodeString(name string, in any, out reflect.Value) error {
	if s, ok := in.(string); ok {
		out.SetString(s)
		return nil
	}
	if !d.weak {
		return unconvertible(name, out, in)
	}
	v := reflect.ValueOf(in)
	switch v.Kind() {
	case reflect.Bool:
		if v.Bool() {
			out.SetString("1")
		} else {
			out.SetString("0")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		out.SetString(strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		out.SetString(strconv.FormatUint(v.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		out.SetString(strconv.FormatFloat(v.Float(), 'f', -1, 64))
	default:
		return unconvertible(name, out, in)
	}
	return nil
}

func (d *bodyDecoder) decodeBool(name string, in any, out reflect.Value) error {
	v := reflect.ValueOf(in)
	switch {
	case v.Kind() == reflect.Bool:
		out.SetBool(v.Bool())
	case !d.weak:
		return unconvertible(name, out, in)
	case v.CanInt():
		out.SetBool(v.Int() != 0)
	case v.CanUint():
		out.SetBool(v.Uint() != 0)
	case v.CanFloat():
		out.SetBool(v.Float() != 0)
	case v.Kind() == reflect.String:
		if v.String() == "" {
			out.SetBool(false)
			return nil
		}
		b, err := strconv.ParseBool(v.String())
		if err != nil {
			return fmt.Errorf("cannot parse '%s' as bool: %w", name, err)
		}
		out.SetBool(b)
	default:
		return unconvertible(name, out, in)
	}
	return nil
}

func (d *bodyDecoder) decodeInt(name string, in any, out reflect.Value) error {
	v := reflect.ValueOf(in)
	var i int64
	switch {
	case v.CanInt():
		i = v.Int()
	case v.CanUint():
		i = int64(v.Uint())
	case v.CanFloat():
		i = int64(v.Float())
	case d.weak && v.Kind() == reflect.Bool:
		if v.Bool() {
			i = 1
		}
	case d.weak && v.Kind() == reflect.String:
		s := v.String()
		if s == "" {
			s = "0"
		}
		p, err := strconv.ParseInt(s, 0, out.Type().Bits())
		if err != nil {
			return fmt.Errorf("cannot parse '%s' as int: %w", name, err)
		}
		i = p
	default:
		return unconvertible(name, out, in)
	}
	if out.OverflowInt(i) {
		return fmt.Errorf("cannot parse '%s', %d overflows %s", name, i, out.Type())
	}
	out.SetInt(i)
	return nil
}

func (d *bodyDecoder) decodeUint(name string, in any, out reflect.Value) error {
	v := reflect.ValueOf(in)
	var u uint64
	switch {
	case v.CanInt():
		i := v.Int()
		if i < 0 && !d.weak {
			return fmt.Errorf("cannot parse '%s', %d overflows uint", name, i)
		}
		u = uint64(i)
	case v.CanUint():
		u = v.Uint()
	case v.CanFloat():
		f := v.Float()
		if f < 0 && !d.weak {
			return fmt.Errorf("cannot parse '%s', %f overflows uint", name, f)
		}
		u = uint64(f)
	case d.weak && v.Kind() == reflect.Bool:
		if v.Bool() {
			u = 1
		}
	case d.weak && v.Kind() == reflect.String:
		s := v.String()
		if s == "" {
			s = "0"
		}
		p, err := strconv.ParseUint(s, 0, out.Type().Bits())
		if err != nil {
			return fmt.Errorf("cannot parse '%s' as uint: %w", name, err)
		}
		u = p
	default:
		return unconvertible(name, out, in)
	}
	if out.OverflowUint(u) {
		return fmt.Errorf("cannot parse '%s', %d overflows %s", name, u, out.Type())
	}
	out.SetUint(u)
	return nil
}

func (d *bodyDecoder) decodeFloat(name string, in any, out reflect.Value) error {
	v := reflect.ValueOf(in)
	switch {
	case v.CanInt():
		out.SetFloat(float64(v.Int()))
	case v.CanUint():
		out.SetFloat(float64(v.Uint()))
	case v.CanFloat():
		out.SetFloat(v.Float())
	case d.weak && v.Kind() == reflect.Bool:
		if v.Bool() {
			out.SetFloat(1)
		} else {
			out.SetFloat(0)
		}
	case d.weak && v.Kind() == reflect.String:
		s := v.String()
		if s == "" {
			s = "0"
		}
		f, err := strconv.ParseFloat(s, out.Type().Bits())
		if err != nil {
			return fmt.Errorf("cannot parse '%s' as float: %w", name, err)
		}
		out.SetFloat(f)
	default:
		return unconvertible(name, out, in)
	}
	return nil
}

// mapEntries returns the key/value pairs of a YAML mapping in document order
// where the input keeps it, and reports whether in is a mapping at all.
// mapEntries lists the entries of a YAML mapping. A Go map has no order, so
// its entries are sorted by key: decoding (and the first error it reports)
// must not change from one run to the next.
func mapEntries(in any) ([]yaml.MapItem, bool) {
	if m, ok := in.(yaml.MapSlice); ok {
		return m, true
	}
	v := reflect.ValueOf(in)
	if v.Kind() != reflect.Map {
		return nil, false
	}
	items := make([]yaml.MapItem, 0, v.Len())
	iter := v.MapRange()
	for iter.Next() {
		items = append(items, yaml.MapItem{Key: iter.Key().Interface(), Value: iter.Value().Interface()})
	}
	slices.SortFunc(items, func(a, b yaml.MapItem) int {
		return strings.Compare(fmt.Sprint(a.Key), fmt.Sprint(b.Key))
	})
	return items, true
}

func kindName(in any) string {
	return reflect.ValueOf(in).Kind().String()
}

func (d *bodyDecoder) decodeMap(name string, in any, out reflect.Value) error {
	items, ok := mapEntries(in)
	if !ok {
		if s, isSlice := in.([]any); d.weak && isSlice && len(s) == 0 {
			out.Set(reflect.MakeMap(out.Type()))
			return nil
		}
		return fmt.Errorf("'%s' expected a map, got '%s'", name, kindName(in))
	}
	if out.IsNil() {
		out.Set(reflect.MakeMapWithSize(out.Type(), len(items)))
	}
	keyType, elemType := out.Type().Key(), out.Type().Elem()
	for _, it := range items {
		fieldName := fmt.Sprintf("%s[%v]", name, it.Key)
		k := reflect.New(keyType).Elem()
		if err := d.decode(fieldName, it.Key, k); err != nil {
			return err
		}
		v := reflect.New(elemType).Elem()
		if err := d.decode(fieldName, it.Value, v); err != nil {
			return err
		}
		out.SetMapIndex(k, v)
	}
	return nil
}

func (d *bodyDecoder) decodeMapSlice(name string, in any, out reflect.Value) error {
	items, ok := mapEntries(in)
	if !ok {
		return fmt.Errorf("'%s' expected a map, got '%s'", name, kindName(in))
	}
	out.Set(reflect.ValueOf(yaml.MapSlice(items)))
	return nil
}

func (d *bodyDecoder) decodeSlice(name string, in any, out reflect.Value) error {
	v := reflect.ValueOf(in)
	if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
		switch {
		case !d.weak:
			return fmt.Errorf("'%s': source data must be an array or slice, got %s", name, v.Kind())
		case v.Kind() == reflect.Map && v.Len() == 0:
			out.Set(reflect.MakeSlice(out.Type(), 0, 0))
			return nil
		default:
			// Weak decoding lifts a single value into a one-element list.
			v = reflect.ValueOf([]any{in})
		}
	}
	s := reflect.MakeSlice(out.Type(), v.Len(), v.Len())
	for i := range v.Len() {
		if err := d.decode(fmt.Sprintf("%s[%d]", name, i), v.Index(i).Interface(), s.Index(i)); err != nil {
			return err
		}
	}
	out.Set(s)
	return nil
}

func (d *bodyDecoder) decodeStruct(name string, in any, out reflect.Value) error {
	items, ok := mapEntries(in)
	if !ok {
		return fmt.Errorf("'%s' expected a map, got '%s'", name, kindName(in))
	}
	used := make([]bool, len(items))
	if err := d.fillStruct(name, items, used, out); err != nil {
		return err
	}
	for i, it := range items {
		if !used[i] {
			d.unused = append(d.unused, joinName(name, fmt.Sprint(it.Key)))
		}
	}
	return nil
}

func (d *bodyDecoder) fillStruct(name string, items []yaml.MapItem, used []bool, out reflect.Value) error {
	t := out.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		key, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "-" {
			continue
		}
		// An embedded struct's fields belong to the outer map even when the
		// embedded type itself is unexported.
		if f.Type.Kind() == reflect.Struct && (opts == "inline" || (f.Anonymous && key == "")) {
			if err := d.fillStruct(name, items, used, out.Field(i)); err != nil {
				return err
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if key == "" {
			key = f.Name
		}
		idx := findKey(items, key)
		if idx < 0 {
			continue
		}
		used[idx] = true
		if err := d.decode(joinName(name, key), items[idx].Value, out.Field(i)); err != nil {
			return err
		}
	}
	return nil
}

// findKey looks a field up by exact name first and then case-insensitively.
func findKey(items []yaml.MapItem, key string) int {
	for i, it := range items {
		if s, ok := it.Key.(string); ok && s == key {
			return i
		}
	}
	for i, it := range items {
		if s, ok := it.Key.(string); ok && strings.EqualFold(s, key) {
			return i
		}
	}
	return -1
}

func joinName(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}
