// Package cputime measures the CPU time of this process: benchmarks report
// work per CPU-second with it (wall time on a shared machine measures the
// neighbours too), and the GOMAXPROCS governor (internal/procs) tells a
// busy agent from a waiting one by it.
package cputime

import "time"

// Supported reports whether Process measures anything on this system.
const Supported = supported

// Process returns the user and system CPU time the process has used so far,
// or 0 where it cannot be measured (see Supported).
func Process() time.Duration { return process() }
