// Package stages is the public pipeline API of promtail-osquery: the entry that
// travels through a job's pipeline_stages, the Stage interface, the registry that
// maps a stage type name to its configuration, and the pipeline builder.
//
// A third party adds a stage by importing a package whose init calls Register;
// nothing in this package imports the agent's internals.
package stages

import (
	"maps"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/common/model"
)

// Entry is one log line on its way through a pipeline.
//
// Labels becomes the Loki stream. A label set handed to a pipeline or out of
// one must not change afterwards: targets hand one set to all the lines of a
// file, stages may share one between entries (Options.LabelsShared), and the
// clients find a stream by the set's address. Extracted holds values parsed
// from the line for later stages; it never leaves the pipeline. StructuredMetadata travels to Loki
// with the line without creating a stream. Ack, when set, is how the source
// learns that the entry is safe; a stage that keeps an entry past Process holds
// a reference to it (see Ack).
type Entry struct {
	Labels             model.LabelSet
	Extracted          map[string]any
	Timestamp          time.Time
	Line               string
	StructuredMetadata push.LabelsAdapter
	Ack                *Ack
}

// Clone returns a deep copy of e. A stage that keeps an entry after Process
// returns (multiline, cri partial lines) keeps a clone, since the caller reuses e.
func (e *Entry) Clone() Entry {
	c := *e
	c.Labels = e.Labels.Clone()
	c.Extracted = maps.Clone(e.Extracted)
	if e.StructuredMetadata != nil {
		c.StructuredMetadata = append(push.LabelsAdapter(nil), e.StructuredMetadata...)
	}
	return c
}
