package stages

import (
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func TestContainerTimestampsEvictLeastRecent(t *testing.T) {
	var c containerTimestamps
	entry := func(i int, ts string) *Entry {
		ex := map[string]any{}
		if ts != "" {
			ex["t"] = ts
		}
		return &Entry{Labels: model.LabelSet{"n": model.LabelValue(strconv.Itoa(i))}, Extracted: ex, Timestamp: mkTime}
	}
	base := mkTS("2024-01-01T00:00:00Z")
	for i := range maxRememberedTimestamps {
		c.apply(entry(i, base.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano)), "t")
	}
	// Touch label set 0 so that 1 becomes the least recently used, then add
	// one more label set.
	e0 := entry(0, "")
	c.apply(e0, "t")
	if !e0.Timestamp.Equal(base.Add(time.Nanosecond)) {
		t.Fatalf("fudged timestamp %v", e0.Timestamp)
	}
	c.apply(entry(maxRememberedTimestamps, base.Format(time.RFC3339Nano)), "t")
	if c.lru.Len() != maxRememberedTimestamps || len(c.byLabels) != maxRememberedTimestamps {
		t.Fatalf("cache holds %d/%d label sets", c.lru.Len(), len(c.byLabels))
	}
	e1 := entry(1, "")
	c.apply(e1, "t")
	if !e1.Timestamp.Equal(mkTime) {
		t.Errorf("evicted label set still fudged to %v", e1.Timestamp)
	}
	e0 = entry(0, "")
	c.apply(e0, "t")
	if !e0.Timestamp.Equal(base.Add(2 * time.Nanosecond)) {
		t.Errorf("recently used label set lost: %v", e0.Timestamp)
	}
	// A new good timestamp replaces the remembered one.
	c.apply(entry(0, "2025-01-01T00:00:00Z"), "t")
	e0 = entry(0, "unparsable")
	c.apply(e0, "t")
	if !e0.Timestamp.Equal(mkTS("2025-01-01T00:00:00.000000001Z")) {
		t.Errorf("timestamp after update %v", e0.Timestamp)
	}
}

func TestParseExtractedRFC3339(t *testing.T) {
	ex := map[string]any{"s": "2024-01-01T00:00:00.123Z", "n": 5.0, "nil": nil, "bad": "yesterday"}
	if ts, ok := parseExtractedRFC3339(ex, "s"); !ok || !ts.Equal(mkTS("2024-01-01T00:00:00.123Z")) {
		t.Errorf("s: %v %v", ts, ok)
	}
	for _, k := range []string{"n", "nil", "bad", "absent"} {
		if _, ok := parseExtractedRFC3339(ex, k); ok {
			t.Errorf("%s parsed", k)
		}
	}
}
