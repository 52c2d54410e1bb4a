package client

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"

	"github.com/promtail-osquery/promtail-osquery/stages"
)

// idleClient is a client whose goroutine is not running, to drive add and
// encode directly.
func idleClient(t testing.TB, opts Options) *client {
	t.Helper()
	c, err := newClient(NewMetrics(nil), discardLogger(), testConfig(t, "http://127.0.0.1:1/loki/api/v1/push"), opts, "promtail/test")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The hand-written encoding must be byte for byte what the gogo generated
// marshaller produces for the same request.
func TestEncodingMatchesGogo(t *testing.T) {
	withMeta := entry("with metadata", "job", "a")
	withMeta.StructuredMetadata = push.LabelsAdapter{{Name: "trace_id", Value: "abc"}, {Name: "empty", Value: ""}, {Name: "", Value: "noname"}}
	zeroTime := entry("unix zero", "job", "a")
	zeroTime.Timestamp = time.Unix(0, 0)
	negative := entry("before 1970", "job", "a")
	negative.Timestamp = time.Date(1969, 7, 20, 20, 17, 40, 5, time.UTC)
	wholeSecond := entry("whole second", "job", "a")
	wholeSecond.Timestamp = time.Unix(1700000000, 0)
	emptyLine := entry("", "job", "a")
	long := entry(string(bytes.Repeat([]byte("x"), 70000)), "job", "big")
	spanning, spanningWant := interleavedStreams()

	tests := []struct {
		name    string
		entries []stages.Entry
		want    []push.Stream
	}{
		{
			name:    "one entry",
			entries: []stages.Entry{entry("hello", "job", "a")},
			want:    []push.Stream{{Labels: `{job="a"}`, Entries: []push.Entry{{Timestamp: time.Unix(1700000000, 123456789), Line: "hello"}}}},
		},
		{
			name: "streams in arrival order, entries in order",
			entries: []stages.Entry{
				entry("1", "job", "b"), entry("2", "job", "a"), entry("3", "job", "b"),
				entry("4", "job", "a", "__tenant_id__", ""),
			},
			want: []push.Stream{
				{Labels: `{job="b"}`, Entries: []push.Entry{{Timestamp: time.Unix(1700000000, 123456789), Line: "1"}, {Timestamp: time.Unix(1700000000, 123456789), Line: "3"}}},
				{Labels: `{job="a"}`, Entries: []push.Entry{{Timestamp: time.Unix(1700000000, 123456789), Line: "2"}, {Timestamp: time.Unix(1700000000, 123456789), Line: "4"}}},
			},
		},
		{
			name:    "edge values",
			entries: []stages.Entry{withMeta, zeroTime, negative, wholeSecond, emptyLine, long},
			want: []push.Stream{
				{Labels: `{job="a"}`, Entries: []push.Entry{
					{Timestamp: withMeta.Timestamp, Line: withMeta.Line, StructuredMetadata: withMeta.StructuredMetadata},
					{Timestamp: zeroTime.Timestamp, Line: zeroTime.Line},
					{Timestamp: negative.Timestamp, Line: negative.Line},
					{Timestamp: wholeSecond.Timestamp, Line: wholeSecond.Line},
					{Timestamp: emptyLine.Timestamp},
				}},
				{Labels: `{job="big"}`, Entries: []push.Entry{{Timestamp: long.Timestamp, Line: long.Line}}},
			},
		},
		{
			name:    "streams interleaved, entries and metadata across chunks",
			entries: spanning,
			want:    spanningWant,
		},
		{
			name:    "no labels",
			entries: []stages.Entry{entry("bare")},
			want:    []push.Stream{{Labels: `{}`, Entries: []push.Entry{{Timestamp: time.Unix(1700000000, 123456789), Line: "bare"}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := idleClient(t, Options{})
			c.cfg.BatchSize = 1 << 30
			for i := range tt.entries {
				c.add(&tt.entries[i])
			}
			body := c.encode(&c.tenants[""].batch)
			want, err := (&push.PushRequest{Streams: tt.want}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got, err := snappy.Decode(nil, body.data)
			if err != nil {
				t.Fatalf("body is not a snappy block: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encoding differs from gogo:\n got %x\nwant %x", head(got), head(want))
			}
			var back push.PushRequest
			if err := back.Unmarshal(got); err != nil {
				t.Fatalf("gogo cannot decode it: %v", err)
			}
		})
	}
}

// interleavedStreams are entries of three streams taking turns, with lines
// and metadata of every length up to a few chunks, so that entries and fields
// start and end anywhere in a chunk; and the streams gogo should get.
func interleavedStreams() ([]stages.Entry, []push.Stream) {
	var entries []stages.Entry
	var want []push.Stream
	for i := range 300 {
		s := i % 3
		e := entry(strings.Repeat(string(rune('a'+s)), (i*97)%(3*chunkSize)), "stream", strconv.Itoa(s))
		e.Timestamp = time.Unix(int64(1700000000+i), int64(i))
		if i%7 == 0 {
			e.StructuredMetadata = push.LabelsAdapter{{Name: "n" + strings.Repeat("m", i%50), Value: strings.Repeat("v", (i*31)%(2*chunkSize))}}
		}
		entries = append(entries, e)
		if len(want) <= s {
			want = append(want, push.Stream{Labels: `{stream="` + strconv.Itoa(s) + `"}`})
		}
		want[s].Entries = append(want[s].Entries, push.Entry{Timestamp: e.Timestamp, Line: e.Line, StructuredMetadata: e.StructuredMetadata})
	}
	return entries, want
}

func head(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}

func TestMetadataSizeIsProtobufSize(t *testing.T) {
	meta := push.LabelsAdapter{{Name: "a", Value: "b"}, {Name: "trace", Value: ""}, {Name: string(bytes.Repeat([]byte("n"), 200)), Value: "v"}}
	want := 0
	for _, l := range meta {
		want += l.Size()
	}
	if got := metadataSize(meta); got != want {
		t.Errorf("metadataSize = %d, want %d", got, want)
	}
}

func TestValidTimestamp(t *testing.T) {
	tests := []struct {
		ts   time.Time
		want bool
	}{
		{time.Unix(0, 0), true},
		{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{time.Time{}, true},
		{time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), true},
		{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{time.Date(0, 12, 31, 23, 59, 59, 0, time.UTC), false},
	}
	for _, tt := range tests {
		if got := validTimestamp(tt.ts); got != tt.want {
			t.Errorf("validTimestamp(%v) = %v, want %v", tt.ts, got, tt.want)
		}
	}
}

func TestIdleTenantsForgotten(t *testing.T) {
	c := idleClient(t, Options{})
	idle := c.tenantOf(nil)
	idle.batch.createdAt = time.Now().Add(-idleTenantTTL - time.Minute)
	c.cfg.TenantID = "busy"
	busy := c.tenantOf(nil)
	busy.batch.createdAt = time.Now()
	c.sendExpired()
	if _, ok := c.tenants[""]; ok {
		t.Error("idle tenant kept")
	}
	if _, ok := c.tenants["busy"]; !ok {
		t.Error("recent tenant forgotten")
	}
	if c.lastTenant != busy {
		t.Error("lastTenant changed")
	}
}
