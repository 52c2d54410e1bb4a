package stages

import (
	"fmt"
	"log/slog"
	"strconv"
)

// stringify turns an extracted value into the text stages write to labels, lines
// and templates. Floats use the shortest decimal that round-trips and never an
// exponent, so a JSON number 1e21 becomes "1000000000000000000000" as it does in
// Promtail. Maps, slices and nil have no text form and are reported as errors;
// callers skip the value.
func stringify(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case uint:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case uint32:
		return strconv.FormatUint(uint64(x), 10), nil
	case bool:
		return strconv.FormatBool(x), nil
	default:
		return "", fmt.Errorf("can't convert %v (%T) to string", v, v)
	}
}

// loggerOf returns the stage's logger, or one that discards for a stage built
// outside NewPipeline.
func loggerOf(opts Options) *slog.Logger {
	if opts.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return opts.Logger
}

// sourceText is the text a parsing stage reads: the line, or the extracted
// value named by source when hasSource is set. ok is false when that value is
// missing or is not a scalar; the stage then passes the entry on unchanged, as
// Promtail does.
func sourceText(e *Entry, source string, hasSource bool) (text string, ok bool) {
	if !hasSource {
		return e.Line, true
	}
	v, found := e.Extracted[source]
	if !found {
		return "", false
	}
	str, err := stringify(v)
	if err != nil {
		return "", false
	}
	return str, true
}
