package stages

import (
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func mustTimestampStage(t testing.TB, cfg TimestampConfig) *timestampStage {
	t.Helper()
	st, err := cfg.NewStage(Options{})
	if err != nil {
		t.Fatalf("NewStage: %v", err)
	}
	return st.(*timestampStage)
}

func strPtr(s string) *string { return &s }

func TestTimestampFormats(t *testing.T) {
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		format   string
		location string
		value    any
		want     time.Time
		fails    bool
	}{
		{name: "RFC3339", format: "RFC3339", value: "2024-01-02T03:04:05+05:30", want: time.Date(2024, 1, 1, 21, 34, 5, 0, time.UTC)},
		{name: "RFC3339 takes a fraction", format: "RFC3339", value: "2024-01-02T03:04:05.5Z", want: time.Date(2024, 1, 2, 3, 4, 5, 5e8, time.UTC)},
		{name: "RFC3339 lowercase t", format: "RFC3339", value: "2024-01-02t03:04:05z", fails: true},
		{name: "RFC3339Nano", format: "RFC3339Nano", value: "2023-11-14T23:13:20.000000001+01:00", want: time.Date(2023, 11, 14, 22, 13, 20, 1, time.UTC)},
		{name: "named layout ignores location", format: "RFC822", location: "America/New_York", value: "06 Jan 06 15:04 UTC", want: time.Date(2006, 1, 6, 15, 4, 0, 0, time.UTC)},
		{name: "unknown abbreviation is UTC", format: "RFC1123", value: "Tue, 03 Jan 2006 15:04:05 PST", want: time.Date(2006, 1, 3, 15, 4, 5, 0, time.UTC)},
		{name: "ANSIC", format: "ANSIC", value: "Mon Jan  9 15:04:05 2006", want: time.Date(2006, 1, 9, 15, 4, 5, 0, time.UTC)},
		{name: "UnixDate", format: "UnixDate", value: "Sun Jan  8 15:04:05 UTC 2006", want: time.Date(2006, 1, 8, 15, 4, 5, 0, time.UTC)},
		{name: "RubyDate", format: "RubyDate", value: "Sat Jan 07 15:04:05 -0700 2006", want: time.Date(2006, 1, 7, 22, 4, 5, 0, time.UTC)},
		{name: "RFC822Z", format: "RFC822Z", value: "05 Jan 06 15:04 +0100", want: time.Date(2006, 1, 5, 14, 4, 0, 0, time.UTC)},
		{name: "RFC850", format: "RFC850", value: "Wednesday, 04-Jan-06 15:04:05 UTC", want: time.Date(2006, 1, 4, 15, 4, 5, 0, time.UTC)},
		{name: "RFC1123Z", format: "RFC1123Z", value: "Mon, 02 Jan 2006 15:04:05 -0700", want: time.Date(2006, 1, 2, 22, 4, 5, 0, time.UTC)},
		{name: "Unix seconds", format: "Unix", value: "1700000000", want: time.Unix(1700000000, 0)},
		{name: "Unix fraction", format: "Unix", value: "1700000000.5", want: time.Unix(1700000000, 5e8)},
		{name: "Unix ten fraction digits", format: "Unix", value: "1700000000.1234567891", want: time.Unix(1700000000, 123456789)},
		{name: "Unix negative fraction", format: "Unix", value: "-100.5", want: time.Unix(-100, 5e8)},
		{name: "Unix trailing dot", format: "Unix", value: "1700000000.", fails: true},
		{name: "Unix two dots", format: "Unix", value: "1.2.3", fails: true},
		{name: "Unix from a JSON number", format: "Unix", value: float64(1700000000), want: time.Unix(1700000000, 0)},
		{name: "UnixMs", format: "UnixMs", value: "1717171717171", want: time.UnixMilli(1717171717171)},
		{name: "UnixMs from a float in exponent form", format: "UnixMs", value: 1.717171717173e12, want: time.UnixMilli(1717171717173)},
		{name: "UnixUs", format: "UnixUs", value: "1600000000000001", want: time.UnixMicro(1600000000000001)},
		{name: "UnixNs", format: "UnixNs", value: "1700000000123456789", want: time.Unix(0, 1700000000123456789)},
		{name: "UnixNs not a number", format: "UnixNs", value: "soon", fails: true},
		{name: "custom layout in UTC", format: "2006-01-02 15:04:05,000", value: "2024-03-10 08:15:42,731", want: time.Date(2024, 3, 10, 8, 15, 42, 731e6, time.UTC)},
		{name: "custom layout with offset", format: "02/Jan/2006:15:04:05 -0700", value: "23/Sep/2023:04:17:52 -0700", want: time.Date(2023, 9, 23, 11, 17, 52, 0, time.UTC)},
		{name: "custom layout in location", format: "2006-01-02 15:04:05", location: "America/New_York", value: "2024-07-15 09:00:00", want: time.Date(2024, 7, 15, 9, 0, 0, 0, newYork)},
		{name: "abbreviation known to location", format: "2006-01-02 15:04:05 MST", location: "America/New_York", value: "2024-01-15 09:00:00 EST", want: time.Date(2024, 1, 15, 14, 0, 0, 0, time.UTC)},
		{name: "abbreviation unknown without location", format: "2006-01-02 15:04:05 MST", value: "2024-02-02 10:00:00 CET", want: time.Date(2024, 2, 2, 10, 0, 0, 0, time.UTC)},
		{name: "offset is not an abbreviation", format: "2006-01-02 15:04:05 MST", value: "2024-02-02 10:00:00 +0300", fails: true},
		{name: "map has no text form", format: "Unix", value: map[string]any{"a": 1}, fails: true},
		{name: "nil has no text form", format: "Unix", value: nil, fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := TimestampConfig{Source: "ts", Format: tt.format, ActionOnFailure: strPtr("skip")}
			if tt.location != "" {
				cfg.Location = &tt.location
			}
			st := mustTimestampStage(t, cfg)
			before := time.Unix(42, 0)
			e := &Entry{Labels: model.LabelSet{}, Extracted: map[string]any{"ts": tt.value}, Timestamp: before}
			st.Process(e, func(*Entry) {})
			if tt.fails {
				if !e.Timestamp.Equal(before) {
					t.Fatalf("expected failure to keep the timestamp, got %v", e.Timestamp)
				}
				return
			}
			if !e.Timestamp.Equal(tt.want) {
				t.Fatalf("got %v, want %v", e.Timestamp.UTC(), tt.want.UTC())
			}
		})
	}
}

