package client

import (
	"testing"

	"github.com/prometheus/common/model"
)

func TestAppendLabels(t *testing.T) {
	tests := []struct {
		name string
		ls   model.LabelSet
		want string
	}{
		{"empty", model.LabelSet{}, `{}`},
		{"sorted by name", model.LabelSet{"job": "x", "app": "y", "b": "z"}, `{app="y", b="z", job="x"}`},
		{"values Go-quoted", model.LabelSet{"a": "say \"hi\"\n\\", "u": "héllo\x01"}, `{a="say \"hi\"\n\\", u="héllo\x01"}`},
		{"tenant label printed as is", model.LabelSet{"__tenant_id__": "t1", "a": "b"}, `{__tenant_id__="t1", a="b"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := appendLabels(nil, tt.ls, nil)
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if string(got) != tt.ls.String() {
				t.Errorf("differs from model.LabelSet.String() %s", tt.ls.String())
			}
		})
	}
}

func TestStreamIdentity(t *testing.T) {
	tests := []struct {
		name     string
		labels   model.LabelSet
		external model.LabelSet
		stream   model.LabelSet
	}{
		{"plain", model.LabelSet{"a": "1", "b": "2"}, nil, model.LabelSet{"a": "1", "b": "2"}},
		{"no labels", model.LabelSet{}, nil, model.LabelSet{}},
		{"only tenant", model.LabelSet{"__tenant_id__": "t"}, nil, model.LabelSet{}},
		{"tenant removed", model.LabelSet{"a": "1", "__tenant_id__": "t"}, nil, model.LabelSet{"a": "1"}},
		{"external added", model.LabelSet{"a": "1"}, model.LabelSet{"host": "h"}, model.LabelSet{"a": "1", "host": "h"}},
		{"entry wins over external", model.LabelSet{"a": "1", "host": "mine"}, model.LabelSet{"host": "h"}, model.LabelSet{"a": "1", "host": "mine"}},
		{"external tenant removed", model.LabelSet{"a": "1"}, model.LabelSet{"__tenant_id__": "t", "x": "y"}, model.LabelSet{"a": "1", "x": "y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.labels.Clone()
			pairs := streamPairs(nil, tt.labels, externalPairs(tt.external))
			if got := streamLabels(pairs); !got.Equal(tt.stream) {
				t.Errorf("stream labels %v, want %v", got, tt.stream)
			}
			if !tt.labels.Equal(before) {
				t.Errorf("entry labels changed to %v", tt.labels)
			}
			if got, want := fingerprint(pairs), fingerprint(streamPairs(nil, tt.stream, nil)); got != want {
				t.Errorf("fingerprint %x, want %x, that of the stream's own labels", got, want)
			}
			if !sameStream(tt.stream, pairs) {
				t.Error("sameStream is false for the entry's own stream")
			}
		})
	}
}

func TestSameStreamRejectsOthers(t *testing.T) {
	stream := model.LabelSet{"a": "1", "b": "2"}
	tests := []struct {
		name     string
		labels   model.LabelSet
		external model.LabelSet
	}{
		{"other value", model.LabelSet{"a": "1", "b": "3"}, nil},
		{"fewer labels", model.LabelSet{"a": "1"}, nil},
		{"more labels", model.LabelSet{"a": "1", "b": "2", "c": "3"}, nil},
		{"more from external", model.LabelSet{"a": "1", "b": "2"}, model.LabelSet{"c": "3"}},
		{"other name", model.LabelSet{"a": "1", "c": "2"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if sameStream(stream, streamPairs(nil, tt.labels, externalPairs(tt.external))) {
				t.Errorf("%v under %v taken for %v", tt.labels, tt.external, stream)
			}
		})
	}
}

// Streams that differ only in how names and values pair up must not share a
// fingerprint, or every entry of one would be checked against the other.
func TestFingerprintTellsPairingsApart(t *testing.T) {
	sets := []model.LabelSet{
		{"a": "b"},
		{"b": "a"},
		{"a": "a", "b": "b"},
		{"a": "b", "b": "a"},
		{"a": "1"},
		{"a": "1", "b": "1"},
		{},
	}
	seen := map[uint64]model.LabelSet{}
	for _, ls := range sets {
		fp := fingerprint(streamPairs(nil, ls, nil))
		if other, ok := seen[fp]; ok {
			t.Errorf("%v and %v share fingerprint %x", ls, other, fp)
		}
		seen[fp] = ls
	}
}

// Two streams forced under one fingerprint must stay apart.
func TestBatchFingerprintCollision(t *testing.T) {
	var b batch
	s1 := &stream{labels: model.LabelSet{"a": "1"}}
	s2 := &stream{labels: model.LabelSet{"a": "2"}}
	b.addStream(42, s1)
	b.addStream(42, s2)
	if got := b.find(42, streamPairs(nil, model.LabelSet{"a": "1"}, nil)); got != s1 {
		t.Errorf("find a=1 returned %v", got)
	}
	if got := b.find(42, streamPairs(nil, model.LabelSet{"a": "2"}, nil)); got != s2 {
		t.Errorf("find a=2 returned %v", got)
	}
	if got := b.find(42, streamPairs(nil, model.LabelSet{"a": "3"}, nil)); got != nil {
		t.Errorf("find a=3 returned %v", got)
	}
}
