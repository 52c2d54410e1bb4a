package osquery

import (
	"testing"
	"time"
)

// goLayout is the layout a Promtail user gives the timestamp stage for
// calendarTime; the hand-written parser must agree with it on every value it
// accepts.
const goLayout = "Mon Jan _2 15:04:05 2006 MST"

func TestParseCalendarTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time // zero: refused
	}{
		{"Mon Mar  3 09:05:07 2025 UTC", time.Date(2025, 3, 3, 9, 5, 7, 0, time.UTC)},
		{"Sun Nov  1 00:00:00 2026 UTC", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{"Tue Dec 31 23:59:59 2024 UTC", time.Date(2024, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"Thu Feb 29 12:00:00 2024 UTC", time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)},
		{"Mon Mar 03 09:05:07 2025 UTC", time.Date(2025, 3, 3, 9, 5, 7, 0, time.UTC)},
		{"Mon Mar 3 09:05:07 2025 UTC", time.Date(2025, 3, 3, 9, 5, 7, 0, time.UTC)},
		{"mon MAR  3 09:05:07 2025 UTC", time.Date(2025, 3, 3, 9, 5, 7, 0, time.UTC)},
		{"Tue Sep 30 17:37:30 2014", time.Date(2014, 9, 30, 17, 37, 30, 0, time.UTC)},
		{"Wed Jan  1 00:00:00 1970 GMT", time.Unix(0, 0)},
		{"Fri Jan  1 00:00:00 1601 UTC", time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"no_time", time.Time{}},
		{"test", time.Time{}},
		{"", time.Time{}},
		{"Mon Mar  3 09:05:07 2025 CET", time.Time{}},
		{"Mon Mar  3 09:05:07 2025 UTC ", time.Time{}},
		{"Thu Feb 29 12:00:00 2025 UTC", time.Time{}},
		{"Mon Apr 31 12:00:00 2025 UTC", time.Time{}},
		{"Mon Mar  0 09:05:07 2025 UTC", time.Time{}},
		{"Mon Mar  3 24:00:00 2025 UTC", time.Time{}},
		{"Mon Mar  3 09:60:07 2025 UTC", time.Time{}},
		{"Mon Mar  3 09:05:60 2025 UTC", time.Time{}},
		{"Mon Mar  3 9:05:07 2025 UTC", time.Time{}},
		{"Mon Mar  3 09:05:07 25 UTC", time.Time{}},
		{"Xyz Mar  3 09:05:07 2025 UTC", time.Time{}},
		{"Mon Foo  3 09:05:07 2025 UTC", time.Time{}},
		{"Mon Mar   3 09:05:07 2025 UTC", time.Time{}},
		{"2026-11-30 23:59:59", time.Time{}},
		{"Mon", time.Time{}},
	}
	for _, tt := range tests {
		got, ok := parseCalendarTime([]byte(tt.in))
		if ok != !tt.want.IsZero() || (ok && !got.Equal(tt.want)) {
			t.Errorf("%q: got %v %v, want %v", tt.in, got, ok, tt.want)
		}
		if ok {
			if ref, err := time.Parse(goLayout, tt.in); err == nil && !ref.Equal(got) {
				t.Errorf("%q: %v, but time.Parse says %v", tt.in, got, ref)
			}
		}
	}
}

// Every second-aligned UTC time, formatted as osquery does, parses back to
// itself and to what time.Parse says.
func TestParseCalendarTimeAgreesWithTimeParse(t *testing.T) {
	start := time.Date(1999, 12, 25, 0, 0, 0, 0, time.UTC)
	for i := range 3000 {
		want := start.Add(time.Duration(i) * 7 * time.Hour).Add(time.Duration(i%61) * time.Second)
		text := want.Format("Mon Jan _2 15:04:05 2006") + " UTC"
		got, ok := parseCalendarTime([]byte(text))
		ref, err := time.Parse(goLayout, text)
		if !ok || err != nil || !got.Equal(want) || !ref.Equal(got) {
			t.Fatalf("%q: got %v %v, time.Parse %v %v, want %v", text, got, ok, ref, err, want)
		}
	}
}

func TestParseUnixSeconds(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"1740992707", time.Unix(1740992707, 0), true},
		{"0", time.Unix(0, 0), true},
		{"1740992707.25", time.Unix(1740992707, 250_000_000), true},
		{"1740992707.123456789123", time.Unix(1740992707, 123456789), true},
		{"253402300799", time.Unix(253402300799, 0), true},
		{"253402300800", time.Time{}, false},
		{"99999999999999999999999", time.Time{}, false},
		{"-1", time.Time{}, false},
		{"1.", time.Time{}, false},
		{"1e9", time.Time{}, false},
		{"", time.Time{}, false},
		{"12a", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := parseUnixSeconds([]byte(tt.in))
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("%q: got %v %v, want %v %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