func TestTimestampFallbackFormats(t *testing.T) {
	st := mustTimestampStage(t, TimestampConfig{
		Source:          "ts",
		Format:          "RFC3339Nano",
		FallbackFormats: []string{"2006-01-02 15:04:05", "UnixMs", "02 Jan 06 15:04 MST"},
	})
	tests := map[string]time.Time{
		"2024-09-09T09:09:09.000000009Z": time.Date(2024, 9, 9, 9, 9, 9, 9, time.UTC),
		"2024-09-09 09:09:10":            time.Date(2024, 9, 9, 9, 9, 10, 0, time.UTC),
		"1725872951000":                  time.Date(2024, 9, 9, 9, 9, 11, 0, time.UTC),
		"09 Sep 24 09:09 UTC":            time.Date(2024, 9, 9, 9, 9, 0, 0, time.UTC),
	}
	for in, want := range tests {
		e := &Entry{Labels: model.LabelSet{}, Extracted: map[string]any{"ts": in}}
		st.Process(e, func(*Entry) {})
		if !e.Timestamp.Equal(want) {
			t.Errorf("%q: got %v, want %v", in, e.Timestamp, want)
		}
	}
}

func TestTimestampYearless(t *testing.T) {
	tests := []struct {
		name  string
		now   time.Time
		value string
		want  time.Time
		fails bool
	}{
		{name: "same year", now: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), value: "Mar 10 08:15:42", want: time.Date(2024, 3, 10, 8, 15, 42, 0, time.UTC)},
		{name: "December read in January", now: time.Date(2025, 1, 1, 0, 0, 5, 0, time.UTC), value: "Dec 31 23:59:59", want: time.Date(2024, 12, 31, 23, 59, 59, 0, time.UTC)},
		{name: "January read in December", now: time.Date(2024, 12, 31, 23, 59, 0, 0, time.UTC), value: "Jan  1 00:00:01", want: time.Date(2025, 1, 1, 0, 0, 1, 0, time.UTC)},
		{name: "not matching the layout", now: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), value: "2024 Mar 10", fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := mustTimestampStage(t, TimestampConfig{Source: "ts", Format: "Jan _2 15:04:05", ActionOnFailure: strPtr("skip")})
			st.now = func() time.Time { return tt.now }
			e := &Entry{Labels: model.LabelSet{}, Extracted: map[string]any{"ts": tt.value}}
			st.Process(e, func(*Entry) {})
			if tt.fails {
				if !e.Timestamp.IsZero() {
					t.Fatalf("expected a failure, got %v", e.Timestamp)
				}
				return
			}
			if !e.Timestamp.Equal(tt.want) {
				t.Fatalf("got %v, want %v", e.Timestamp, tt.want)
			}
		})
	}
}

