// Package api holds the small interfaces by which targets, pipelines and clients
// hand entries to each other, so that none of them imports another.
package api

import "github.com/promtail-osquery/promtail-osquery/stages"

// EntryHandler receives entries. Handle may block: that is how a slow consumer
// pushes back on the reader instead of the agent buffering without bound. The
// entry's label set is the handler's to read, never to change, and its
// caller must not change it afterwards either (see stages.Entry).
type EntryHandler interface {
	Handle(e stages.Entry)
}

// EntryHandlerFunc adapts a function to EntryHandler.
type EntryHandlerFunc func(e stages.Entry)

// Handle calls f(e).
func (f EntryHandlerFunc) Handle(e stages.Entry) { f(e) }
