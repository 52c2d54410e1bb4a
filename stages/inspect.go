package stages

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
)

// inspect wraps st so that every entry it passes on is reported to w as the
// difference from the entry it received (-inspect). The wrapper keeps the
// Flusher interface of st so the pipeline still flushes it.
func inspect(st Stage, name string, w io.Writer) Stage {
	is := &inspectedStage{inner: st, name: name, w: w}
	if f, ok := st.(Flusher); ok {
		return &inspectedFlusher{inspectedStage: is, flusher: f}
	}
	return is
}

type inspectedStage struct {
	inner Stage
	name  string
	w     io.Writer
	buf   bytes.Buffer
}

func (s *inspectedStage) Process(e *Entry, next func(*Entry)) {
	before := e.Clone()
	passed := false
	s.inner.Process(e, func(out *Entry) {
		passed = true
		s.report(&before, out)
		next(out)
	})
	if !passed {
		fmt.Fprintf(s.w, "[inspect: %s stage]: entry dropped or held back\n", s.name)
	}
}

func (s *inspectedStage) report(before, after *Entry) {
	s.buf.Reset()
	writeEntryDiff(&s.buf, before, after)
	if s.buf.Len() == 0 {
		fmt.Fprintf(s.w, "[inspect: %s stage]: none\n", s.name)
		return
	}
	fmt.Fprintf(s.w, "[inspect: %s stage]:\n%s", s.name, s.buf.Bytes())
}

type inspectedFlusher struct {
	*inspectedStage
	flusher Flusher
}

func (s *inspectedFlusher) Flush(now time.Time, final bool, next func(*Entry)) {
	s.flusher.Flush(now, final, func(out *Entry) {
		fmt.Fprintf(s.w, "[inspect: %s stage]: flushed held entry\n\ttimestamp: %s\n\tline: %s\n", s.name, out.Timestamp.Format(time.RFC3339Nano), strconv.Quote(out.Line))
		next(out)
	})
}

func (s *inspectedFlusher) FlushInterval() time.Duration { return s.flusher.FlushInterval() }

// writeEntryDiff writes one tab-indented line per change between before and
// after: labels and extracted values added (+), removed (-) or changed (->),
// then timestamp, line and structured metadata. Keys are sorted so the output
// is stable.
func writeEntryDiff(w *bytes.Buffer, before, after *Entry) {
	for _, k := range unionKeys(before.Labels, after.Labels) {
		old, hadOld := before.Labels[model.LabelName(k)]
		cur, hasCur := after.Labels[model.LabelName(k)]
		writeChange(w, "labels", k, hadOld, hasCur, strconv.Quote(string(old)), strconv.Quote(string(cur)))
	}
	for _, k := range unionKeys(before.Extracted, after.Extracted) {
		old, hadOld := before.Extracted[k]
		cur, hasCur := after.Extracted[k]
		o, c := showValue(old), showValue(cur)
		if hadOld && hasCur && o == c {
			continue
		}
		writeChange(w, "extracted", k, hadOld, hasCur, o, c)
	}
	if !before.Timestamp.Equal(after.Timestamp) {
		fmt.Fprintf(w, "\ttimestamp: %s -> %s\n", before.Timestamp.Format(time.RFC3339Nano), after.Timestamp.Format(time.RFC3339Nano))
	}
	if before.Line != after.Line {
		fmt.Fprintf(w, "\tline: %s -> %s\n", strconv.Quote(before.Line), strconv.Quote(after.Line))
	}
	if !slices.Equal(before.StructuredMetadata, after.StructuredMetadata) {
		fmt.Fprintf(w, "\tstructured_metadata: %v -> %v\n", before.StructuredMetadata, after.StructuredMetadata)
	}
}

func writeChange(w *bytes.Buffer, what, key string, hadOld, hasCur bool, old, cur string) {
	switch {
	case hadOld && hasCur:
		if old != cur {
			fmt.Fprintf(w, "\t%s[%q]: %s -> %s\n", what, key, old, cur)
		}
	case hadOld:
		fmt.Fprintf(w, "\t%s[%q]: - %s\n", what, key, old)
	case hasCur:
		fmt.Fprintf(w, "\t%s[%q]: + %s\n", what, key, cur)
	}
}

func showValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%v (%T)", v, v)
}

func unionKeys[K ~string, V any](a, b map[K]V) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, string(k))
	}
	for k := range b {
		if _, dup := a[k]; !dup {
			keys = append(keys, string(k))
		}
	}
	slices.Sort(keys)
	return keys
}