// The same text twice gives the same time from the stage's memory, except
// for a yearless layout, whose year comes from when it is read.
func TestTimestampRepeatedText(t *testing.T) {
	layout := mustTimestampStage(t, TimestampConfig{Source: "ts", Format: "RFC3339", ActionOnFailure: strPtr("skip")})
	yearless := mustTimestampStage(t, TimestampConfig{Source: "ts", Format: "Jan _2 15:04:05", FallbackFormats: []string{"RFC3339"}})
	year := 2024
	yearless.now = func() time.Time { return time.Date(year, 6, 1, 0, 0, 0, 0, time.UTC) }
	run := func(st *timestampStage, value string) time.Time {
		e := &Entry{Labels: model.LabelSet{}, Extracted: map[string]any{"ts": value}}
		st.Process(e, func(*Entry) {})
		return e.Timestamp
	}
	for _, v := range []string{"2026-11-01T00:00:01Z", "2026-11-01T00:00:01Z", "2026-11-01T00:00:02Z", "2026-11-01T00:00:01Z"} {
		want, _ := time.Parse(time.RFC3339, v)
		if got := run(layout, v); !got.Equal(want) {
			t.Fatalf("%s: got %v", v, got)
		}
		if got := run(yearless, v); !got.Equal(want) {
			t.Fatalf("%s through the fallback: got %v", v, got)
		}
	}
	first := run(yearless, "Mar 10 08:15:42")
	year = 2025
	if again := run(yearless, "Mar 10 08:15:42"); again.Year() != 2025 || first.Year() != 2024 {
		t.Fatalf("yearless text read in 2024 then 2025 gave %v then %v", first, again)
	}
	if got := run(layout, "not a time"); !got.IsZero() {
		t.Fatalf("an unparsable text got %v", got)
	}
}

func TestTimestampYearlessRefusesAYear(t *testing.T) {
	// Guard against a year slipping through: a result outside year 0 means the
	// layout parsed one.
	if _, ok := parseYearless("2006", "2024", time.UTC, time.Now()); ok {
		t.Fatal("a parsed year was accepted")
	}
}

