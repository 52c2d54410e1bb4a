package stages

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/prometheus/common/model"
)

func init() {
	Register("timestamp", func() Config { return &TimestampConfig{} })
}

const (
	timestampOnFailureFudge = "fudge"
	timestampOnFailureSkip  = "skip"

	// fudgeCacheSize bounds the label sets whose last timestamp is remembered
	// for action_on_failure: fudge, as in Promtail.
	fudgeCacheSize = 10000
)

// namedLayouts are the Go layouts a timestamp format may name. Promtail parses
// them without the configured location.
var namedLayouts = map[string]string{
	"ANSIC":       time.ANSIC,
	"UnixDate":    time.UnixDate,
	"RubyDate":    time.RubyDate,
	"RFC822":      time.RFC822,
	"RFC822Z":     time.RFC822Z,
	"RFC850":      time.RFC850,
	"RFC1123":     time.RFC1123,
	"RFC1123Z":    time.RFC1123Z,
	"RFC3339":     time.RFC3339,
	"RFC3339Nano": time.RFC3339Nano,
}

// TimestampConfig is the body of a timestamp stage: it sets the entry's time
// from an extracted value.
type TimestampConfig struct {
	Source          string   `yaml:"source"`
	Format          string   `yaml:"format"`
	FallbackFormats []string `yaml:"fallback_formats"`
	// Location is an IANA zone used for layouts that carry no offset.
	Location *string `yaml:"location"`
	// ActionOnFailure is fudge (default) or skip.
	ActionOnFailure *string `yaml:"action_on_failure"`
}

// NewStage implements Config.
func (c *TimestampConfig) NewStage(Options) (Stage, error) {
	if c.Source == "" {
		return nil, errors.New("timestamp source value is required if timestamp is specified")
	}
	if c.Format == "" {
		return nil, errors.New("timestamp format is required")
	}
	// Without a location, times without an offset are UTC and zone abbreviations
	// resolve as Promtail resolves them under TZ=UTC, whatever this host's zone.
	loc := time.UTC
	if c.Location != nil {
		l, err := time.LoadLocation(*c.Location)
		if err != nil {
			return nil, fmt.Errorf("invalid location specified: %w", err)
		}
		loc = l
	}
	action := timestampOnFailureFudge
	if c.ActionOnFailure != nil {
		action = *c.ActionOnFailure
		if action != timestampOnFailureFudge && action != timestampOnFailureSkip {
			return nil, fmt.Errorf("invalid action on failure %q (supported values are %s and %s)", action, timestampOnFailureSkip, timestampOnFailureFudge)
		}
	}
	st := &timestampStage{source: c.Source, now: time.Now}
	for _, f := range append([]string{c.Format}, c.FallbackFormats...) {
		st.formats = append(st.formats, newTimeFormat(f, loc))
	}
	if action == timestampOnFailureFudge {
		lru, err := simplelru.NewLRU[model.Fingerprint, time.Time](fudgeCacheSize, nil)
		if err != nil {
			return nil, fmt.Errorf("timestamp stage: %w", err)
		}
		st.lastKnown = lru
	}
	return st, nil
}

type formatKind int

const (
	formatLayout formatKind = iota
	formatYearless
	formatUnix
	formatUnixMs
	formatUnixUs
	formatUnixNs
)

// timeFormat is one format, resolved once when the stage is built.
type timeFormat struct {
	kind   formatKind
	layout string
	loc    *time.Location
}

func newTimeFormat(format string, loc *time.Location) timeFormat {
	if layout, ok := namedLayouts[format]; ok {
		return timeFormat{kind: formatLayout, layout: layout, loc: time.UTC}
	}
	switch format {
	case "Unix":
		return timeFormat{kind: formatUnix}
	case "UnixMs":
		return timeFormat{kind: formatUnixMs}
	case "UnixUs":
		return timeFormat{kind: formatUnixUs}
	case "UnixNs":
		return timeFormat{kind: formatUnixNs}
	}
	if !strings.Contains(format, "06") {
		return timeFormat{kind: formatYearless, layout: format, loc: loc}
	}
	return timeFormat{kind: formatLayout, layout: format, loc: loc}
}

