// Package cputime measures the CPU time of this process, for benchmarks
// that report work per CPU-second: wall time on a shared machine measures
// the neighbours too.
package cputime

import "time"

// Supported reports whether Process measures anything on this system.
const Supported = supported

// Process returns the user and system CPU time the process has used so far,
// or 0 where it cannot be measured (see Supported).
func Process() time.Duration { return process() }
