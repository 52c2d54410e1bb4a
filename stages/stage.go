package stages

import (
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Stage is one step of a pipeline.
//
// Process handles e and calls next once for every entry that continues down the
// pipeline: not at all to drop it, once to pass it on (changed in place or not),
// several times to split it. Process owns e only until it returns; a stage that
// holds an entry longer keeps e.Clone(). Stages are called from one goroutine at a
// time and need no locks of their own for per-entry state.
type Stage interface {
	Process(e *Entry, next func(*Entry))
}

// Flusher is implemented by stages that hold entries back, waiting for more
// input (multiline blocks, partial CRI lines).
type Flusher interface {
	// Flush emits the held entries that are due at now, or all of them when
	// final is set (the input has ended or the pipeline is stopping).
	Flush(now time.Time, final bool, next func(*Entry))
	// FlushInterval is how often Flush should be called while input is idle.
	FlushInterval() time.Duration
}

// ExtractedReader is implemented by stages that can tell which of the
// extracted values an entry comes with they read. A stage that does not
// implement it is taken to read any. The pipeline copies an entry's labels
// into its extracted values, as Promtail does, only for the names some stage
// reads, unless the pipeline's consumer reads them too (see
// Options.ExtractedUnread).
type ExtractedReader interface {
	// ExtractedKeys returns the extracted keys the stage reads, or all when
	// it may read any.
	ExtractedKeys() (keys []string, all bool)
}

// LabelSetMaker is implemented by stages that never change the label set an
// entry arrives with and never pass it on, even unchanged: every entry they
// pass on gets a label set they made, its own or, under Options.LabelsShared,
// one they share between entries. When a pipeline's first stage makes label
// sets (NewPipeline asks once), the pipeline does not copy each entry's
// labels before it, so that stage is handed the caller's own set: often a
// target's, shared by all its lines and read by other goroutines.
type LabelSetMaker interface {
	// MakesLabelSets reports whether the stage keeps to the above; false is
	// the same as not implementing the interface.
	MakesLabelSets() bool
}

// Config is the decoded body of one pipeline_stages item. NewStage validates it
// and builds the stage; everything that can be computed once (regexes, templates,
// JMESPath expressions) is computed there, never per entry.
type Config interface {
	NewStage(opts Options) (Stage, error)
}

// Options carries what a stage may need from its surroundings.
type Options struct {
	// Logger is never nil once the pipeline builder has seen it.
	Logger *slog.Logger
	// Registerer receives metrics owned by stages (metrics stage, drop counters).
	Registerer prometheus.Registerer
	// JobName is the scrape config the pipeline belongs to.
	JobName string
	// Inspector, when set (-inspect), receives for every entry and stage what
	// the stage changed. Nil costs nothing: stages are then not wrapped.
	Inspector io.Writer
	// ExtractedUnread tells a stage that nothing will read the extracted
	// values it writes: it is the last stage of a pipeline whose consumer
	// ignores them (the agent's top-level pipelines, outside -inspect). A stage
	// whose extraction is costly may then skip it. NewPipeline passes it only
	// to its last stage; a nested pipeline's last stage gets it only when the
	// stage holding the nested pipeline got it.
	ExtractedUnread bool
	// LabelsShared tells a stage that nothing after it changes the labels of
	// the entries it passes on: it is the last stage of a pipeline whose
	// consumer only reads them (the agent's clients and its dry-run printer,
	// outside -inspect). The stage may then give many entries one label set
	// that it keeps, fully built before it first hands it on and never
	// written afterwards (see LabelSetMaker). NewPipeline passes it as it
	// passes ExtractedUnread.
	LabelsShared bool
}