// parse reads s in this format. now is only called for layouts without a year.
func (f timeFormat) parse(s string, now func() time.Time) (time.Time, bool) {
	switch f.kind {
	case formatLayout:
		t, err := time.ParseInLocation(f.layout, s, f.loc)
		return t, err == nil
	case formatYearless:
		return parseYearless(f.layout, s, f.loc, now().In(f.loc))
	case formatUnix:
		return parseUnixSeconds(s)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	// The multiplications overflow silently for absurd values, as in Promtail.
	switch f.kind {
	case formatUnixMs:
		return time.Unix(0, n*int64(time.Millisecond)), true
	case formatUnixUs:
		return time.Unix(0, n*int64(time.Microsecond)), true
	default:
		return time.Unix(0, n), true
	}
}

// parseUnixSeconds reads integer seconds with an optional fraction. The
// fraction is scaled through float64 like Promtail does, so that more than nine
// digits truncate the same way.
func parseUnixSeconds(s string) (time.Time, bool) {
	secText, fracText, hasFrac := strings.Cut(s, ".")
	if !hasFrac {
		sec, err := strconv.ParseInt(s, 10, 64)
		return time.Unix(sec, 0), err == nil
	}
	if strings.Contains(fracText, ".") {
		return time.Time{}, false
	}
	sec, err := strconv.ParseInt(secText, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	frac, err := strconv.ParseInt(fracText, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	nsec := int64(float64(frac) * math.Pow(10, float64(9-len(fracText))))
	return time.Unix(sec, nsec), true
}

// parseYearless parses a layout that has no year and places the result in the
// year of now, or in the neighbouring year around New Year: a December time
// read in January belongs to last year, a January time read in December to
// next year.
func parseYearless(layout, s string, loc *time.Location, now time.Time) (time.Time, bool) {
	t, err := time.ParseInLocation(layout, s, loc)
	if err != nil || t.Year() != 0 {
		return time.Time{}, false
	}
	year := now.Year()
	switch {
	case t.Month() == time.December && now.Month() == time.January:
		year--
	case t.Month() == time.January && now.Month() == time.December:
		year++
	}
	return t.AddDate(year, 0, 0), true
}

type timestampStage struct {
	source  string
	formats []timeFormat
	now     func() time.Time
	// lastKnown holds, per label set, the last timestamp this stage set; nil
	// unless action_on_failure is fudge.
	lastKnown *simplelru.LRU[model.Fingerprint, time.Time]
	// lastText parsed to lastTime. Consecutive lines of a log mostly share
	// their second, and so their timestamp text; a parse that depends on
	// the text alone (not a yearless layout) is then done once.
	lastText string
	lastTime time.Time
}

// ExtractedKeys implements ExtractedReader.
func (s *timestampStage) ExtractedKeys() ([]string, bool) { return []string{s.source}, false }

// Process implements Stage.
func (s *timestampStage) Process(e *Entry, next func(*Entry)) {
	if t, ok := s.parse(e.Extracted); ok {
		e.Timestamp = t
		if s.lastKnown != nil {
			s.lastKnown.Add(e.Labels.FastFingerprint(), t)
		}
	} else if s.lastKnown != nil {
		key := e.Labels.FastFingerprint()
		if last, ok := s.lastKnown.Get(key); ok {
			e.Timestamp = last.Add(time.Nanosecond)
			s.lastKnown.Add(key, e.Timestamp)
		}
	}
	next(e)
}

// parse tries the format, then each fallback format, in order.
func (s *timestampStage) parse(extracted map[string]any) (time.Time, bool) {
	v, ok := extracted[s.source]
	if !ok {
		return time.Time{}, false
	}
	text, err := stringify(v)
	if err != nil {
		return time.Time{}, false
	}
	if text == s.lastText && text != "" {
		return s.lastTime, true
	}
	for _, f := range s.formats {
		if t, ok := f.parse(text, s.now); ok {
			if f.kind != formatYearless {
				s.lastText, s.lastTime = text, t
			}
			return t, true
		}
	}
	return time.Time{}, false
}
