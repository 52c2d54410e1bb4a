package stages

import (
	"container/list"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/model"
)

// The docker and cri stages are fixed pipelines in Promtail (parse, labels
// stream, timestamp RFC3339Nano, output). They are written out here as direct
// code with the same observable steps; these helpers are the shared parts.

// seedExtractedFromLabels copies the current labels into the extracted map.
// Promtail's docker and cri stages are nested pipelines, and every pipeline
// starts that way; so labels added since the job's pipeline began (static_labels,
// labels) become extracted values here too, and win over extracted values of the
// same name.
func seedExtractedFromLabels(e *Entry) map[string]any {
	extracted := writableExtracted(e)
	for k, v := range e.Labels {
		extracted[string(k)] = string(v)
	}
	return extracted
}

// setStreamLabelFrom sets the stream label from extracted["stream"] the way a
// labels stage would: only for a value with a text form that is valid UTF-8.
func setStreamLabelFrom(e *Entry) {
	v, ok := e.Extracted["stream"]
	if !ok {
		return
	}
	s, err := stringify(v)
	if err != nil || !utf8.ValidString(s) {
		return
	}
	if e.Labels == nil {
		e.Labels = model.LabelSet{}
	}
	e.Labels["stream"] = model.LabelValue(s)
}

// maxRememberedTimestamps is how many label sets a container stage remembers
// the last timestamp for (Promtail's timestamp stage uses the same bound).
const maxRememberedTimestamps = 10000

// containerTimestamps sets an entry's timestamp from an extracted RFC 3339
// value and, when that fails, "fudges" it like a timestamp stage with the
// default action_on_failure: one nanosecond after the last good timestamp of
// the same label set, so that entries keep their order in Loki. Label sets are
// remembered in LRU order.
type containerTimestamps struct {
	byLabels map[model.Fingerprint]*list.Element
	lru      list.List // of *rememberedTimestamp, most recent first
}

type rememberedTimestamp struct {
	key model.Fingerprint
	ts  time.Time
}

func (c *containerTimestamps) apply(e *Entry, source string) {
	key := e.Labels.FastFingerprint()
	if ts, ok := parseExtractedRFC3339(e.Extracted, source); ok {
		e.Timestamp = ts
		c.remember(key, ts)
		return
	}
	if el, ok := c.byLabels[key]; ok {
		r := el.Value.(*rememberedTimestamp)
		r.ts = r.ts.Add(time.Nanosecond)
		e.Timestamp = r.ts
		c.lru.MoveToFront(el)
	}
}

func (c *containerTimestamps) remember(key model.Fingerprint, ts time.Time) {
	if el, ok := c.byLabels[key]; ok {
		el.Value.(*rememberedTimestamp).ts = ts
		c.lru.MoveToFront(el)
		return
	}
	if c.byLabels == nil {
		c.byLabels = make(map[model.Fingerprint]*list.Element)
	}
	if c.lru.Len() >= maxRememberedTimestamps {
		oldest := c.lru.Back()
		r := oldest.Value.(*rememberedTimestamp)
		delete(c.byLabels, r.key)
		// Reuse the evicted element's record for the new label set.
		r.key, r.ts = key, ts
		c.lru.MoveToFront(oldest)
		c.byLabels[key] = oldest
		return
	}
	c.byLabels[key] = c.lru.PushFront(&rememberedTimestamp{key: key, ts: ts})
}

func parseExtractedRFC3339(extracted map[string]any, source string) (time.Time, bool) {
	v, ok := extracted[source]
	if !ok {
		return time.Time{}, false
	}
	s, err := stringify(v)
	if err != nil {
		return time.Time{}, false
	}
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return ts, true
}
