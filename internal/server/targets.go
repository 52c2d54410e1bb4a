package server

import "github.com/prometheus/common/model"

// TargetSource is what the server needs from the targets side: readiness for
// /ready and a snapshot of targets for the HTML pages. Implementations must be
// safe for concurrent use; the server never modifies what they return.
type TargetSource interface {
	// Ready reports whether at least one target is reading (for files: at
	// least one file is being tailed).
	Ready() bool
	// ActiveTargets returns the running targets, keyed by job name.
	ActiveTargets() map[string][]TargetStatus
	// DroppedTargets returns the discovered targets that were not started,
	// keyed by job name. The server shows at most 100 per job.
	DroppedTargets() map[string][]DroppedTarget
}

// TargetStatus describes one running target.
type TargetStatus struct {
	// Labels are the target's labels after relabelling.
	Labels model.LabelSet
	// DiscoveredLabels are the labels service discovery produced, before
	// relabelling.
	DiscoveredLabels model.LabelSet
	// Details is free-form per-target state shown on /targets, e.g. for a
	// file target each path mapped to "position/size".
	Details map[string]string
	// Ready reports whether the target is reading.
	Ready bool
}

// DroppedTarget describes one discovered target that is not running.
type DroppedTarget struct {
	// DiscoveredLabels are the labels service discovery produced.
	DiscoveredLabels model.LabelSet
	// Reason says why the target was dropped (e.g. "dropping target, no
	// labels" or the relabel rule that removed it).
	Reason string
}
