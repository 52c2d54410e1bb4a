// Package exepages gives back the pages of the agent's own executable that
// only start-up needed.
//
// Most of a Go binary's resident memory is its own code and read-only data,
// and most of that is touched once: the runtime's start-up walks and some
// four hundred package initialisers (client-go alone registers every
// Kubernetes API type). Those pages stay mapped, so they count in the process's
// resident set for its whole life, and the kernel keeps mapped executable
// pages in memory longer than other page cache. Unmapping them once start-up
// is over leaves them as ordinary page cache the kernel may reclaim; the pages
// the agent still runs are faulted back in from that cache on first use.
package exepages

import "errors"

// ErrUnsupported is returned where the platform offers no way to do it.
var ErrUnsupported = errors.New("releasing executable pages is not supported on this platform")