func TestTimestampFudge(t *testing.T) {
	st := mustTimestampStage(t, TimestampConfig{Source: "ts", Format: "RFC3339Nano"})
	run := func(stream, ts string) time.Time {
		e := &Entry{Labels: model.LabelSet{"stream": model.LabelValue(stream)}, Extracted: map[string]any{}, Timestamp: time.Unix(7, 0)}
		if ts != "" {
			e.Extracted["ts"] = ts
		}
		st.Process(e, func(*Entry) {})
		return e.Timestamp
	}
	base := time.Date(2024, 5, 5, 5, 5, 5, 0, time.UTC)
	steps := []struct {
		stream, ts string
		want       time.Time
	}{
		{"c", "", time.Unix(7, 0)}, // nothing known yet: the timestamp stays
		{"a", "2024-05-05T05:05:05Z", base},
		{"a", "bad", base.Add(1)},
		{"a", "", base.Add(2)},
		{"b", "2024-06-06T06:06:06.5Z", time.Date(2024, 6, 6, 6, 6, 6, 5e8, time.UTC)},
		{"a", "bad", base.Add(3)},
		{"b", "bad", time.Date(2024, 6, 6, 6, 6, 6, 5e8+1, time.UTC)},
		{"a", "2024-05-05T05:05:06Z", base.Add(time.Second)},
		{"a", "bad", base.Add(time.Second + 1)},
	}
	for i, s := range steps {
		if got := run(s.stream, s.ts); !got.Equal(s.want) {
			t.Fatalf("step %d (%s %q): got %v, want %v", i, s.stream, s.ts, got, s.want)
		}
	}
}

func TestTimestampFudgeCacheIsBounded(t *testing.T) {
	st := mustTimestampStage(t, TimestampConfig{Source: "ts", Format: "Unix"})
	for i := range fudgeCacheSize + 10 {
		e := &Entry{Labels: model.LabelSet{"n": model.LabelValue(string(rune('a'+i%26)) + time.Duration(i).String())}, Extracted: map[string]any{"ts": "5"}}
		st.Process(e, func(*Entry) {})
	}
	if n := st.lastKnown.Len(); n != fudgeCacheSize {
		t.Fatalf("cache holds %d label sets, want %d", n, fudgeCacheSize)
	}
}

func TestTimestampConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  TimestampConfig
		want string
	}{
		{name: "no source", cfg: TimestampConfig{Format: "Unix"}, want: "timestamp source value is required"},
		{name: "no format", cfg: TimestampConfig{Source: "ts"}, want: "timestamp format is required"},
		{name: "bad location", cfg: TimestampConfig{Source: "ts", Format: "RFC3339", Location: strPtr("Mars/Olympus_Mons")}, want: "invalid location specified: unknown time zone Mars/Olympus_Mons"},
		{name: "bad action", cfg: TimestampConfig{Source: "ts", Format: "RFC3339", ActionOnFailure: strPtr("panic")}, want: "invalid action on failure"},
		{name: "empty action", cfg: TimestampConfig{Source: "ts", Format: "RFC3339", ActionOnFailure: strPtr("")}, want: "invalid action on failure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cfg.NewStage(Options{})
			stErrContains(t, err, tt.want)
		})
	}
}

func TestTimestampFromYAML(t *testing.T) {
	p := stPipeline(t, `
- timestamp:
    source: ts
    format: UnixMs
    location: Europe/Paris
`, nil)
	e := stEntry("x", "")
	e.Extracted = map[string]any{"ts": "1000"}
	out := stRun(p, e)
	if len(out) != 1 || !out[0].Timestamp.Equal(time.Unix(1, 0)) {
		t.Fatalf("unexpected output %+v", out)
	}
}

func BenchmarkTimestamp(b *testing.B) {
	for _, bc := range []struct {
		name, format string
		value        any
	}{
		{"RFC3339Nano", "RFC3339Nano", "2023-11-14T22:13:20.123456789Z"},
		{"custom", "2006-01-02 15:04:05,000", "2024-03-10 08:15:42,731"},
		{"UnixMs", "UnixMs", "1717171717171"},
		{"Unix fraction", "Unix", "1700000000.123456"},
		{"float value", "Unix", float64(1700000000)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			st := mustTimestampStage(b, TimestampConfig{Source: "ts", Format: bc.format})
			e := &Entry{Labels: model.LabelSet{"job": "varlogs", "host": "a"}, Extracted: map[string]any{"ts": bc.value}}
			next := func(*Entry) {}
			b.ReportAllocs()
			for b.Loop() {
				st.Process(e, next)
			}
		})
	}
}
